// tandem bench, workload 7 — "Don't be blocked by slow tasks" (GUI): a UI loop
// ticks every few milliseconds (each tick redraws: a little real work) while
// slow work runs — inline in the loop, in a worker thread, in a worker thread
// under the emulated GIL, in a worker process. How late does a tick run?
#include <fmt/core.h>  // fmt::format

#include <atomic>  // the worker's stop flag
#include <thread>  // sleep_until: the loop's timer

#include "kernels.hpp"                  // count_primes, adler32
#include "tandem/threading/thread.hpp"  // threading::Thread
#include "task_modes.hpp"               // pools, InterpreterLock, run_python_modes
#include "tick_stats.hpp"               // TickStats

namespace tandem::cli {

namespace {

struct Sizes {
    std::chrono::milliseconds period;
    std::chrono::milliseconds duration;  // per mode
    std::uint64_t slow_length;           // numbers per slow task (C++): ~50 ms
    std::uint64_t python_slow_length;    // the same in Python
};

constexpr Sizes kQuick{std::chrono::milliseconds(10), std::chrono::milliseconds(600), 400'000, 12'000};
constexpr Sizes kFull{std::chrono::milliseconds(10), std::chrono::milliseconds(3000), 400'000, 12'000};
constexpr std::uint64_t kFirst = 1'000'000;

// Slow task `index`: the primes in a range of `length` numbers (one of 16,
// in turn, so that no two tasks in a row compute the same thing).
std::uint64_t range_start(std::uint64_t index, std::uint64_t length) { return kFirst + index % 16 * length; }
std::uint64_t slow_task(std::uint64_t index, std::uint64_t length) {
    return count_primes(range_start(index, length), range_start(index, length) + length);
}

// A tick's work: "redraw" 16 KiB.
std::uint32_t redraw() {
    static const std::vector<unsigned char> frame(16 * 1024, 7);
    return adler32(frame);
}

// Ticks every `period` for `duration`: at each tick `handle()` runs the
// handler and returns when it started (the tick's delay counts from its due
// time to then), then `after()` runs. A tick that falls due while the loop is
// busy runs as soon as the loop is free, late; the ones that fell due while
// that late tick waited are coalesced into it (a GUI redraws once, not once
// per missed frame) and count as missed.
template <class Handle, class After>
TickStats ui_loop(const Sizes& sizes, Handle&& handle, After&& after) {
    TickStats stats;
    const auto start = Clock::now();
    const auto end = start + sizes.duration;
    auto due = start + sizes.period;
    const double period = std::chrono::duration<double>(sizes.period).count();
    while (due <= end) {
        check_interrupt();
        std::this_thread::sleep_until(due);
        const auto started = handle();
        const double delay = std::chrono::duration<double>(started - due).count();
        stats.delays.push_back(delay);
        ++stats.ticks;
        if (delay > period) ++stats.missed;
        after();
        for (due += sizes.period; due <= started && due <= end; due += sizes.period) {
            ++stats.ticks;
            ++stats.missed;
        }
    }
    return stats;
}

// Raises `flag` when it goes out of scope, so that a worker watching it ends
// before its Thread's destructor joins it, also when the loop throws
// (Interrupted).
struct RaiseOnExit {
    std::atomic<bool>& flag;
    ~RaiseOnExit() { flag = true; }
};

Clock::time_point plain_handler() {
    const auto started = Clock::now();
    keep_result(redraw());
    return started;
}

WorkloadResult run(const BenchContext& context) {
    const Sizes& sizes = context.quick() ? kQuick : kFull;
    const double period = std::chrono::duration<double>(sizes.period).count();
    WorkloadResult result{.name = "ui_responsiveness", .kind = WorkloadKind::latency,
                          .title = "\"Don't be blocked by slow tasks\": a responsive loop (the lecture: GUI, use threads)"};
    result.work = fmt::format(
        "a UI loop ticks every {} ms for {} ms (each tick redraws: Adler-32 of 16 KiB) while slow tasks run (the "
        "primes among {} numbers, ~50 ms each): inline between ticks, in a worker thread, in a worker thread "
        "under the emulated GIL (the tick handler takes the GIL too), in a worker process",
        sizes.period.count(), sizes.duration.count(), sizes.slow_length);

    // Inline: each tick is followed by a slow task, so the next tick waits for it.
    std::uint64_t task = 0;
    result.modes.push_back(
        ui_loop(sizes, plain_handler, [&] { keep_result(slow_task(task++, sizes.slow_length)); })
            .to_mode("inline", 1, period));
    context.step("worker thread");

    {
        std::atomic<bool> stop{false};
        threading::Thread worker([&stop, &sizes] {
            for (std::uint64_t i = 0; !stop.load(std::memory_order_relaxed); ++i)
                keep_result(slow_task(i, sizes.slow_length));
        });
        worker.start();
        TickStats stats;
        {
            const RaiseOnExit stopper{stop};
            stats = ui_loop(sizes, plain_handler, [] {});
        }
        worker.join();
        result.modes.push_back(stats.to_mode("thread", 1, period));
    }
    context.step("worker thread under the GIL");

    {
        InterpreterLock gil;
        std::atomic<bool> stop{false};
        threading::Thread worker([&] {
            InterpreterLock::Holder held(gil);
            for (std::uint64_t i = 0; !stop.load(std::memory_order_relaxed); ++i) {
                const std::uint64_t low = range_start(i, sizes.slow_length);
                keep_result(count_primes(low, low + sizes.slow_length, [&gil] { gil.checkpoint(); }));
            }
        });
        worker.start();
        TickStats stats;
        {
            const RaiseOnExit stopper{stop};
            stats = ui_loop(sizes, [&gil] {
                InterpreterLock::Holder held(gil);  // the handler is Python code
                return plain_handler();
            }, [] {});
        }
        worker.join();
        result.modes.push_back(stats.to_mode("thread_gil", 1, period));
    }
    context.step("worker process");

    {
        ProcessPoolExecutor pool(1);
        pool.submit(&warm_up).result();
        std::optional<Future<std::uint64_t>> running;
        // The loop polls the running task and hands the worker the next one.
        const TickStats stats = ui_loop(sizes, plain_handler, [&] {
            if (running && !running->done()) return;
            if (running) keep_result(running->result());
            running = pool.submit(&slow_task, task++, sizes.slow_length);
        });
        if (running) keep_result(running->result());
        result.modes.push_back(stats.to_mode("process", 1, period));
    }
    context.step("Python");

    run_python_modes(context, result,
                     {{"period_ms", sizes.period.count()}, {"duration_ms", sizes.duration.count()},
                      {"first", kFirst}, {"slow_length", sizes.python_slow_length}});
    return result;
}

}  // namespace

extern const Workload kUiResponsiveness{"ui_responsiveness", WorkloadKind::latency, 4, 4, &run};

}  // namespace tandem::cli
