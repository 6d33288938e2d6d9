// tandem/process_pool_executor.hpp — concurrent.futures.ProcessPoolExecutor.
//
// Runs ordinary C++ functions in a pool of worker processes and returns a
// Future for each call: the tool for CPU-bound work that must not share
// memory by accident, or must survive a crash. The Future is the same
// tandem::Future the thread pool returns, so wait() and as_completed() mix
// futures of both executors.
//
//     int square(int x) { return x * x; }
//
//     int main(int argc, char** argv) {
//         tandem::init(argc, argv);                 // spawn and forkserver re-execute the program
//         tandem::ProcessPoolExecutor pool({.max_workers = 4, .max_retries = 1});
//         tandem::ProcessPoolExecutor spawned({.mp_context = tandem::multiprocessing::get_context("spawn")});
//         tandem::Future<int> f = pool.submit(square, 7);
//         auto slow = pool.submit_with({.timeout = std::chrono::seconds(2)}, &crunch, data);
//         for (int y : pool.map(square, std::views::iota(0, 1000), {.chunksize = 64})) use(y);
//         int v = f.result();                       // 49
//         pool.shutdown({.wait = true, .cancel_futures = true});
//     }                                             // the destructor: shutdown(wait = true)
//
// It models tandem::Executor (executor.hpp), as ThreadPoolExecutor does.
//
// What may be submitted is decided at compile time (detail/wire/remote_call.hpp):
// a function, function pointer or captureless lambda, with arguments that
// are serializable (tandem/serialization.hpp) or handed off (Pipe ends,
// queues, locks, shared values). Exceptions thrown in a worker come back
// from result() with their type (standard and tandem types, registered
// types) or as RemoteError naming it.
//
// Beyond Python (and where it differs):
// - A worker that dies while running a task (segfault, abort, SIGKILL,
//   exit() inside the task, the OOM killer) fails only that task, with
//   WorkerCrashed naming the pid and the signal or exit status; tasks it had
//   been given but not started run on other workers; the worker is replaced
//   and the pool carries on. With max_retries = n the crashed task is run
//   again, up to n more times, before it fails. Python breaks the whole pool
//   (BrokenProcessPool). Here only a crash loop breaks it: an initializer that
//   throws, or workers that keep dying before they are ready; then every
//   pending future and every later submit() fail with BrokenProcessPool.
//   A task that writes over the pool's shared memory (a memory bug) fails
//   the same way: its worker finds its rings inconsistent and exits with
//   status 4 (or the parent kills it), and only that task fails.
// - submit_with({.timeout = d}, ...) bounds how long the task may run once a
//   worker starts it: past that the worker is SIGKILLed and replaced, and the
//   future raises TimeoutError. Other tasks are not affected.
// - stop(future) stops a task even while it runs (cancel() keeps Python's
//   meaning and cannot): its worker is SIGKILLed and replaced, the future
//   raises CancelledError, nothing else is touched.
// - A task's exception comes back with the stack where it was thrown, nested
//   in it as a RemoteTraceback (Python's remote traceback; read it with
//   remote_traceback(e), serialization.hpp). WorkerCrashed carries the
//   crashed worker's symbolized stack (SIGSEGV, SIGBUS, SIGILL, SIGFPE,
//   SIGABRT) and its last stderr lines.
// - Workers' stdout and stderr reach this process's streams a whole line at
//   a time (never torn by another worker's output), prefixed with the
//   worker's name with prefix_worker_output; submit_with({.capture_output =
//   true}, ...) keeps them for the future instead (captured_output()).
// - max_memory_per_child (celery's option) replaces a worker whose resident
//   memory is above the bound after a task; memory_limit_per_child is a hard
//   bound (RLIMIT_DATA over the worker's size at start): a task past it fails
//   alone with MemoryError naming the limit, never the OOM killer's pick.
//   See detail/process_pool/memory_limits.hpp.
// - Workers start with the pool (Python starts them on demand) and ignore
//   SIGINT: a Ctrl-C at the terminal reaches the whole process group, and
//   the parent, not each worker, decides what happens. Workers die with the
//   parent (PR_SET_PDEATHSIG), whatever the start method.
// - max_tasks_per_child works with every start method (Python refuses it
//   with fork).
// - Done-callbacks of the futures run on the pool's collector thread, or on
//   a thread waiting in result() (which collects replies, see Transport):
//   they must not wait for other futures of the same pool.
// - A task may take std::span<const T> (T trivially copyable; the caller
//   passes a vector, array or span of T): it reads its argument in place, in
//   the shared memory the call arrived in (a ring slot, or a spill buffer for
//   a large one), with no copy in the worker. Lifetime rule: the span is
//   valid only until the task returns (the memory then carries the next
//   call); copy what the task keeps. Elements arriving misaligned for T
//   (after arguments whose sizes break 8-byte alignment; a span as the first
//   argument never is) are copied into the worker's memory first.
//
//       double total(std::span<const double> values);   // reads in place
//       double t = pool.submit(total, big_vector).result();
// - Transport: per worker, shared-memory rings (memfd, nothing in /dev/shm)
//   with futex and eventfd wake-ups only when the other side sleeps. Calls
//   and results larger than a ring slot (16 KiB) go through per-worker
//   spill buffers that both sides keep mapped and reuse: a worker that once
//   carried a large message keeps buffers at least that large (two per
//   direction, each up to 512 MiB; larger messages get a memfd of their own,
//   freed after use). See detail/process_pool/task_ring.hpp and spill.hpp.
//   A thread that submitted to the pool and then waits for a future (in
//   result()) reads the reply rings itself for about 50 µs before it sleeps,
//   completing its own future and any other whose reply it finds, so a round
//   trip needs no hand-off through the collector thread
//   (src/process_pool/caller_collector.hpp).
//
// Do not destroy the executor from one of its own done-callbacks.
#pragma once

