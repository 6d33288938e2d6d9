// tandem/thread_pool_executor.hpp — concurrent.futures.ThreadPoolExecutor.
//
// Runs callables on a pool of threads and returns a Future for each. In Python
// it is the tool for I/O-bound work (network, files, waiting); without a GIL it
// also runs CPU-bound C++ in parallel.
//
//     tandem::ThreadPoolExecutor pool({.max_workers = 8, .thread_name_prefix = "io",
//                                       .initializer = {open_session, "https://example.org"}});
//     tandem::Future<std::string> page = pool.submit(fetch, "http://localhost:8080/");
//     for (int square : pool.map([](int x) { return x * x; }, inputs, {.chunksize = 256}))
//         use(square);
//     pool.shutdown({.wait = true, .cancel_futures = false});  // also done by the destructor
//
// Workers are threading::Thread objects named "<prefix>_<n>" (default prefix
// "ThreadPoolExecutor-<k>", k counting the pools made without a prefix, as
// Python), so threading::current_thread().name() inside a task is the
// worker's name, and the OS thread name (15 bytes) keeps its "-<k>_<n>" end.
// It models tandem::Executor (executor.hpp), as ProcessPoolExecutor does.
//
// Beyond Python: a task may wait on another task's future of the same pool —
// `result()` inside a task runs other queued tasks while it waits — so
// recursive divide-and-conquer works even with one worker, where Python
// deadlocks. The scheduler is work-stealing (see detail/thread_pool/scheduler.hpp):
// submitting and completing a task costs well under a microsecond, an idle pool
// sleeps. map() submits every chunk up front, as Python, or reads its input
// lazily with `buffersize` chunks in flight (MapOptions). A task whose first
// parameter is a std::stop_token gets one: stop(future) and
// shutdown({.cancel_futures = true}) request a stop on it (threads cannot be
// killed; Python's cancel() cannot stop a running task either).
//
// Do not destroy an executor from inside one of its own tasks.
#pragma once

#include <algorithm>    // std::min
#include <concepts>     // std::same_as: shutdown's positional form
#include <cstddef>      // std::size_t
#include <functional>   // std::function, std::invoke
#include <memory>       // the scheduler, shared with lazy map() results
#include <optional>     // max_workers default
#include <ranges>       // map() inputs
#include <stop_token>   // std::stop_token: the first parameter of a stoppable task
#include <string>       // thread name prefix
#include <type_traits>  // result types
#include <utility>      // std::forward

#include "tandem/detail/future/map_results.hpp"         // MapResults, ChunkResult
#include "tandem/detail/thread_pool/scheduler.hpp"      // ThreadPoolScheduler
#include "tandem/detail/thread_pool/stop_registry.hpp"  // StopRegistry: the stop-token tasks' sources
#include "tandem/detail/thread_pool/task.hpp"           // Task: a call and its future's state
#include "tandem/errors.hpp"                            // ValueError, RuntimeError
#include "tandem/executor.hpp"                          // MapOptions, ShutdownOptions, the Executor concept
#include "tandem/future.hpp"                            // Future
#include "tandem/initializer.hpp"                       // Initializer

