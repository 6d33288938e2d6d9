// tandem/multiprocessing/pool.hpp — Python's multiprocessing.pool: Pool,
// ThreadPool, AsyncResult and the imap iterators.
//
// The classic pool API: apply/apply_async for one call, map/starmap (and
// their _async forms) for a list, imap/imap_unordered for a lazy stream,
// close/terminate/join for the end. ThreadPool runs it on threads (over
// ThreadPoolExecutor): the choice for I/O-bound work. Pool runs it
// on worker processes (over ProcessPoolExecutor): the choice for CPU-bound
// work that must be isolated. Both are the same code (detail/pool_api/pool_face.hpp).
//
//     using namespace tandem::multiprocessing;
//     ThreadPool pool(4);
//     std::vector<int> squares = pool.map([](int x) { return x * x; }, inputs);
//     AsyncResult<std::string> page = pool.apply_async(fetch, url);
//     for (int n : pool.imap_unordered(count_words, files, 16)) total += n;
//     page.get(std::chrono::seconds(2));          // TimeoutError if not ready
//     pool.close();
//     pool.join();                                // or let the destructor do both
//
//     int square(int x) { return x * x; }         // Pool: a function or captureless lambda
//     Pool workers({.processes = 4, .maxtasksperchild = 1000});
//     std::vector<int> out = workers.map(square, inputs);
//     auto sum = workers.apply_async({.callback = report}, add, 2, 3);
//
// IMPORTANT, and unlike Python: the destructor drains. It calls close() and
// join(), so every job submitted still runs to the end. Python's
// `with Pool() as p:` calls terminate() on exit, a well-known trap that
// silently loses the work of apply_async/map_async calls not yet waited for.
// Call terminate() yourself if that is what you want.
//
// Behaviour, and where it differs from Python:
// - processes unset: os.process_cpu_count() (the CPUs this process may use).
//   0 is ValueError("Number of processes must be at least 1").
// - Callbacks (AsyncCallbacks: .callback / .error_callback) run once, when
//   the job ends, before get() returns, in the thread that completes it (a
//   pool thread for ThreadPool, the process pool's result collector for
//   Pool); if the job already ended when the pool registers them (a very
//   short task), inside apply_async/map_async itself (Python always uses its
//   result thread). An exception a callback throws goes to
//   tandem::set_callback_exception_handler's handler (Python's result
//   thread would die of it and the pool would hang).
// - get(timeout) throws tandem::TimeoutError (Python's
//   multiprocessing.TimeoutError); wait() returns whether the job is ready;
//   successful() before then throws ValueError, as Python.
// - Exceptions from tasks come back from get() / next() with their original
//   type (ThreadPool), or as ProcessPoolExecutor delivers them (Pool:
//   standard and registered types as themselves, others as RemoteError).
// - map and starmap queue every chunk at once, as Python's (which are
//   map_async(...).get()), with Python's default chunksize (len / (4 *
//   processes), rounded up); an unsized input is first read into a vector,
//   as Python's list(iterable). They raise the first failure in input order
//   (Python: in completion order). map_async/starmap_async queue every chunk
//   at once too.
// - imap and imap_unordered have backpressure: at most `buffersize` chunks
//   (default 4 * processes) are in flight, and the input is read only as
//   results are consumed, so imap over an endless input runs in bounded
//   memory. Python's pool reads the whole input in its task-handler thread,
//   as fast as it can, whether or not the results are read (3.15 adds
//   buffersize). What survives the end of the pool is the same: close() and
//   join() (or the destructor, which does both) read and submit the rest of
//   every imap's input, so every result is computed and stays readable from
//   the iterator after the pool is gone, as Python's are after close() and
//   join(); terminate() cancels what has not started.
// - A chunk is one task: if one of its calls throws, the whole chunk fails
//   with that exception (Python's mapstar does the same).
// - An exception thrown by the input range of imap is delivered by next()
//   at its place, as Python (3.8+) delivers it; so is CancelledError after
//   terminate().
// - close(), terminate(), join(): Python's state machine. join() before
//   close()/terminate() -> ValueError("Pool is still running"); apply, map,
//   imap... after close()/terminate() -> ValueError("Pool not running").
//   terminate() cancels work not yet started: its AsyncResult and imap
//   results raise CancelledError, error_callbacks get CancelledError (Python
//   leaves them hanging forever). Work that is running: ThreadPool lets it
//   finish (threads cannot be killed, as in Python); Pool kills the workers.
// - join() waits for every task submitted, including chunks still to be
//   submitted for an imap whose input is not all read: it reads and submits
//   the rest first (do not close() and join() with an endless imap alive).
// - No kwds (C++ has no keyword arguments), no context argument for
//   ThreadPool; Pool takes Python's context (a get_context() object) or a
//   StartMethod. Pool adds max_retries, and a worker that crashes fails only
//   the task it ran, with WorkerCrashed (Python's Pool loses the task and
//   hangs).
// - The results (AsyncResult, IMapIterator) may outlive their pool. An
//   input range passed by lvalue reference to imap must live until the
//   iterator is destroyed or the pool has been joined (which reads it all).
#pragma once