#include <sys/types.h>  // pid_t

#include <chrono>       // task timeouts
#include <concepts>     // std::same_as: shutdown's positional form
#include <csignal>      // SIGTERM, SIGKILL for terminate_workers / kill_workers
#include <cstddef>      // std::size_t, std::byte
#include <memory>       // the engine, shared with lazy map() results
#include <optional>     // options
#include <ranges>       // map() inputs
#include <span>         // reply payloads
#include <type_traits>  // result types
#include <utility>      // std::forward, std::move
#include <vector>       // chunks

#include "tandem/detail/future/map_results.hpp"            // MapResults, ChunkResult
#include "tandem/detail/os/cpu_count.hpp"                  // process_cpu_count: the default pool size
#include "tandem/detail/process_pool/captured_output.hpp"  // run_captured, CapturedState, TaskOutput
#include "tandem/detail/process_pool/engine.hpp"           // PoolEngine, Deliver, TaskOptions
#include "tandem/detail/wire/remote_call.hpp"              // encode_call, take_result, RemoteCallable
#include "tandem/errors.hpp"                               // ValueError, BrokenProcessPool, RuntimeError
#include "tandem/executor.hpp"                             // MapOptions, ShutdownOptions, the Executor concept
#include "tandem/future.hpp"                               // Future
#include "tandem/initializer.hpp"                          // Initializer
#include "tandem/multiprocessing/context.hpp"              // StartMethod, Context
#include "tandem/serialization.hpp"                        // encode_exception, decode_exception

