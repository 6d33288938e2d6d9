// tandem bench, workload 4 — I/O-bound, files and waits: each task reads one
// file of a folder (read(2) in 64 KiB pieces) and sums it, then blocks for a
// fixed time, as a program waiting on a device or another program does.
// The lecture's "I/O" use case for threads.
#include <fcntl.h>   // open
#include <unistd.h>  // read, write, close

#include <fmt/core.h>  // fmt::format

#include <stdexcept>  // std::runtime_error
#include <thread>     // std::this_thread::sleep_for: the blocking wait

#include "../temp_dir.hpp"  // TempDir: the files' folder
#include "kernels.hpp"      // adler32
#include "task_modes.hpp"   // run_task_modes, run_python_modes

namespace tandem::cli {

namespace {

struct Sizes {
    std::size_t files;
    std::size_t file_size;
    std::chrono::milliseconds wait;
    int repetitions;
};

constexpr Sizes kQuick{64, 256 * 1024, std::chrono::milliseconds(5), 3};
constexpr Sizes kFull{256, 1024 * 1024, std::chrono::milliseconds(10), 5};

constexpr std::size_t kWorkers = 16;  // as many as an I/O-bound program would use
constexpr std::size_t kChunk = 64 * 1024;

std::string file_path(const std::string& folder, std::size_t i) { return folder + "/file_" + std::to_string(i); }

// The content of file `i`: deterministic, different per file.
void write_file(const std::string& path, std::size_t i, std::size_t size) {
    std::string content(size, '\0');
    std::uint32_t state = static_cast<std::uint32_t>(i * 2246822519u + 7);
    for (char& c : content) {
        state = state * 1664525u + 1013904223u;
        c = static_cast<char>(state >> 24);
    }
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) throw std::runtime_error("cannot create " + path);
    const bool complete = ::write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size());
    ::close(fd);
    if (!complete) throw std::runtime_error("cannot write " + path);
}

// Reads file `path` in pieces; the Adler-32 of its content.
std::uint32_t read_and_sum(const std::string& path, const OptionalGil& gil) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw std::runtime_error("cannot open " + path);
    std::vector<unsigned char> buffer(kChunk);
    std::uint32_t sum = 1;
    for (;;) {
        // read() and zlib.adler32 on a large buffer both release the GIL in CPython.
        const ssize_t got = gil.release_around([&] { return ::read(fd, buffer.data(), buffer.size()); });
        if (got <= 0) break;
        sum = gil.release_around([&] { return adler32({buffer.data(), static_cast<std::size_t>(got)}, sum); });
    }
    ::close(fd);
    return sum;
}

std::uint64_t file_task(const std::string& folder, std::size_t i, std::chrono::milliseconds wait,
                        const OptionalGil& gil) {
    const std::uint32_t sum = read_and_sum(file_path(folder, i), gil);
    gil.release_around([&] { std::this_thread::sleep_for(wait); });  // time.sleep releases the GIL
    return sum;
}

// A process pool task: file `i` of `folder`, then the wait.
std::uint64_t file_process_task(std::string folder, std::size_t i, std::int64_t wait_ms) {
    return file_task(folder, i, std::chrono::milliseconds(wait_ms), OptionalGil());
}

WorkloadResult run(const BenchContext& context) {
    const Sizes& sizes = context.quick() ? kQuick : kFull;
    WorkloadResult result{.name = "files_waits", .kind = WorkloadKind::io,
                          .title = "I/O-bound, files and blocking waits (the lecture: use threads)"};
    result.work = fmt::format(
        "{} files of {} KiB: read each (64 KiB reads), Adler-32 it, then a blocking wait of {} ms (a device or "
        "another program answering), one file per task; {} workers",
        sizes.files, sizes.file_size / 1024, sizes.wait.count(), kWorkers);
    const TempDir folder("files");
    const std::string path = folder.path().string();
    for (std::size_t i = 0; i < sizes.files; ++i) write_file(file_path(path, i), i, sizes.file_size);

    const std::uint64_t serial = run_task_modes(
        context, result, {.tasks = sizes.files, .workers = kWorkers, .repetitions = sizes.repetitions},
        [&](std::size_t i, const OptionalGil& gil) { return file_task(path, i, sizes.wait, gil); },
        [&](ProcessPoolExecutor& pool, std::size_t i) {
            return pool.submit(&file_process_task, path, i, static_cast<std::int64_t>(sizes.wait.count()));
        });

    // Python reads the same files.
    const auto python = run_python_modes(context, result,
                                         {{"folder", path}, {"files", sizes.files}, {"wait_ms", sizes.wait.count()},
                                          {"repetitions", sizes.repetitions}, {"workers", kWorkers}});
    if (python) expect_same_work(result.name, "python", serial, *python);
    return result;
}

}  // namespace

extern const Workload kFilesWaits{"files_waits", WorkloadKind::io, kQuick.repetitions, kFull.repetitions, &run};

}  // namespace tandem::cli