#include <cstddef>      // std::size_t
#include <functional>   // std::invoke, std::apply
#include <memory>       // the executor, owned by the face
#include <optional>     // processes unset
#include <tuple>        // starmap's argument tuples
#include <type_traits>  // result types
#include <utility>      // std::forward, std::move
#include <vector>       // chunks

#include "tandem/detail/os/cpu_count.hpp"            // process_cpu_count: the default number of workers
#include "tandem/detail/pool_api/pool_face.hpp"      // PoolFace: the API over either executor
#include "tandem/detail/wire/function_id.hpp"        // FunctionId: which function a Pool chunk runs
#include "tandem/detail/wire/remote_call.hpp"        // remote_pointer_t, as_function_pointer for Pool chunks
#include "tandem/errors.hpp"                         // ValueError
#include "tandem/future.hpp"                         // Future, what the executors return
#include "tandem/initializer.hpp"                    // Initializer, for both pools
#include "tandem/multiprocessing/async_result.hpp"   // AsyncResult, AsyncCallbacks: what apply_async() gives
#include "tandem/multiprocessing/context.hpp"        // StartMethod, Context: Pool's start method
#include "tandem/multiprocessing/imap_iterator.hpp"  // IMapIterator: what imap() gives
#include "tandem/process_pool_executor.hpp"          // ProcessPoolExecutor, under Pool
#include "tandem/thread_pool_executor.hpp"           // ThreadPoolExecutor, under ThreadPool

namespace tandem::detail {

/// The number of workers: `processes`, or the usable CPUs.
inline std::size_t pool_size(std::optional<std::size_t> processes) {
    if (processes && *processes == 0) throw ValueError("Number of processes must be at least 1");
    return processes.value_or(process_cpu_count());
}

/// ThreadPool's backend: every call and chunk is a ThreadPoolExecutor task.
struct ThreadBackend {
    using Executor = ThreadPoolExecutor;

    template <class Fn, class... Args>
    using result_t = std::invoke_result_t<std::decay_t<Fn>&, std::decay_t<Args>&...>;
    template <class Fn, class Input>
    using star_result_t = decltype(std::apply(std::declval<Fn&>(), std::declval<std::decay_t<Input>>()));

    template <class Fn, class... Args>
    static auto submit(Executor& executor, Fn&& fn, Args&&... args) {
        return executor.submit(std::forward<Fn>(fn), std::forward<Args>(args)...);
    }

    template <bool Star, class R, class Fn, class Input>
    static Future<std::vector<R>> submit_chunk(Executor& executor, const std::shared_ptr<Fn>& fn,
                                               std::vector<Input> chunk) {
        return executor.submit([fn, chunk = std::move(chunk)]() mutable {
            std::vector<R> results;
            results.reserve(chunk.size());
            for (Input& input : chunk) {
                if constexpr (Star) {
                    results.push_back(std::apply(*fn, std::move(input)));
                } else {
                    results.push_back(std::invoke(*fn, std::move(input)));
                }
            }
            return results;
        });
    }

    static std::size_t workers(const Executor& executor) noexcept { return executor.max_workers(); }
    // Threads cannot be stopped: only what has not started is cancelled.
    static void terminate(Executor& executor) { executor.shutdown({.wait = false, .cancel_futures = true}); }
    static void shutdown(Executor& executor) { executor.shutdown(); }
};

/// A Pool chunk, run in a worker: calls the function `function` names on
/// each input (unpacking a tuple for starmap). The first exception fails the
/// whole chunk and travels back typed, as Python's mapstar fails its chunk.
template <bool Star, class Pointer, class Input, class R>
std::vector<R> run_pool_chunk(FunctionId function, std::vector<Input> chunk) {
    const auto fn = reinterpret_cast<Pointer>(resolve_function(function));
    std::vector<R> results;
    results.reserve(chunk.size());
    for (Input& input : chunk) {
        if constexpr (Star) {
            results.push_back(std::apply(fn, std::move(input)));
        } else {
            results.push_back(fn(std::move(input)));
        }
    }
    return results;
}

/// Pool's backend: calls and chunks are ProcessPoolExecutor tasks, so the
/// function must be a function pointer or captureless lambda and the
/// arguments serializable (detail/wire/remote_call.hpp says why at compile time).
struct ProcessBackend {
    using Executor = ProcessPoolExecutor;

    template <class Fn, class... Args>
    using result_t = typename process_pool::SubmitResult<std::remove_cvref_t<Fn>>::type;
    template <class Fn, class Input>
    using star_result_t = typename process_pool::SubmitResult<std::remove_cvref_t<Fn>>::type;

    template <class Fn, class... Args>
    static auto submit(Executor& executor, const Fn& fn, const Args&... args) {
        return executor.submit(fn, args...);
    }