namespace tandem {

/// ProcessPoolExecutor's constructor arguments.
struct ProcessPoolOptions {
    /// Worker processes; unset: the CPUs this process may use
    /// (os.process_cpu_count()). Zero is a ValueError.
    std::optional<std::size_t> max_workers{};
    /// How workers start; unset: the default context's method, resolved
    /// when the pool is built (see multiprocessing/context.hpp).
    std::optional<multiprocessing::StartMethod> start_method{};
    /// Python's mp_context: a context from multiprocessing::get_context()
    /// whose start method the workers use (the default context: as unset).
    /// ValueError if start_method names another method.
    std::optional<multiprocessing::Context> mp_context{};
    /// Run in each worker before its first task (Python's initializer and
    /// initargs). ValueError at construction if it cannot run in another
    /// process (see tandem/initializer.hpp).
    Initializer initializer{};
    /// A worker exits and is replaced after this many tasks; unset: never.
    /// Zero is a ValueError.
    std::optional<std::size_t> max_tasks_per_child{};
    /// How many times a task whose worker crashed is run again before its
    /// future fails with WorkerCrashed (tandem; Python has none).
    std::size_t max_retries = 0;
    /// celery's worker_max_memory_per_child, in bytes: a worker whose
    /// resident memory is above this after a task exits and is replaced (no
    /// task fails). Unset: never. Zero is a ValueError.
    std::optional<std::size_t> max_memory_per_child{};
    /// A hard bound, in bytes, on how much a worker's private memory may grow
    /// beyond its size at start (RLIMIT_DATA). A task whose allocation goes
    /// past it fails alone with MemoryError naming the limit, and its worker
    /// is replaced; the kernel's OOM killer never picks a process. Unset: no
    /// bound. Zero is a ValueError.
    std::optional<std::size_t> memory_limit_per_child{};
    /// Each line a worker writes to stdout or stderr starts with "[<worker
    /// name>] " (its Process name). Lines are whole either way: workers'
    /// output reaches this process's stdout and stderr a line at a time.
    bool prefix_worker_output = false;
};

/// Options of one submit_with() call.
struct SubmitOptions {
    /// The longest the task may run once started; past it the worker is
    /// killed and replaced and the future raises TimeoutError.
    std::optional<std::chrono::nanoseconds> timeout;
    /// Overrides the pool's max_retries for this task.
    std::optional<std::size_t> max_retries;
    /// Keep what the task writes to stdout and stderr (up to 1 MiB each) for
    /// its future, read with captured_output(future), instead of passing it
    /// on to this process's streams. The future counts as running from
    /// submit (cancel() returns false; stop() stops it). A call that hands
    /// off descriptors (a Lock, a Queue) cannot be captured: ValueError.
    bool capture_output = false;
};

/// What a task submitted with capture_output wrote to stdout (`out`) and
/// stderr (`err`), once its future is done (with a result or the task's
/// exception, not if its worker crashed); std::nullopt before, or for a
/// future of a task submitted without capture_output.
///
///     auto f = pool.submit_with({.capture_output = true}, report, 7);
///     f.wait();
///     std::string printed = captured_output(f)->out;
template <class R>
std::optional<TaskOutput> captured_output(const Future<R>& future) {
    const auto* state = dynamic_cast<const detail::process_pool::CapturedState<R>*>(future.state());
    if (state == nullptr || !future.done()) return std::nullopt;
    return state->output;
}

namespace detail::process_pool {

/// The result type of calling a RemoteCallable F (void for anything else,
/// which encode_call then rejects with a message).
template <class F, bool = RemoteCallable<F>>
struct SubmitResult {
    using type = void;
};
template <class F>
struct SubmitResult<F, true> {
    using type = std::decay_t<typename FunctionPointerTraits<remote_pointer_t<F>>::result>;
};

/// Completes a Future<R>'s state from a worker's reply. With `owner` (the
/// caller's reference to the state), the reference goes with the value
/// (empty on return if it did), so that the waiting result() can take the
/// value without a copy.
template <class R>
void complete_from_reply(FutureStateBase& base, bool raised, std::span<const std::byte> payload,
                         StatePtr<FutureStateBase>* owner = nullptr) {
    auto& state = static_cast<FutureState<R>&>(base);
    try {
        if constexpr (std::is_void_v<R>) {
            take_result<void>(raised, payload);
            state.try_set_result();
        } else if (!owner) {
            state.try_set_result(take_result<R>(raised, payload));
        } else if (state.try_set_result_and_release(take_result<R>(raised, payload))) {
            owner->detach();
        }
    } catch (...) {
        state.try_set_exception(std::current_exception());
    }
}

/// A Deliver for result type R.
template <class R>
void deliver(StatePtr<FutureStateBase>& future, bool raised, std::span<const std::byte> payload) {
    complete_from_reply<R>(*future, raised, payload, &future);
}

/// Completes `target` from the future of the task that runs on its behalf
/// (a map chunk, a captured call) when that task failed or was cancelled;
/// false if it has a value to read.
template <class Reply>
bool forward_failure(FutureStateBase& target, const FutureState<Reply>& reply) {
    if (auto error = reply.stored_exception()) {
        target.try_set_exception(error);
        return true;
    }
    if (reply.cancelled()) {
        target.try_set_exception(std::make_exception_ptr(CancelledError()));
        return true;
    }
    return false;
}

/// A map chunk as one task: calls the function named by `function` (a
/// FunctionId of a `Pointer`) on each input, stopping at the first
/// exception, whose encoding comes back beside the values computed before it.
template <class Pointer, class Input, class R>
std::pair<std::vector<R>, std::vector<std::byte>> run_map_chunk(FunctionId function, std::vector<Input> chunk) {
    const auto fn = reinterpret_cast<Pointer>(resolve_function(function));
    std::pair<std::vector<R>, std::vector<std::byte>> out;
    out.first.reserve(chunk.size());
    try {
        for (Input& input : chunk) out.first.push_back(fn(std::move(input)));
    } catch (...) {
        out.second = encode_exception(std::current_exception());
    }
    return out;
}

}  // namespace detail::process_pool

class ProcessPoolExecutor {
public:
    /// A pool with Python's defaults.
    ProcessPoolExecutor() : ProcessPoolExecutor(ProcessPoolOptions{}) {}
    /// A pool of `max_workers` processes (ValueError if 0).
    explicit ProcessPoolExecutor(std::size_t max_workers)
        : ProcessPoolExecutor(with_max_workers(max_workers)) {}
    /// A pool with these options; starts the workers. Throws ValueError for a
    /// zero max_workers or max_tasks_per_child, for a start_method that
    /// disagrees with mp_context, and for an initializer that cannot run in
    /// another process (a capturing lambda); ProcessError if the start
    /// method cannot be used (spawn or forkserver without tandem::init(), the
    /// default in a multi-threaded program without init()) or a worker fails
    /// to start, std::system_error if the OS refuses.
    explicit ProcessPoolExecutor(ProcessPoolOptions options);
    ProcessPoolExecutor(ProcessPoolExecutor&&) noexcept = default;
    ProcessPoolExecutor& operator=(ProcessPoolExecutor&&) = delete;
    /// shutdown(wait = true). Results of map() and futures stay readable.
    ~ProcessPoolExecutor();

