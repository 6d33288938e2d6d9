// tandem bench, workload 2 — CPU-bound, data preprocessing: synthesise audio
// clips, write them as WAV files to a temporary folder, load them and compute
// log-magnitude spectrograms, one clip per task. The lecture's second use
// case for processes.
#include <fmt/core.h>  // fmt::format

#include "../temp_dir.hpp"  // TempDir: the WAV files' folder
#include "audio_clip.hpp"   // preprocess_clip
#include "task_modes.hpp"   // run_task_modes, run_python_modes

namespace tandem::cli {

namespace {

struct Sizes {
    std::size_t clips;
    double seconds;         // per clip (C++)
    std::size_t python_clips;
    double python_seconds;  // per clip (Python: its FFT is pure Python, ~100x slower)
    int repetitions;
};

constexpr Sizes kQuick{48, 4.0, 12, 0.25, 3};
constexpr Sizes kFull{96, 8.0, 24, 0.5, 5};

// A process pool task: clip `index` of `seconds` in `folder`.
std::uint64_t preprocess_task(std::string folder, std::size_t index, double seconds) {
    return preprocess_clip(folder, index, {.seconds = seconds}, OptionalGil());
}

WorkloadResult run(const BenchContext& context) {
    const Sizes& sizes = context.quick() ? kQuick : kFull;
    const ClipFormat format{.seconds = sizes.seconds};
    WorkloadResult result{.name = "audio_preprocess", .kind = WorkloadKind::cpu,
                          .title = "CPU-bound, data preprocessing (the lecture: use processes)"};
    result.work = fmt::format(
        "{} clips of {} s at {} Hz: synthesise, write as 16-bit WAV (libsndfile), read back, log-magnitude "
        "spectrogram ({}-point FFT every {} samples, FFTW), one clip per task",
        sizes.clips, sizes.seconds, format.sample_rate, format.frame, format.hop);
    const TempDir folder("audio");
    const std::string path = folder.path().string();

    run_task_modes(
        context, result, {.tasks = sizes.clips, .workers = context.jobs, .repetitions = sizes.repetitions},
        [&](std::size_t i, const OptionalGil& gil) { return preprocess_clip(path, i, format, gil); },
        [&](ProcessPoolExecutor& pool, std::size_t i) { return pool.submit(&preprocess_task, path, i, sizes.seconds); });

    run_python_modes(context, result,
                     {{"clips", sizes.python_clips}, {"seconds", sizes.python_seconds},
                      {"sample_rate", format.sample_rate}, {"frame", format.frame}, {"hop", format.hop},
                      {"repetitions", sizes.repetitions}, {"workers", context.jobs}});
    return result;
}

}  // namespace

extern const Workload kAudioPreprocess{"audio_preprocess", WorkloadKind::cpu, kQuick.repetitions, kFull.repetitions, &run};

}  // namespace tandem::cli
