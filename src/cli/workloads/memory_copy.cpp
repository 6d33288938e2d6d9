// tandem bench, workload 6 — "Entire memory copied in each subprocess": a
// parent holding a large heap starts workers that read all of it, under each
// start method, and each worker reports its own memory (smaps_rollup). fork
// shares the heap copy-on-write; forkserver and spawn start a fresh program,
// so the heap has to be sent, which copies it. A thread shares it outright.
#include <fmt/core.h>  // fmt::format

#include <numeric>    // std::accumulate
#include <stdexcept>  // std::runtime_error

#include "memory_use.hpp"                         // memory_use, MemoryUse
#include "tandem/multiprocessing/connection.hpp"  // Pipe, Connection
#include "tandem/multiprocessing/process.hpp"     // Process, ForkProcess
#include "tandem/threading/thread.hpp"            // threading::Thread
#include "task_modes.hpp"                         // run_python_modes

namespace tandem::cli {

namespace {

struct Sizes {
    std::size_t heap_mib;
    std::size_t python_floats;  // a list of this many floats: about heap_mib in CPython
};

constexpr Sizes kQuick{64, 2'000'000};
constexpr Sizes kFull{256, 8'000'000};

// What a worker sends back: travels as its bytes.
struct WorkerReport {
    MemoryUse use;
    std::uint64_t checksum = 0;
};

std::uint64_t sum_of(const std::vector<std::uint8_t>& heap) {
    return std::accumulate(heap.begin(), heap.end(), std::uint64_t{0});
}

// The worker under forkserver and spawn: the heap arrives through the pipe
// (a Process argument would do the same, holding one more copy while the
// call is decoded).
void copy_worker(multiprocessing::Connection channel) {
    const auto heap = channel.recv<std::vector<std::uint8_t>>();
    WorkerReport report;
    report.checksum = sum_of(heap);
    report.use = memory_use();
    channel.send(report);
}

ModeResult average(std::string mode, const std::vector<WorkerReport>& reports, const std::vector<double>& seconds,
                   double heap_mib) {
    ModeResult result{.mode = std::move(mode), .workers = reports.size(), .samples = seconds};
    result.seconds = median(seconds);
    MemoryUse mean;
    for (const WorkerReport& report : reports) {
        mean.rss_mib += report.use.rss_mib / static_cast<double>(reports.size());
        mean.pss_mib += report.use.pss_mib / static_cast<double>(reports.size());
        mean.private_mib += report.use.private_mib / static_cast<double>(reports.size());
        mean.shared_mib += report.use.shared_mib / static_cast<double>(reports.size());
    }
    result.set_figure("heap_mib", heap_mib);
    result.set_figure("rss_mib", mean.rss_mib);
    result.set_figure("pss_mib", mean.pss_mib);
    result.set_figure("private_mib", mean.private_mib);
    result.set_figure("shared_mib", mean.shared_mib);
    return result;
}

// Starts `workers` workers under `method` at once; each reads the heap and
// reports. Throws if one fails or computes another sum.
ModeResult run_method(multiprocessing::StartMethod method, std::size_t workers, const std::vector<std::uint8_t>& heap,
                      std::uint64_t expected, double heap_mib) {
    struct Running {
        multiprocessing::Connection results;
        multiprocessing::Process process;
        Clock::time_point start;
    };
    std::vector<Running> running;
    for (std::size_t i = 0; i < workers; ++i) {
        auto [parent_end, child_end] = multiprocessing::Pipe();
        const auto start = Clock::now();
        if (method == multiprocessing::StartMethod::fork) {
            // The heap is inherited: the worker reads the parent's pages.
            multiprocessing::ForkProcess process([&heap, &child_end] {
                WorkerReport report;
                report.checksum = sum_of(heap);
                report.use = memory_use();
                child_end.send(report);
            });
            process.start();
            running.push_back({std::move(parent_end), std::move(process), start});
        } else {
            multiprocessing::Process process({.start_method = method}, &copy_worker, std::move(child_end));
            process.start();
            parent_end.send(heap);
            running.push_back({std::move(parent_end), std::move(process), start});
        }
    }
    std::vector<WorkerReport> reports;
    std::vector<double> seconds;
    for (Running& worker : running) {
        while (!worker.results.poll(std::chrono::milliseconds(100))) {
            check_interrupt();
            if (!worker.process.is_alive() && !worker.results.poll()) throw std::runtime_error("a memory worker died");
        }
        reports.push_back(worker.results.recv<WorkerReport>());
        seconds.push_back(seconds_since(worker.start));
        worker.process.join();
        if (reports.back().checksum != expected) throw std::logic_error("a memory worker read another heap (a bug)");
    }
    return average(std::string(multiprocessing::start_method_name(method)), reports, seconds, heap_mib);
}

WorkloadResult run(const BenchContext& context) {
    const Sizes& sizes = context.quick() ? kQuick : kFull;
    WorkloadResult result{.name = "memory_copy", .kind = WorkloadKind::memory,
                          .title = "\"Entire memory copied in each subprocess\" (the lecture's cost of processes)"};
    const std::size_t workers = context.jobs;
    result.work = fmt::format(
        "the parent holds a {} MiB heap; {} workers per start method each sum all of it and report their memory "
        "(smaps_rollup): fork inherits the heap, forkserver and spawn receive it through a Pipe; a thread reads it "
        "in place",
        sizes.heap_mib, workers);
    std::vector<std::uint8_t> heap(sizes.heap_mib << 20);
    for (std::size_t i = 0; i < heap.size(); ++i) heap[i] = static_cast<std::uint8_t>(i * 31);
    const std::uint64_t expected = sum_of(heap);
    const auto heap_mib = static_cast<double>(sizes.heap_mib);

    {
        const MemoryUse before = memory_use();
        std::uint64_t sum = 0;
        const auto start = Clock::now();
        threading::Thread reader([&heap, &sum] { sum = sum_of(heap); });
        reader.start();
        reader.join();
        const double seconds = seconds_since(start);
        const MemoryUse after = memory_use();
        if (sum != expected) throw std::logic_error("the memory thread read another heap (a bug)");
        ModeResult thread{.mode = "threads", .workers = 1, .seconds = seconds, .samples = {seconds}};
        thread.set_figure("heap_mib", heap_mib);
        thread.set_figure("rss_mib", std::max(0.0, after.rss_mib - before.rss_mib));
        thread.set_figure("pss_mib", std::max(0.0, after.pss_mib - before.pss_mib));
        thread.set_figure("private_mib", std::max(0.0, after.private_mib - before.private_mib));
        result.modes.push_back(std::move(thread));
    }
    context.step("fork");
    using multiprocessing::StartMethod;
    result.modes.push_back(run_method(StartMethod::fork, workers, heap, expected, heap_mib));
    context.step("forkserver");
    result.modes.push_back(run_method(StartMethod::forkserver, workers, heap, expected, heap_mib));
    context.step("spawn");
    result.modes.push_back(run_method(StartMethod::spawn, workers, heap, expected, heap_mib));
    context.step("Python");

    run_python_modes(context, result, {{"floats", sizes.python_floats}, {"workers", workers}});
    return result;
}

}  // namespace

extern const Workload kMemoryCopy{"memory_copy", WorkloadKind::memory, 4, 4, &run};

}  // namespace tandem::cli
