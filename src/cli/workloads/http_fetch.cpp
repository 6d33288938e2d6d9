// tandem bench, workload 3 — I/O-bound, network access: GET pages from a
// local HTTP server that answers each after a fixed latency, one request per
// task, a checksum of each body. The lecture's first use case for threads.
#include <fmt/core.h>  // fmt::format

#include "http_server.hpp"  // LocalServer, http_get
#include "kernels.hpp"      // adler32
#include "task_modes.hpp"   // run_task_modes, run_python_modes

namespace tandem::cli {

namespace {

struct Sizes {
    std::size_t requests;
    std::chrono::milliseconds latency;
    std::size_t page_size;
    int repetitions;
};

constexpr Sizes kQuick{48, std::chrono::milliseconds(10), 32 * 1024, 3};
constexpr Sizes kFull{160, std::chrono::milliseconds(20), 64 * 1024, 5};

// Threads and processes: I/O-bound work is run with as many workers as a
// program fetching URLs would use, not one per CPU.
constexpr std::size_t kWorkers = 16;

std::uint64_t body_checksum(const std::string& body) {
    return adler32({reinterpret_cast<const unsigned char*>(body.data()), body.size()});
}

// A process pool task: GET page `n` from the server at `port`.
std::uint64_t fetch_task(int port, std::size_t n) { return body_checksum(http_get(port, n)); }

WorkloadResult run(const BenchContext& context) {
    const Sizes& sizes = context.quick() ? kQuick : kFull;
    WorkloadResult result{.name = "http_fetch", .kind = WorkloadKind::io,
                          .title = "I/O-bound, network access (the lecture: use threads)"};
    const LocalServer server(sizes.latency, sizes.page_size);
    result.work = fmt::format(
        "{} GETs of {} KiB pages from a local HTTP server (cpp-httplib, 127.0.0.1:{}) that answers each after {} ms "
        "as a remote server would, a new connection each, Adler-32 of each body; {} workers",
        sizes.requests, sizes.page_size / 1024, server.port(), sizes.latency.count(), kWorkers);
    const int port = server.port();

    const std::uint64_t serial = run_task_modes(
        context, result, {.tasks = sizes.requests, .workers = kWorkers, .repetitions = sizes.repetitions},
        [port](std::size_t i, const OptionalGil& gil) {
            // urllib releases the GIL while it waits on the socket, and zlib
            // while it sums a large buffer.
            const std::string body = gil.release_around([&] { return http_get(port, i); });
            return gil.release_around([&] { return body_checksum(body); });
        },
        [port](ProcessPoolExecutor& pool, std::size_t i) { return pool.submit(&fetch_task, port, i); });

    const auto python = run_python_modes(context, result,
                                         {{"port", port}, {"requests", sizes.requests},
                                          {"repetitions", sizes.repetitions}, {"workers", kWorkers}});
    if (python) expect_same_work(result.name, "python", serial, *python);
    return result;
}

}  // namespace

extern const Workload kHttpFetch{"http_fetch", WorkloadKind::io, kQuick.repetitions, kFull.repetitions, &run};

}  // namespace tandem::cli