    /// Schedules fn(args...) in a worker and returns its Future. `fn` is a
    /// function or captureless lambda; arguments are encoded now (converted
    /// to the parameter types). Throws RuntimeError("cannot schedule new
    /// futures after shutdown"), BrokenProcessPool once the pool is broken,
    /// and what encoding an argument throws. The future fails with the
    /// task's exception, WorkerCrashed, or BrokenProcessPool.
    template <class F, class... Args>
    auto submit(const F& fn, const Args&... args) {
        return submit_with(SubmitOptions{}, fn, args...);
    }

    /// submit() with per-task options (a timeout, a retry count). Throws as
    /// submit(); ValueError for a timeout that is not positive. The future
    /// also fails with TimeoutError when the task overran its timeout.
    template <class F, class... Args>
    auto submit_with(const SubmitOptions& options, const F& fn, const Args&... args)
        -> Future<typename detail::process_pool::SubmitResult<F>::type> {
        if (options.timeout && *options.timeout <= std::chrono::nanoseconds::zero())
            throw ValueError("timeout must be positive");
        if (!engine_) throw RuntimeError("cannot schedule new futures after shutdown");
        if (options.capture_output) return submit_captured(*engine_, options, fn, args...);
        return submit_to(*engine_, options, fn, args...);
    }

    /// Python's Executor.map: fn(x) for each x of `inputs` in a worker,
    /// results in input order; each chunk of `chunksize` inputs is one task.
    /// By default every chunk is submitted before map() returns, as in
    /// Python, so the results survive shutdown() and the executor itself;
    /// with `buffersize` the input is read lazily (the shutdown rule is
    /// MapOptions::buffersize's). Throws ValueError for a zero chunksize or
    /// buffersize, and what submit() throws. Iterating rethrows a call's
    /// exception at its position, TimeoutError past `options.timeout`
    /// (counted from this call), WorkerCrashed if a chunk's worker died.
    /// With buffersize, the range must not outlive `inputs` if they were
    /// passed as an lvalue.
    template <class F, std::ranges::input_range Inputs>
    auto map(const F& fn, Inputs&& inputs, MapOptions options = {}) {
        using Input = std::ranges::range_value_t<Inputs>;
        using Pointer = detail::remote_pointer_t<F>;
        using R = typename detail::process_pool::SubmitResult<F>::type;
        static_assert(!std::is_void_v<R>, "map() needs a function that returns a value; use submit() otherwise");
        detail::check_map_options(options);
        if (!engine_) throw RuntimeError("cannot schedule new futures after shutdown");
        const detail::FunctionId function = detail::function_entry_id(fn);
        // The engine is not kept alive by the results: a lazy map whose pool
        // is gone cannot submit any more (MapOptions::buffersize).
        auto submit_chunk = [engine = std::weak_ptr(engine_), function](std::vector<Input> chunk) {
            const auto alive = engine.lock();
            if (!alive) throw RuntimeError("cannot schedule new futures after shutdown");
            return submit_chunk_task<Pointer, Input, R>(*alive, function, std::move(chunk));
        };
        return detail::MapResults<R, std::views::all_t<Inputs>, decltype(submit_chunk)>(
            std::views::all(std::forward<Inputs>(inputs)), std::move(submit_chunk), options);
    }

