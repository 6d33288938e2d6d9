// Internal: the state a Future shares with whoever completes it.
//
// One object per task. For thread-pool tasks the task itself derives from
// FutureState<T>, so submit() makes a single allocation (from the pool's
// per-thread task caches, detail/thread_pool/task_allocator.hpp). Process pools
// and MPI complete the same state from their result readers, which is why
// wait() and as_completed() work across executors.
//
// The state machine is Python's: PENDING -> RUNNING -> FINISHED, or PENDING ->
// CANCELLED -> CANCELLED_AND_NOTIFIED once the executor has seen the
// cancellation. wait() and as_completed() count a future as done only in
// FINISHED or CANCELLED_AND_NOTIFIED, exactly as concurrent.futures does.
//
// Hot path: completing a future is one atomic exchange on `word_`. The mutex,
// the callbacks and the waiters live in a block of their own, made by the
// first add_done_callback() or add_waiter(): a future nobody listens to is 32
// bytes and never locks. The futex is used only when a thread actually sleeps
// in result().
#pragma once

#include <atomic>       // state word, reference count, listeners
#include <cstdint>      // std::uint32_t
#include <exception>    // std::exception_ptr
#include <functional>   // callbacks
#include <optional>     // the stored value
#include <type_traits>  // std::is_convertible_v
#include <utility>      // std::move, std::exchange
#include <vector>       // callback lists

#include "tandem/detail/os/futex.hpp"

namespace tandem::detail {

enum class FutureStatus : std::uint32_t {
    pending = 0,
    running = 1,
    cancelled = 2,
    cancelled_and_notified = 3,
    finished = 4,
    completing = 5,  // internal: a setter owns the state and is storing the value
};
// FutureStateBase's done(), cancelled() and notified_done() rely on this order.
static_assert(FutureStatus::cancelled < FutureStatus::cancelled_and_notified &&
              FutureStatus::cancelled_and_notified < FutureStatus::finished &&
              FutureStatus::running < FutureStatus::cancelled && FutureStatus::finished < FutureStatus::completing);

class FutureStateBase;

/// Told when a watched future completes; the equivalent of Python's _Waiter.
/// Methods run with the future's mutex held, so they must be short and must not
/// touch the future.
class Waiter {
public:
    enum class Outcome { result, exception, cancelled };
    /// The future finished, or its cancellation was seen by the executor.
    virtual void on_complete(FutureStateBase& future, Outcome outcome) noexcept = 0;
    /// cancel() succeeded. Python's waiters ignore this (they hear of it in
    /// set_running_or_notify_cancel); a pool worker waiting in result() needs it.
    virtual void on_cancel(FutureStateBase&) noexcept {}

protected:
    ~Waiter() = default;
};

class WaitHelper;

/// What a helping wait waits for: one future (result()), a wait() condition,
/// the next completion of as_completed().
class HelpedWait {
public:
    /// Whether the wait is over. Called after every task the helper runs.
    virtual bool ready() noexcept = 0;
    /// Called before the helper sleeps: arranges that helper.wake() is called
    /// once ready() may have become true, or returns false if ready() holds
    /// already. The default: the caller arranged it for the whole wait.
    virtual bool arm(WaitHelper& /*helper*/) { return !ready(); }
    /// Undoes arm() after the sleep; once it returns, wake() is not called
    /// on its behalf any more.
    virtual void disarm() noexcept {}

protected:
    ~HelpedWait() = default;
};

/// Installed by executors whose threads must keep working while they wait (a
/// pool worker calling result(), wait() or iterating as_completed() runs other
/// tasks meanwhile, so a pool never deadlocks on its own tasks). One per
/// thread: the worker itself.
class WaitHelper {
public:
    /// Runs other work until `wait.ready()` or `deadline` passes; sleeps when
    /// there is none. Returns wait.ready().
    virtual bool help_until(HelpedWait& wait, Deadline deadline) = 0;
    /// Wakes this helper's thread if it sleeps in help_until(). Any thread; a
    /// late or needless call only makes the helper look once more.
    virtual void wake() noexcept = 0;

protected:
    ~WaitHelper() = default;
};

/// The helper of the calling thread, if it is an executor's worker.
WaitHelper*& current_wait_helper() noexcept;

using DoneCallback = std::function<void(FutureStateBase&)>;

/// Reports an exception thrown by a done-callback (see
/// tandem::set_callback_exception_handler).
void report_callback_exception(std::exception_ptr error) noexcept;

class FutureStateBase {
public:
    FutureStateBase() noexcept = default;
    /// A state with `references` owners from the start (a thread-pool task:
    /// its creator and its queue), without an atomic increment for each.
    explicit FutureStateBase(std::uint32_t references) noexcept : word_(Word{references} << reference_shift) {}
    FutureStateBase(const FutureStateBase&) = delete;
    FutureStateBase& operator=(const FutureStateBase&) = delete;
    virtual ~FutureStateBase();

