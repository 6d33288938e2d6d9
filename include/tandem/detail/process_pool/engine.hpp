// Internal: the process-pool engine as ProcessPoolExecutor sees it — a
// small interface, so that the executor's templates reach the workers,
// rings and collector thread through a handful of non-template calls and
// none of that machinery is in a user's include graph. The engine itself
// (src/process_pool/engine_impl.hpp) is private to the library.
//
// A task's journey, as far as the executor is concerned: it encodes the call
// (remote_call.hpp) and hands the bytes, the future and a Deliver made for
// the result type to submit_encoded(); a worker runs the call; whoever
// collects the reply calls the Deliver, which completes the future.
//
//     auto engine = start_engine({.workers = 4});
//     HandoffWriter call;
//     encode_call(call, square, 7);
//     engine->submit_encoded(StatePtr<FutureStateBase>::adopt(state), &deliver<int>, std::move(call), {});
#pragma once

#include <sys/types.h>  // pid_t

#include <chrono>    // task timeouts
#include <cstddef>   // std::size_t, std::byte
#include <memory>    // std::shared_ptr: the executor and lazy maps share the engine
#include <optional>  // options
#include <span>      // reply payloads
#include <vector>    // the initializer's bytes and descriptors, worker pids

#include "tandem/detail/future/future_state.hpp"  // FutureStateBase, StatePtr
#include "tandem/detail/os/unique_fd.hpp"         // the initializer's descriptors
#include "tandem/detail/wire/handoff.hpp"         // HandoffWriter: an encoded call
#include "tandem/multiprocessing/context.hpp"     // StartMethod

namespace tandem::detail::process_pool {

/// Completes `future` from a reply: the encoded result, or the encoded
/// exception when `raised`. Made for each result type by the executor. It
/// may take over the caller's reference (leaving `future` empty).
using Deliver = void (*)(StatePtr<FutureStateBase>& future, bool raised, std::span<const std::byte> payload);

/// What the engine is built with (the executor's options, resolved).
struct EngineOptions {
    std::size_t workers = 1;
    std::optional<multiprocessing::StartMethod> start_method;
    /// The initializer's encoded call (empty: none) and its descriptors,
    /// owned by the engine for the life of the pool.
    std::vector<std::byte> initializer;
    std::vector<UniqueFd> initializer_fds;
    std::optional<std::size_t> max_tasks_per_child;
    std::size_t max_retries = 0;
    /// Workers' output lines start with "[<worker name>] ".
    bool prefix_worker_output = false;
    /// memory_limits.hpp; 0: none.
    std::size_t max_memory_per_child = 0;
    std::size_t memory_limit_per_child = 0;
};

/// Calls at least this large are written straight into a worker's shared
/// buffer when one is free (PoolEngine::submit_in_place).
inline constexpr std::size_t kInPlaceCallBytes = std::size_t{64} << 10;

/// A call to be written in place: `size` bytes that write(call, out) puts
/// at `out` (wire/remote_call.hpp's PlacedCall behind `call`).
struct InPlaceCall {
    std::size_t size;
    void (*write)(const void* call, std::byte* out) noexcept;
    const void* call;
};

/// Per-task options.
struct TaskOptions {
    std::optional<std::chrono::nanoseconds> timeout;
    std::optional<std::size_t> max_retries;
};

class PoolEngine {
public:
    /// Shuts down as shutdown(true, false) would.
    virtual ~PoolEngine() = default;

    /// Queues the call in `call` (its bytes are taken; its descriptors are
    /// duplicated now, so the caller's objects may go); `deliver` completes
    /// `future` from the reply. Throws RuntimeError after shutdown,
    /// BrokenProcessPool once broken, std::system_error if a descriptor
    /// cannot be duplicated.
    virtual void submit_encoded(StatePtr<FutureStateBase> future, Deliver deliver, HandoffWriter&& call,
                                const TaskOptions& options) = 0;

    /// As submit_encoded, writing the call straight into the shared buffer
    /// of a worker that has room now, so that a large argument is copied
    /// once. False, with nothing taken, when that cannot be done at once
    /// (tasks are queued, no worker is free, no buffer, shut down): the
    /// caller then encodes the call and uses submit_encoded.
    virtual bool submit_in_place(StatePtr<FutureStateBase>& future, Deliver deliver, const InPlaceCall& call,
                                 const TaskOptions& options) = 0;

    /// Stops accepting tasks; with `cancel_futures` cancels those not handed
    /// to a worker. Queued tasks still run. With `wait`, returns once all
    /// have and every worker has exited. Harmless to repeat.
    virtual void shutdown(bool wait, bool cancel_futures) = 0;

    /// Stops the task whose future is `future`: one still queued is
    /// cancelled (Python's cancel()); one handed to a worker has that worker
    /// killed once it runs the task (at once if it runs it now) and replaced,
    /// and its future fails with CancelledError. Other tasks of that worker
    /// run elsewhere. False if the future is not an unfinished task of this
    /// pool (done already, or stopped before).
    virtual bool stop(FutureStateBase& future) = 0;

    /// Sends `signal_number` to every live worker after shutdown(false,
    /// true); tasks they were running fail with BrokenProcessPool. Waits for
    /// the workers and the collector.
    virtual void signal_workers(int signal_number) = 0;

    virtual std::size_t max_workers() const noexcept = 0;

    /// The pids of the live workers (for monitoring and tests).
    virtual std::vector<pid_t> worker_pids() const = 0;
};

/// Starts the workers and the collector thread. Throws ProcessError (start
/// method unusable, a worker failed to start), std::system_error.
std::shared_ptr<PoolEngine> start_engine(EngineOptions options);

}  // namespace tandem::detail::process_pool