namespace tandem {

/// Options of ThreadPoolExecutor (Python's constructor arguments).
struct ThreadPoolOptions {
    /// Threads at most; unset: min(32, usable cores + 4), as Python 3.13.
    /// Zero is a ValueError.
    std::optional<std::size_t> max_workers{};
    /// Worker threads are named "<prefix>_<n>", n counting from 0; empty:
    /// "ThreadPoolExecutor-<k>", k counting such pools from 0.
    std::string thread_name_prefix{};
    /// Python's initializer and initargs: fn(args...) runs at the start of
    /// each worker thread (any callable: `.initializer = {fn, args...}` or
    /// `.initializer = [&] { ... }`). If it throws, the pool breaks: queued
    /// and later submissions fail with BrokenThreadPool.
    Initializer initializer{};
};

namespace detail {
/// A task takes a stop token when it can be called with one before its
/// arguments and not without (a generic callable that accepts both is
/// called without).
template <class Fn, class... Args>
inline constexpr bool kTakesStopToken = std::is_invocable_v<std::decay_t<Fn>&, std::stop_token, std::decay_t<Args>&...> &&
                                        !std::is_invocable_v<std::decay_t<Fn>&, std::decay_t<Args>&...>;

/// What submit(fn, args...) returns a Future of.
template <class Fn, class... Args>
struct ThreadTaskResult {
    using type = std::invoke_result_t<std::decay_t<Fn>&, std::decay_t<Args>&...>;
};
template <class Fn, class... Args>
    requires kTakesStopToken<Fn, Args...>
struct ThreadTaskResult<Fn, Args...> {
    using type = std::invoke_result_t<std::decay_t<Fn>&, std::stop_token, std::decay_t<Args>&...>;
};

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
        std::function<void()> initializer;
        if (!options.initializer.empty()) initializer = std::move(options.initializer);
        scheduler_ = std::make_shared<detail::ThreadPoolScheduler>(
            options.max_workers.value_or(detail::default_thread_pool_workers()),
            options.thread_name_prefix.empty() ? detail::default_thread_pool_prefix() : options.thread_name_prefix,
            std::move(initializer));
    }
    ThreadPoolExecutor(ThreadPoolExecutor&&) noexcept = default;
    ThreadPoolExecutor& operator=(ThreadPoolExecutor&&) = delete;
    /// shutdown(wait = true). Results of map() and futures stay readable.
    ~ThreadPoolExecutor() {
        // Here rather than when the last reference goes: a lazy map() may
        // hold the scheduler for a moment while it submits.
        if (scheduler_) scheduler_->shutdown(true, false);
    }

    /// Schedules `fn(args...)` and returns its Future. Arguments are copied or
    /// moved into the task. A callable whose first parameter is a
    /// std::stop_token (and that cannot be called without one) is called as
    /// `fn(token, args...)`; stop(future) and shutdown({.cancel_futures =
    /// true}) request a stop on that token (tandem; threads cannot be
    /// killed). Throws RuntimeError after shutdown(), BrokenThreadPool once
    /// an initializer failed.
    template <class Fn, class... Args>
    auto submit(Fn&& fn, Args&&... args) -> Future<typename detail::ThreadTaskResult<Fn, Args...>::type> {
        if (!scheduler_) throw RuntimeError("cannot schedule new futures after shutdown");  // moved from
        if constexpr (detail::kTakesStopToken<Fn, Args...>) {
            return submit_stoppable(std::forward<Fn>(fn), std::forward<Args>(args)...);
        } else {
            return submit_to(*scheduler_, std::forward<Fn>(fn), std::forward<Args>(args)...);
        }
    }

    /// Asks a task to stop (tandem; Python's cancel() cannot stop a running
    /// task): a task not started yet is cancelled, as cancel() does; a
    /// running task that took a std::stop_token sees stop_requested() become
    /// true (it decides when to return or throw). Returns true if the future
    /// was cancelled or this call requested the stop; false for a finished
    /// future, a running task without a stop token, or a repeated request.
    ///
    ///     auto scan = pool.submit([](std::stop_token stop) { while (!stop.stop_requested()) step(); });
    ///     pool.stop(scan);
    template <class R>
    bool stop(const Future<R>& future) {
        if (future.state() == nullptr) return false;
        if (future.state()->cancel()) return true;
        return stops_ && stops_->request_stop(future.state());
    }

    /// Python's Executor.map: `fn(x)` for each x of `inputs`, results in input
    /// order; each chunk of `chunksize` inputs is one task. By default every
    /// chunk is submitted before map() returns, as in Python, so the results
    /// survive shutdown() and the executor itself; with `buffersize` the
    /// input is read lazily (the shutdown rule is MapOptions::buffersize's).
    /// Throws ValueError for a zero chunksize or buffersize, and what
    /// submit() throws. Iterating rethrows a call's exception at its
    /// position, or TimeoutError past `options.timeout`. With buffersize, the
    /// range must not outlive `inputs` if they were passed as an lvalue.
    template <class Fn, std::ranges::input_range Inputs>
    auto map(Fn fn, Inputs&& inputs, MapOptions options = {}) {
        using Input = std::ranges::range_value_t<Inputs>;
        using Result = std::invoke_result_t<Fn&, Input>;
        static_assert(!std::is_void_v<Result>, "map() needs a function that returns a value; use submit() otherwise");
        detail::check_map_options(options);
        if (!scheduler_) throw RuntimeError("cannot schedule new futures after shutdown");
        // `fn` is shared, not referenced: a chunk may still run after the
        // results range is gone (destroying it cancels only what has not
        // started). The scheduler is held weakly: a lazy map whose pool is
        // gone cannot submit any more (MapOptions::buffersize).
        auto submit_chunk = [scheduler = std::weak_ptr(scheduler_),
                             fn = std::make_shared<Fn>(std::move(fn))](std::vector<Input> chunk) {
            const auto alive = scheduler.lock();
            if (!alive) throw RuntimeError("cannot schedule new futures after shutdown");
            return submit_to(*alive, [fn, chunk = std::move(chunk)]() mutable {
                return detail::run_chunk<Result>(*fn, chunk);
            });
        };
        return detail::MapResults<Result, std::views::all_t<Inputs>, decltype(submit_chunk)>(
            std::views::all(std::forward<Inputs>(inputs)), std::move(submit_chunk), options);
    }