    // Intrusive reference count: Future handles, the executor's queue entry.
    void retain() noexcept { word_.fetch_add(one_reference, std::memory_order_relaxed); }
    void release() noexcept {
        if ((word_.fetch_sub(one_reference, std::memory_order_acq_rel) >> reference_shift) == 1) dispose();
    }

    /// True when the caller's reference is the only one: nothing else can
    /// reach the state, so its value may be moved out unobserved. Acquire:
    /// every other owner's last use happened before its release.
    bool sole_owner() const noexcept {
        return (word_.load(std::memory_order_acquire) >> reference_shift) == 1;
    }

    FutureStatus status() const noexcept { return status_of(word_.load(std::memory_order_acquire)); }
    // The statuses are ordered so that each question is one range check:
    // cancelled, cancelled_and_notified, finished, then completing.
    /// Cancelled, cancelled_and_notified or finished.
    bool done() const noexcept { return in(FutureStatus::cancelled, FutureStatus::finished); }
    /// What wait()/as_completed() count as done: finished or cancelled_and_notified.
    bool notified_done() const noexcept { return in(FutureStatus::cancelled_and_notified, FutureStatus::finished); }
    bool cancelled() const noexcept { return in(FutureStatus::cancelled, FutureStatus::cancelled_and_notified); }
    bool running() const noexcept { return status() == FutureStatus::running; }

    /// Python's Future.cancel().
    bool cancel();
    /// Python's Future.set_running_or_notify_cancel(): true if the caller may run
    /// the task, false if it was cancelled (and waiters are now told).
    bool set_running_or_notify_cancel();
    /// Stores an exception; throws InvalidStateError if already done (or
    /// running in a thread pool, which completes it itself).
    void set_exception(std::exception_ptr error);
    /// Like set_exception, but returns false instead of throwing. Executors use
    /// it, since they may race with cancel() or with each other.
    bool try_set_exception(std::exception_ptr error) noexcept;

    /// Blocks until done or the deadline passes; returns done(). A pool worker
    /// keeps running other tasks while it waits.
    bool wait(Deadline deadline);

    /// The stored exception once finished (null if it finished with a value).
    std::exception_ptr stored_exception() const noexcept { return error_; }

    /// Runs `callback` when the future is done, or now if it already is.
    void add_done_callback(DoneCallback callback);

    /// Registers `waiter` unless the future is already notified-done; returns
    /// false (and registers nothing) in that case. Whoever registers a waiter
    /// must hold a reference to this state until remove_waiter() returns: a
    /// waiter never keeps a state alive by itself.
    bool add_waiter(Waiter& waiter);
    /// Unregisters `waiter`; once this returns, the state never calls it again.
    void remove_waiter(Waiter& waiter) noexcept;

protected:
    /// Claims the right to complete the future; false if it is already done,
    /// being completed, or owned by a runner. On success the caller stores its
    /// value and calls finish().
    bool begin_completion() noexcept;
    void finish(Waiter::Outcome outcome) noexcept;

    /// For a thread-pool task's runner, which holds one reference: claims a
    /// pending future for running (true), or tells wait()/as_completed() that
    /// it was cancelled, or finds it already completed by hand (false). Once
    /// claimed, only the runner completes the future: set_result() and
    /// set_exception() by anyone else fail, so the runner stores its value
    /// without a further claim.
    bool claim_for_runner() noexcept;
    /// The runner stores the exception it caught (between claim_for_runner()
    /// and publish_and_release()).
    void store_exception(std::exception_ptr error) noexcept { error_ = std::move(error); }
    /// The runner (or whoever won begin_completion()) publishes what it
    /// stored and drops its reference — when nobody sleeps on the future or
    /// listens to it, in the same atomic operation. The state may be gone
    /// when this returns.
    void publish_and_release(Waiter::Outcome outcome) noexcept;

    /// Frees the state when the last reference goes. States that come from
    /// somewhere else than `new` (the thread pool's task caches) override it.
    virtual void dispose() noexcept { delete this; }

private:
    // The state word: the status and flags in the low half (the half a
    // sleeper's futex watches), the reference count in the high half, so that
    // the runner can complete a future and let go of it in one operation.
    using Word = std::uint64_t;
    static constexpr Word status_mask = 0x7;
    static constexpr Word sleepers_flag = 0x8;    // a thread sleeps in wait()
    static constexpr Word listeners_flag = 0x10;  // callbacks or waiters registered
    static constexpr Word owned_flag = 0x20;      // claimed by a runner (claim_for_runner)
    static constexpr int reference_shift = 32;
    static constexpr Word one_reference = Word{1} << reference_shift;
    static constexpr Word references_mask = ~Word{0} << reference_shift;