    /// Python's shutdown(wait, cancel_futures), with the options named:
    /// `shutdown({.cancel_futures = true})`. Stops accepting work; with
    /// `cancel_futures`, cancels what no worker has been given. Queued work
    /// still runs; `wait` blocks until it has and every worker has exited.
    /// Calling it again is harmless.
    void shutdown(ShutdownOptions options = {}) {
        if (engine_) engine_->shutdown(options.wait, options.cancel_futures);
    }
    /// shutdown(wait, cancel_futures), positionally (both bool).
    template <std::same_as<bool> Bool>
    void shutdown(Bool wait, bool cancel_futures = false) {
        shutdown(ShutdownOptions{.wait = wait, .cancel_futures = cancel_futures});
    }

    /// Stops a task even while it runs (tandem; Python's cancel() cannot):
    /// a task still queued is cancelled as cancel() would; a task a worker
    /// runs, or has been handed, has that worker killed (SIGKILL) once it runs
    /// it and replaced, and its future fails with CancelledError. Nothing else
    /// is touched: the worker's other task runs on another worker, the other
    /// workers go on. Returns true if the future now ends in cancellation;
    /// false if it was done already, stopped before, or is not this pool's.
    ///
    ///     auto slow = pool.submit(simulate, 1'000'000);
    ///     pool.stop(slow);  // slow.result() throws CancelledError
    template <class R>
    bool stop(const Future<R>& future) {
        if (!engine_ || future.state() == nullptr || future.done()) return false;
        // A captured task runs as its wrapper, whose end completes `future`.
        if (const auto* captured = dynamic_cast<const detail::process_pool::CapturedState<R>*>(future.state()))
            return engine_->stop(*captured->wrapper);
        return engine_->stop(*future.state());
    }

    /// Python 3.14: shutdown(wait=false, cancel_futures=true), then SIGTERM
    /// to every worker; tasks they were running fail with BrokenProcessPool.
    /// Returns once the workers are reaped.
    void terminate_workers() {
        if (engine_) engine_->signal_workers(SIGTERM);
    }
    /// As terminate_workers(), with SIGKILL.
    void kill_workers() {
        if (engine_) engine_->signal_workers(SIGKILL);
    }

    /// The number of worker processes.
    std::size_t max_workers() const noexcept { return engine_->max_workers(); }

    /// The pids of the workers alive now (tandem: for monitoring and tests;
    /// Python keeps them in the private _processes).
    std::vector<pid_t> worker_pids() const { return engine_->worker_pids(); }

private:
    // Not a designated initializer: that warns (-Wmissing-field-initializers)
    // in every user's build that turns on -Wextra.
    static ProcessPoolOptions with_max_workers(std::size_t max_workers) {
        ProcessPoolOptions options;
        options.max_workers = max_workers;
        return options;
    }
    template <class F, class... Args>
    static auto submit_to(detail::process_pool::PoolEngine& engine, const SubmitOptions& options, const F& fn,
                          const Args&... args) -> Future<typename detail::process_pool::SubmitResult<F>::type> {
        using R = typename detail::process_pool::SubmitResult<F>::type;
        const detail::process_pool::TaskOptions task_options{options.timeout, options.max_retries};
        auto future = Future<R>::create();
        future.state()->retain();
        auto state = detail::StatePtr<detail::FutureStateBase>::adopt(future.state());
        if constexpr (detail::placeable_call_v<F, Args...>) {
            // A large call of raw values and ranges goes straight into a
            // free worker's shared buffer: one copy of the argument.
            using Placed = detail::PlacedCall<F, Args...>;
            if (Placed::arguments_size(args...) >= detail::process_pool::kInPlaceCallBytes) {
                const Placed placed(fn, args...);
                const detail::process_pool::InPlaceCall call{
                    placed.size(),
                    [](const void* self, std::byte* out) noexcept { static_cast<const Placed*>(self)->write(out); },
                    &placed};
                if (engine.submit_in_place(state, &detail::process_pool::deliver<R>, call, task_options)) {
                    return future;
                }
            }
        }
        detail::HandoffWriter call;
        detail::encode_call(call, fn, args...);
        engine.submit_encoded(std::move(state), &detail::process_pool::deliver<R>, std::move(call), task_options);
        return future;
    }

