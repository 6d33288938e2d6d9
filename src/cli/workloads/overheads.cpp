// tandem bench, workload 5 — overheads: what starting and joining a thread or
// a process costs (under each start method), and what a task's round trip
// costs on a running thread pool and process pool. The lecture: processes
// have "significant overhead to manage", threads an overhead too.
#include <fmt/core.h>  // fmt::format

#include <stdexcept>  // std::runtime_error

#include "tandem/multiprocessing/process.hpp"  // Process, StartMethod
#include "tandem/threading/thread.hpp"         // threading::Thread
#include "task_modes.hpp"                      // pools, run_python_modes, warm_up

namespace tandem::cli {

namespace {

struct Sizes {
    int thread_starts;
    int fork_starts;
    int forkserver_starts;
    int spawn_starts;
    int batches;           // round trips are timed in batches: one sample per batch
    int thread_batch;      // round trips per batch, thread pool
    int process_batch;     // round trips per batch, process pool
    int python_scale;      // Python does this many times fewer of each (its operations are slower)
};

constexpr Sizes kQuick{200, 40, 40, 10, 20, 100, 50, 4};
constexpr Sizes kFull{1000, 200, 200, 50, 50, 200, 100, 4};

void nothing() {}
int noop() { return 0; }

// Times `operation` `count` times, one sample each; the mode's seconds are
// the median per operation.
template <class Operation>
ModeResult time_each(std::string mode, int count, Operation&& operation) {
    ModeResult result{.mode = std::move(mode), .workers = 1};
    for (int i = 0; i < count; ++i) {
        if (i % 8 == 0) check_interrupt();
        const auto start = Clock::now();
        operation();
        result.samples.push_back(seconds_since(start));
    }
    result.seconds = median(result.samples);
    result.set_figure("operations", count);
    return result;
}

// Times `batches` batches of `per_batch` round trips; one per-operation sample per batch.
template <class RoundTrip>
ModeResult time_batches(std::string mode, int batches, int per_batch, RoundTrip&& round_trip) {
    ModeResult result{.mode = std::move(mode), .workers = 1};
    for (int b = 0; b < batches; ++b) {
        check_interrupt();
        const auto start = Clock::now();
        for (int i = 0; i < per_batch; ++i) round_trip();
        result.samples.push_back(seconds_since(start) / per_batch);
    }
    result.seconds = median(result.samples);
    result.set_figure("operations", batches * per_batch);
    return result;
}

ModeResult process_starts(multiprocessing::StartMethod method, int count) {
    const auto start_and_join = [method] {
        multiprocessing::Process process({.start_method = method}, &nothing);
        process.start();
        process.join();
        if (process.exitcode() != 0) throw std::runtime_error("a child process of the overheads workload failed");
    };
    start_and_join();  // the forkserver starts with its first child: not part of a child's cost
    return time_each("process_start_" + std::string(multiprocessing::start_method_name(method)), count, start_and_join);
}

WorkloadResult run(const BenchContext& context) {
    const Sizes& sizes = context.quick() ? kQuick : kFull;
    WorkloadResult result{.name = "overheads", .kind = WorkloadKind::overhead,
                          .title = "Overheads of managing threads and processes (the lecture: processes cost more)"};
    result.work = fmt::format(
        "start + join of a thread (x{}) and of a process doing nothing under fork (x{}), forkserver (x{}) and "
        "spawn (x{}); submit + result of an empty task on a running one-worker thread pool and process pool "
        "({} batches of {} and {})",
        sizes.thread_starts, sizes.fork_starts, sizes.forkserver_starts, sizes.spawn_starts, sizes.batches,
        sizes.thread_batch, sizes.process_batch);

    result.modes.push_back(time_each("thread_start", sizes.thread_starts, [] {
        threading::Thread thread(&nothing);
        thread.start();
        thread.join();
    }));
    context.step("process start, fork");
    using multiprocessing::StartMethod;
    result.modes.push_back(process_starts(StartMethod::fork, sizes.fork_starts));
    context.step("process start, forkserver");
    result.modes.push_back(process_starts(StartMethod::forkserver, sizes.forkserver_starts));
    context.step("process start, spawn");
    result.modes.push_back(process_starts(StartMethod::spawn, sizes.spawn_starts));
    context.step("thread pool round trip");
    {
        ThreadPoolExecutor pool(1);
        pool.submit(&noop).result();
        result.modes.push_back(time_batches("thread_pool_round_trip", sizes.batches, sizes.thread_batch,
                                            [&pool] { pool.submit(&noop).result(); }));
    }
    context.step("process pool round trip");
    {
        ProcessPoolExecutor pool(1);
        pool.submit(&warm_up).result();
        result.modes.push_back(time_batches("process_pool_round_trip", sizes.batches, sizes.process_batch,
                                            [&pool] { pool.submit(&noop).result(); }));
    }
    context.step("Python");

    const int scale = sizes.python_scale;
    run_python_modes(context, result,
                     {{"thread_starts", sizes.thread_starts / scale},
                      {"fork_starts", sizes.fork_starts / scale},
                      {"forkserver_starts", sizes.forkserver_starts / scale},
                      {"spawn_starts", std::max(2, sizes.spawn_starts / scale)},
                      {"batches", sizes.batches / scale},
                      {"thread_batch", sizes.thread_batch},
                      {"process_batch", sizes.process_batch}});
    return result;
}

}  // namespace

extern const Workload kOverheads{"overheads", WorkloadKind::overhead, 6, 6, &run};

}  // namespace tandem::cli
