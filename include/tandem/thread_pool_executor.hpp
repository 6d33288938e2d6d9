// tandem/thread_pool_executor.hpp — concurrent.futures.ThreadPoolExecutor.
//
// Runs callables on a pool of threads and returns a Future for each. It is the
// lecture's tool for I/O-bound work (network, files, waiting); without a GIL it
// also runs CPU-bound C++ in parallel.
//
//     tandem::ThreadPoolExecutor pool({.max_workers = 8, .thread_name_prefix = "io"});
//     tandem::Future<std::string> page = pool.submit(fetch, "http://localhost:8080/");
//     for (int square : pool.map([](int x) { return x * x; }, inputs, {.chunksize = 256}))
//         use(square);
//     pool.shutdown();   // also done by the destructor: waits for queued work
//
// Beyond Python: a task may wait on another task's future of the same pool —
// `result()` inside a task runs other queued tasks while it waits — so
// recursive divide-and-conquer works even with one worker, where Python
// deadlocks. The scheduler is work-stealing (see detail/thread_pool/scheduler.hpp):
// submitting and completing a task costs well under a microsecond, an idle pool
// sleeps, and map() reads its input lazily with a bounded number of chunks in
// flight.
//
// Do not destroy an executor from inside one of its own tasks.
#pragma once

#include <algorithm>    // std::min
#include <cstddef>      // std::size_t
#include <functional>   // std::function, std::invoke
#include <memory>       // the scheduler
#include <optional>     // max_workers default
#include <ranges>       // map() inputs
#include <string>       // thread name prefix
#include <type_traits>  // result types
#include <utility>      // std::forward

#include "tandem/detail/future/map_results.hpp"
#include "tandem/detail/thread_pool/task.hpp"
#include "tandem/detail/thread_pool/scheduler.hpp"
#include "tandem/future.hpp"

namespace tandem {

/// Options of ThreadPoolExecutor (Python's constructor arguments).
struct ThreadPoolOptions {
    /// Threads at most; unset: min(32, usable cores + 4), as Python 3.13.
    /// Zero is a ValueError.
    std::optional<std::size_t> max_workers;
    /// Thread names are "<prefix>_<n>"; unset: "ThreadPoolExecutor-<k>".
    std::string thread_name_prefix;
    /// Runs at the start of each worker thread. If it throws, the pool breaks:
    /// queued and later submissions fail with BrokenThreadPool.
    std::function<void()> initializer;
};

namespace detail {
/// min(32, usable cores + 4): Python's default.
std::size_t default_thread_pool_workers();
/// "ThreadPoolExecutor-<k>", k counting pools in this process.
std::string default_thread_pool_prefix();
}  // namespace detail

class ThreadPoolExecutor {
public:
    /// A pool with Python's defaults.
    ThreadPoolExecutor() : ThreadPoolExecutor(ThreadPoolOptions{}) {}
    /// A pool of at most `max_workers` threads (ValueError if 0).
    explicit ThreadPoolExecutor(std::size_t max_workers) : ThreadPoolExecutor(with_max_workers(max_workers)) {}
    explicit ThreadPoolExecutor(ThreadPoolOptions options) {
        if (options.max_workers && *options.max_workers == 0) throw ValueError("max_workers must be greater than 0");
        scheduler_ = std::make_unique<detail::ThreadPoolScheduler>(
            options.max_workers.value_or(detail::default_thread_pool_workers()),
            options.thread_name_prefix.empty() ? detail::default_thread_pool_prefix() : options.thread_name_prefix,
            std::move(options.initializer));
    }
    ThreadPoolExecutor(ThreadPoolExecutor&&) noexcept = default;
    ThreadPoolExecutor& operator=(ThreadPoolExecutor&&) = delete;
    /// shutdown(wait = true).
    ~ThreadPoolExecutor() = default;

    /// Schedules `fn(args...)` and returns its Future. Arguments are copied or
    /// moved into the task. Throws RuntimeError after shutdown(),
    /// BrokenThreadPool once an initializer failed.
    template <class Fn, class... Args>
    auto submit(Fn&& fn, Args&&... args) -> Future<std::invoke_result_t<std::decay_t<Fn>&, std::decay_t<Args>&...>> {
        using Result = std::invoke_result_t<std::decay_t<Fn>&, std::decay_t<Args>&...>;
        auto call = [fn = std::forward<Fn>(fn), ... args = std::forward<Args>(args)]() mutable -> Result {
            return std::invoke(fn, args...);
        };
        auto* task = new detail::Task<decltype(call), Result>(std::move(call));
        Future<Result> future(detail::StatePtr<detail::FutureState<Result>>::adopt(task));
        try {
            scheduler_->submit(task);
        } catch (...) {
            task->release();  // the queue's reference, never taken
            throw;
        }
        return future;
    }

    /// Python's Executor.map: `fn(x)` for each x of `inputs`, results in input
    /// order, read lazily. Iterating rethrows a call's exception at its
    /// position, or TimeoutError past `options.timeout`. The returned range
    /// must not outlive the executor (nor `inputs`, if passed as an lvalue).
    template <class Fn, std::ranges::input_range Inputs>
    auto map(Fn fn, Inputs&& inputs, MapOptions options = {}) {
        using Input = std::ranges::range_value_t<Inputs>;
        using Result = std::invoke_result_t<Fn&, Input>;
        static_assert(!std::is_void_v<Result>, "map() needs a function that returns a value; use submit() otherwise");
        detail::check_map_options(options);
        // Shared, not referenced: a chunk may still run after the results range
        // is gone (destroying it cancels only what has not started).
        auto submit_chunk = [this, fn = std::make_shared<Fn>(std::move(fn))](std::vector<Input> chunk) {
            return submit([fn, chunk = std::move(chunk)]() mutable { return detail::run_chunk<Result>(*fn, chunk); });
        };
        return detail::MapResults<Result, std::views::all_t<Inputs>, decltype(submit_chunk)>(
            std::views::all(std::forward<Inputs>(inputs)), std::move(submit_chunk), options, 4 * max_workers());
    }

    /// Stops accepting work. With `cancel_futures`, cancels what has not
    /// started. Queued work still runs; `wait` blocks until it has and the
    /// threads have exited. Calling it again is harmless.
    void shutdown(bool wait = true, bool cancel_futures = false) {
        if (scheduler_) scheduler_->shutdown(wait, cancel_futures);
    }

    /// The most threads this pool will run.
    std::size_t max_workers() const noexcept { return scheduler_->max_workers(); }

private:
    // Not a designated initializer: that warns (-Wmissing-field-initializers)
    // in every user's build that turns on -Wextra.
    static ThreadPoolOptions with_max_workers(std::size_t max_workers) {
        ThreadPoolOptions options;
        options.max_workers = max_workers;
        return options;
    }
    std::unique_ptr<detail::ThreadPoolScheduler> scheduler_;
};

}  // namespace tandem