    static constexpr FutureStatus status_of(Word word) noexcept {
        return static_cast<FutureStatus>(word & status_mask);
    }
    bool in(FutureStatus first, FutureStatus last) const noexcept {
        const auto s = static_cast<std::uint32_t>(status());
        return s - static_cast<std::uint32_t>(first) <= static_cast<std::uint32_t>(last) - static_cast<std::uint32_t>(first);
    }

    struct Listeners;  // the mutex, callbacks and waiters (future_state.cpp)
    Listeners& listeners();
    void notify_cancelled_and_notified(Word previous) noexcept;
    void tell_listeners(Word previous, Waiter::Outcome outcome) noexcept;
    void wake_sleepers(Word previous) noexcept;
    void run_callbacks(std::vector<DoneCallback> callbacks) noexcept;
    bool sleep_until_done(Deadline deadline) noexcept;

    std::atomic<Word> word_{one_reference | static_cast<Word>(FutureStatus::pending)};
    std::exception_ptr error_;
    // Made by the first listener; set before listeners_flag, and kept until
    // the state dies.
    std::atomic<Listeners*> listeners_{nullptr};
};

/// The state of a Future<T>: the base plus the value.
template <class T>
class FutureState : public FutureStateBase {
public:
    using FutureStateBase::FutureStateBase;
    /// Stores the value; throws InvalidStateError if already done.
    template <class... Args>
    void set_result(Args&&... args);
    /// Like set_result, but returns false instead of throwing.
    template <class... Args>
    bool try_set_result(Args&&... args) {
        if (!begin_completion()) return false;
        value_.emplace(std::forward<Args>(args)...);
        finish(Waiter::Outcome::result);
        return true;
    }
    /// As try_set_result, letting go of the caller's reference with the
    /// value (on true; see StatePtr::detach): a result() on another thread
    /// that finds its handle the only one then moves the value out instead
    /// of copying it. The state may be gone when this returns true.
    template <class... Args>
    bool try_set_result_and_release(Args&&... args) {
        if (!begin_completion()) return false;
        value_.emplace(std::forward<Args>(args)...);
        publish_and_release(Waiter::Outcome::result);
        return true;
    }
    T& value() noexcept { return *value_; }

protected:
    /// The runner stores its value (see claim_for_runner()).
    template <class... Args>
    void store_value(Args&&... args) {
        value_.emplace(std::forward<Args>(args)...);
    }

private:
    std::optional<T> value_;
};

template <>
class FutureState<void> : public FutureStateBase {
public:
    using FutureStateBase::FutureStateBase;
    void set_result();
    bool try_set_result() {
        if (!begin_completion()) return false;
        finish(Waiter::Outcome::result);
        return true;
    }
};

/// An owning pointer to a FutureStateBase (or derived), with intrusive counts.
template <class State>
class StatePtr {
public:
    StatePtr() noexcept = default;
    /// Adopts one reference already held by the caller.
    static StatePtr adopt(State* state) noexcept {
        StatePtr pointer;
        pointer.state_ = state;
        return pointer;
    }
    StatePtr(const StatePtr& other) noexcept : state_(other.state_) {
        if (state_) state_->retain();
    }
    StatePtr(StatePtr&& other) noexcept : state_(std::exchange(other.state_, nullptr)) {}
    template <class Other>
        requires std::is_convertible_v<Other*, State*>
    StatePtr(const StatePtr<Other>& other) noexcept : state_(other.get()) {
        if (state_) state_->retain();
    }
    StatePtr& operator=(StatePtr other) noexcept {
        std::swap(state_, other.state_);
        return *this;
    }
    ~StatePtr() {
        if (state_) state_->release();
    }
    /// Empties this pointer without releasing its reference, which the
    /// caller has handed over (FutureState::try_set_result_and_release).
    void detach() noexcept { state_ = nullptr; }
    State* get() const noexcept { return state_; }
    State* operator->() const noexcept { return state_; }
    State& operator*() const noexcept { return *state_; }
    explicit operator bool() const noexcept { return state_ != nullptr; }
    friend bool operator==(const StatePtr& a, const StatePtr& b) noexcept { return a.state_ == b.state_; }

private:
    State* state_ = nullptr;
};

// ---------------------------------------------------------------------------

/// InvalidStateError for a setter that lost: `state` is done, or a thread
/// pool runs it.
[[noreturn]] void throw_already_done(const FutureStateBase& state);
/// InvalidStateError for an operation on an empty (default-constructed or
/// moved-from) Future.
[[noreturn]] void throw_no_state();

template <class T>
template <class... Args>
void FutureState<T>::set_result(Args&&... args) {
    if (!try_set_result(std::forward<Args>(args)...)) throw_already_done(*this);
}

inline void FutureState<void>::set_result() {
    if (!try_set_result()) throw_already_done(*this);
}

}  // namespace tandem::detail