    /// Python's shutdown(wait, cancel_futures), with the options named:
    /// `shutdown({.cancel_futures = true})`. Stops accepting work; with
    /// `cancel_futures`, cancels what has not started. Queued work still
    /// runs; `wait` blocks until it has and the threads have exited. Calling
    /// it again is harmless.
    void shutdown(ShutdownOptions options = {}) {
        // Running stop-token tasks are asked first: a waiting shutdown would
        // otherwise wait for them.
        if (options.cancel_futures && stops_) stops_->request_stop_all();
        if (scheduler_) scheduler_->shutdown(options.wait, options.cancel_futures);
    }
    /// shutdown(wait, cancel_futures), positionally (both bool).
    template <std::same_as<bool> Bool>
    void shutdown(Bool wait, bool cancel_futures = false) {
        shutdown(ShutdownOptions{.wait = wait, .cancel_futures = cancel_futures});
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
    template <class Fn, class... Args>
    static auto submit_to(detail::ThreadPoolScheduler& scheduler, Fn&& fn, Args&&... args)
        -> Future<std::invoke_result_t<std::decay_t<Fn>&, std::decay_t<Args>&...>> {
        using Result = std::invoke_result_t<std::decay_t<Fn>&, std::decay_t<Args>&...>;
        auto call = [fn = std::forward<Fn>(fn), ... args = std::forward<Args>(args)]() mutable -> Result {
            return std::invoke(fn, args...);
        };
        return queue_call<Result>(scheduler, std::move(call), [](detail::FutureStateBase*) {},
                                  [](detail::FutureStateBase*) noexcept {});
    }

    template <class Fn, class... Args>
    auto submit_stoppable(Fn&& fn, Args&&... args) -> Future<typename detail::ThreadTaskResult<Fn, Args...>::type> {
        using Result = typename detail::ThreadTaskResult<Fn, Args...>::type;
        std::stop_source source;
        auto call = [fn = std::forward<Fn>(fn), token = source.get_token(),
                     ... args = std::forward<Args>(args)]() mutable -> Result { return std::invoke(fn, token, args...); };
        // Registered before the task is queued, so stop() finds it the moment
        // submit() returns; the future's done-callback removes it.
        auto future = queue_call<Result>(
            *scheduler_, std::move(call),
            [&](detail::FutureStateBase* state) { stops_->add(state, std::move(source)); },
            [this](detail::FutureStateBase* state) noexcept { stops_->remove(state); });
        future.add_done_callback([registry = std::weak_ptr(stops_), state = future.state()] {
            if (const auto alive = registry.lock()) alive->remove(state);
        });
        return future;
    }

    // One allocation: the task is the future's state. `prepare` runs before
    // the task is queued, `undo` if queueing fails.
    template <class Result, class Call, class Prepare, class Undo>
    static Future<Result> queue_call(detail::ThreadPoolScheduler& scheduler, Call call, Prepare&& prepare,
                                     Undo&& undo) {
        auto* task = detail::Task<Call, Result>::make(std::move(call));
        Future<Result> future(detail::StatePtr<detail::FutureState<Result>>::adopt(task));
        try {
            prepare(future.state());
            scheduler.submit(task);
        } catch (...) {
            undo(future.state());
            task->release();  // the queue's reference, never taken
            throw;
        }
        return future;
    }

    // Shared only with lazy map() results, which hold it weakly.
    std::shared_ptr<detail::ThreadPoolScheduler> scheduler_;
    // Shared with the done-callbacks of stop-token tasks, which hold it weakly.
    std::shared_ptr<detail::StopRegistry> stops_ = std::make_shared<detail::StopRegistry>();
};

static_assert(Executor<ThreadPoolExecutor>);

}  // namespace tandem