    template <bool Star, class R, class Fn, class Input>
    static Future<std::vector<R>> submit_chunk(Executor& executor, const std::shared_ptr<Fn>& fn,
                                               std::vector<Input> chunk) {
        static_assert(RemoteCallable<Fn>,
                      "tandem: Pool runs functions in other processes: pass a function pointer or a lambda "
                      "without captures (ThreadPool takes any callable)");
        using Pointer = remote_pointer_t<Fn>;
        const FunctionId function = function_entry_id(*fn);
        return executor.submit(&run_pool_chunk<Star, Pointer, Input, R>, function, chunk);
    }

    static std::size_t workers(const Executor& executor) noexcept { return executor.max_workers(); }
    // Python's terminate() kills the workers: running tasks fail (with
    // BrokenProcessPool), queued ones are cancelled.
    static void terminate(Executor& executor) { executor.terminate_workers(); }
    static void shutdown(Executor& executor) { executor.shutdown(); }
};

}  // namespace tandem::detail

namespace tandem::multiprocessing {

/// Python's Pool(processes, initializer, initargs, maxtasksperchild,
/// context), as named options.
struct PoolOptions {
    /// Worker processes; unset: the usable CPUs. 0 is a ValueError.
    std::optional<std::size_t> processes{};
    /// Python's initializer + initargs: `{fn, args...}`, run in each worker
    /// before its first task (a function or captureless lambda: see
    /// tandem/initializer.hpp). If it throws, the pool is broken: jobs fail
    /// with BrokenProcessPool.
    Initializer initializer{};
    /// A worker is replaced after this many tasks (a chunk is one task);
    /// unset: never. 0 is a ValueError.
    std::optional<std::size_t> maxtasksperchild{};
    /// How workers start; unset: the default context's method
    /// (multiprocessing/context.hpp).
    std::optional<StartMethod> start_method{};
    /// Python's context argument: a context from get_context() whose start
    /// method the workers use (the default context: as unset). ValueError if
    /// start_method names another method.
    std::optional<Context> context{};
    /// tandem: how many times a task whose worker crashed is run again before
    /// it fails with WorkerCrashed.
    std::size_t max_retries = 0;
};

/// Python's multiprocessing.pool.ThreadPool: Pool's API over threads.
/// Every member is PoolFace's (detail/pool_api/pool_face.hpp), documented there:
/// apply, apply_async, map, map_async, starmap, starmap_async, imap,
/// imap_unordered, close, terminate, join, processes. Any callable runs
/// (captures are fine: nothing crosses a process boundary).
class ThreadPool : public tandem::detail::PoolFace<tandem::detail::ThreadBackend> {
public:
    /// A pool of `processes` threads (unset: the usable CPUs; 0 is
    /// ValueError). `initializer` (Python's initializer and initargs:
    /// `{fn, args...}` or any callable) runs at the start of each thread; if
    /// it throws, the pool is broken: jobs fail with BrokenThreadPool.
    explicit ThreadPool(std::optional<std::size_t> processes = std::nullopt, Initializer initializer = {})
        : PoolFace(std::make_unique<ThreadPoolExecutor>(ThreadPoolOptions{
              .max_workers = tandem::detail::pool_size(processes),
              .thread_name_prefix = "ThreadPool",
              .initializer = std::move(initializer)})) {}
};

/// Python's multiprocessing.Pool: the same API over worker processes
/// (ProcessPoolExecutor). Functions must be function pointers or
/// captureless lambdas, with serializable arguments and results. Beyond
/// Python: a worker that crashes fails only the task (or chunk) it ran, with
/// WorkerCrashed, and is replaced; Python's Pool loses that task and its
/// AsyncResult hangs forever (gh-66587).
class Pool : public tandem::detail::PoolFace<tandem::detail::ProcessBackend> {
public:
    /// A pool with Python's defaults. Throws ProcessError if the start
    /// method cannot be used (see ProcessPoolExecutor).
    Pool() : Pool(PoolOptions{}) {}
    /// Pool(processes): 0 is ValueError.
    explicit Pool(std::size_t processes) : Pool(with_processes(processes)) {}
    /// Pool(processes, initializer, initargs, maxtasksperchild, context).
    /// ValueError for 0 processes or maxtasksperchild; what
    /// ProcessPoolExecutor's constructor throws.
    explicit Pool(PoolOptions options) : PoolFace(make_executor(std::move(options))) {}

private:
    // Not a designated initializer: that warns (-Wmissing-field-initializers)
    // in every user's build that turns on -Wextra.
    static PoolOptions with_processes(std::size_t processes) {
        PoolOptions options;
        options.processes = processes;
        return options;
    }
    static std::unique_ptr<ProcessPoolExecutor> make_executor(PoolOptions options) {
        if (options.maxtasksperchild && *options.maxtasksperchild == 0)
            throw ValueError("maxtasksperchild must be a positive int or None");
        return std::make_unique<ProcessPoolExecutor>(ProcessPoolOptions{
            .max_workers = tandem::detail::pool_size(options.processes),
            .start_method = options.start_method,
            .mp_context = options.context,
            .initializer = std::move(options.initializer),
            .max_tasks_per_child = options.maxtasksperchild,
            .max_retries = options.max_retries});
    }
};

}  // namespace tandem::multiprocessing