    template <class F, class... Args>
    static auto submit_captured(detail::process_pool::PoolEngine& engine, const SubmitOptions& options, const F& fn,
                                const Args&... args) -> Future<typename detail::process_pool::SubmitResult<F>::type> {
        using R = typename detail::process_pool::SubmitResult<F>::type;
        using Reply = detail::process_pool::CapturedReply;
        detail::HandoffWriter inner;
        detail::encode_call(inner, fn, args...);
        if (!inner.fds().empty()) {
            throw ValueError("capture_output: a call that hands off descriptors (a Lock, a Queue) cannot be captured");
        }
        SubmitOptions plain = options;
        plain.capture_output = false;
        auto wrapper = submit_to(engine, plain, &detail::process_pool::run_captured, inner.byte_buffer());
        auto* state = new detail::process_pool::CapturedState<R>;
        Future<R> out(detail::StatePtr<detail::FutureState<R>>::adopt(state));
        wrapper.state()->retain();
        state->wrapper = detail::StatePtr<detail::FutureStateBase>::adopt(wrapper.state());
        static_cast<void>(out.set_running_or_notify_cancel());
        // Holds `out` until the wrapper ends (it always does: the pool completes every future).
        wrapper.add_done_callback([out](const Future<Reply>& done) {
            auto& target = static_cast<detail::process_pool::CapturedState<R>&>(*out.state());
            auto& reply = static_cast<detail::FutureState<Reply>&>(*done.state());
            if (detail::process_pool::forward_failure(target, reply)) return;
            auto& [raised, payload, printed, warned] = reply.value();
            target.output = TaskOutput{std::move(printed), std::move(warned)};
            detail::process_pool::complete_from_reply<R>(target, raised, payload);
        });
        return out;
    }

    template <class Pointer, class Input, class R>
    static Future<detail::ChunkResult<R>> submit_chunk_task(detail::process_pool::PoolEngine& engine,
                                                            detail::FunctionId function, std::vector<Input> chunk) {
        using Reply = std::pair<std::vector<R>, std::vector<std::byte>>;
        auto remote = submit_to(engine, SubmitOptions{}, &detail::process_pool::run_map_chunk<Pointer, Input, R>,
                                function, chunk);
        // Turn the chunk's reply into the ChunkResult MapResults reads. The
        // try_ setters: MapResults may have cancelled `out` meanwhile, and
        // then the task too, so that a chunk nobody will read is not run.
        // Each callback holds the other future until it runs: both run once
        // the task ends or is cancelled.
        auto out = Future<detail::ChunkResult<R>>::create();
        out.add_done_callback([remote](const Future<detail::ChunkResult<R>>& done) mutable {
            if (done.cancelled()) remote.cancel();
        });
        remote.add_done_callback([out](const Future<Reply>& done) {
            auto& target = static_cast<detail::FutureState<detail::ChunkResult<R>>&>(*out.state());
            auto& reply = static_cast<detail::FutureState<Reply>&>(*done.state());
            if (detail::process_pool::forward_failure(target, reply)) return;
            try {
                detail::ChunkResult<R> chunk_result{std::move(reply.value().first), nullptr};
                if (!reply.value().second.empty()) chunk_result.error = decode_exception(reply.value().second);
                target.try_set_result(std::move(chunk_result));
            } catch (...) {
                target.try_set_exception(std::current_exception());
            }
        });
        return out;
    }

    // Shared only with lazy map() results, which hold it weakly.
    std::shared_ptr<detail::process_pool::PoolEngine> engine_;
};

static_assert(Executor<ProcessPoolExecutor>);

}  // namespace tandem
