// tandem bench: synthesis, WAV files and spectrograms for workload 2.
#include "audio_clip.hpp"

#include <fftw3.h>    // fftw_plan_dft_r2c_1d, fftw_execute
#include <sndfile.h>  // sf_open, sf_writef_float, sf_readf_float

#include <cmath>      // std::sin, std::cos, std::exp, std::log10, std::llround
#include <memory>     // unique_ptr deleters for the FFTW buffers
#include <mutex>      // FFTW's planner is not thread-safe
#include <numbers>    // std::numbers::pi
#include <stdexcept>  // std::runtime_error

namespace tandem::cli {

namespace {

// FFTW plans may be made by one thread at a time; executing them is thread-safe.
std::mutex planner_mutex;

struct FftwFree {
    void operator()(void* memory) const noexcept { fftw_free(memory); }
};

struct SndfileClose {
    void operator()(SNDFILE* file) const noexcept { sf_close(file); }
};

std::unique_ptr<SNDFILE, SndfileClose> open_sound(const std::string& path, int mode, SF_INFO& info) {
    std::unique_ptr<SNDFILE, SndfileClose> file(sf_open(path.c_str(), mode, &info));
    if (!file) throw std::runtime_error("libsndfile: " + path + ": " + sf_strerror(nullptr));
    return file;
}

}  // namespace

std::vector<float> synthesize_clip(std::size_t index, const ClipFormat& format, const OptionalGil& gil) {
    const auto count = static_cast<std::size_t>(format.seconds * format.sample_rate);
    const double first = 110.0 * static_cast<double>(1 + index % 7);
    const double second = first * 1.5;
    const double step = 2 * std::numbers::pi / format.sample_rate;
    std::uint32_t noise = static_cast<std::uint32_t>(index * 7919 + 1);
    std::vector<float> samples(count);
    for (std::size_t t = 0; t < count; ++t) {
        if (t % 256 == 0) gil.tick();
        noise = (noise * 1103515245u + 12345u) & 0x7fffffffu;
        const double time = static_cast<double>(t);
        const double value = 0.5 * std::sin(step * first * time) +
                             0.25 * std::sin(step * second * time) * std::exp(-3.0 * time / static_cast<double>(count)) +
                             0.05 * (static_cast<double>(noise) / 2147483648.0 - 0.5);
        samples[t] = static_cast<float>(value);
    }
    return samples;
}

void write_wav(const std::string& path, const std::vector<float>& samples, int sample_rate) {
    SF_INFO info{};
    info.samplerate = sample_rate;
    info.channels = 1;
    info.format = SF_FORMAT_WAV | SF_FORMAT_PCM_16;
    auto file = open_sound(path, SFM_WRITE, info);
    const auto frames = static_cast<sf_count_t>(samples.size());
    if (sf_writef_float(file.get(), samples.data(), frames) != frames)
        throw std::runtime_error("libsndfile: cannot write " + path + ": " + sf_strerror(file.get()));
}

std::vector<float> read_wav(const std::string& path) {
    SF_INFO info{};
    auto file = open_sound(path, SFM_READ, info);
    if (info.channels != 1) throw std::runtime_error(path + ": expected one channel");
    std::vector<float> samples(static_cast<std::size_t>(info.frames));
    if (sf_readf_float(file.get(), samples.data(), info.frames) != info.frames)
        throw std::runtime_error("libsndfile: cannot read " + path + ": " + sf_strerror(file.get()));
    return samples;
}

std::uint64_t spectrogram_checksum(const std::vector<float>& samples, const ClipFormat& format,
                                   const OptionalGil& gil) {
    const std::size_t n = format.frame;
    const std::size_t bins = n / 2 + 1;
    std::unique_ptr<double, FftwFree> in(static_cast<double*>(fftw_malloc(sizeof(double) * n)));
    std::unique_ptr<fftw_complex, FftwFree> out(static_cast<fftw_complex*>(fftw_malloc(sizeof(fftw_complex) * bins)));
    if (!in || !out) throw std::bad_alloc();
    fftw_plan plan;
    {
        std::lock_guard lock(planner_mutex);
        plan = fftw_plan_dft_r2c_1d(static_cast<int>(n), in.get(), out.get(), FFTW_ESTIMATE);
    }
    std::vector<double> window(n);
    for (std::size_t i = 0; i < n; ++i)
        window[i] = 0.5 - 0.5 * std::cos(2 * std::numbers::pi * static_cast<double>(i) / static_cast<double>(n));
    std::int64_t sum = 0;
    for (std::size_t start = 0; start + n <= samples.size(); start += format.hop) {
        gil.tick();
        for (std::size_t i = 0; i < n; ++i) in.get()[i] = samples[start + i] * window[i];
        fftw_execute(plan);
        for (std::size_t k = 0; k < bins; ++k) {
            const double re = out.get()[k][0];
            const double im = out.get()[k][1];
            sum += std::llround(std::log10(re * re + im * im + 1e-10) * 1000);
        }
    }
    {
        std::lock_guard lock(planner_mutex);
        fftw_destroy_plan(plan);
    }
    return static_cast<std::uint64_t>(sum);
}

std::uint64_t preprocess_clip(const std::string& folder, std::size_t index, const ClipFormat& format,
                              const OptionalGil& gil) {
    const std::string path = folder + "/clip_" + std::to_string(index) + ".wav";
    // All of it under the GIL, as the Python side runs it: its WAV encoding
    // and decoding are Python code (the wave module and array conversions),
    // and its FFT too. (A C extension such as soundfile would release the GIL
    // around the file's encoding; the Python side has none.)
    const std::vector<float> clip = synthesize_clip(index, format, gil);
    write_wav(path, clip, format.sample_rate);
    gil.tick();
    const std::vector<float> loaded = read_wav(path);
    gil.tick();
    return spectrogram_checksum(loaded, format, gil);
}

}  // namespace tandem::cli
