// Internal: the state a Future shares with whoever completes it.
//
// One object per task. For thread-pool tasks the task itself derives from
// FutureState<T>, so submit() makes a single allocation. Process pools and MPI
// complete the same state from their result readers, which is why wait() and
// as_completed() work across executors.
//
// The state machine is Python's: PENDING -> RUNNING -> FINISHED, or PENDING ->
// CANCELLED -> CANCELLED_AND_NOTIFIED once the executor has seen the
// cancellation. wait() and as_completed() count a future as done only in
// FINISHED or CANCELLED_AND_NOTIFIED, exactly as concurrent.futures does.
//
// Hot path: completing a future is one atomic exchange on `word_`. The mutex is
// touched only when someone registered a callback or a waiter, and the futex
// only when a thread actually sleeps in result().
#pragma once

#include <atomic>      // state word, reference count
#include <cstdint>     // std::uint32_t
#include <exception>   // std::exception_ptr
#include <functional>  // callbacks
#include <mutex>       // guards callbacks and waiters
#include <optional>    // the stored value
#include <type_traits> // std::is_convertible_v
#include <utility>     // std::move, std::exchange
#include <vector>      // callback and waiter lists

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

/// Installed by executors whose threads must keep working while they wait on a
/// future (a pool worker calling result() runs other tasks meanwhile, so a pool
/// never deadlocks on its own tasks).
class WaitHelper {
public:
    /// Waits for `future` to be done or `deadline` to pass, doing useful work
    /// meanwhile. Returns whether the future is done.
    virtual bool wait_helping(FutureStateBase& future, Deadline deadline) = 0;

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
    FutureStateBase(const FutureStateBase&) = delete;
    FutureStateBase& operator=(const FutureStateBase&) = delete;
    virtual ~FutureStateBase();

    // Intrusive reference count: Future handles, the executor's queue entry.
    void retain() noexcept { references_.fetch_add(1, std::memory_order_relaxed); }
    void release() noexcept {
        if (references_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
    }

    FutureStatus status() const noexcept {
        return static_cast<FutureStatus>(word_.load(std::memory_order_acquire) & status_mask);
    }
    bool done() const noexcept;        // cancelled, cancelled_and_notified or finished
    bool notified_done() const noexcept;  // what wait()/as_completed() count as done
    bool cancelled() const noexcept;
    bool running() const noexcept { return status() == FutureStatus::running; }

    /// Python's Future.cancel().
    bool cancel();
    /// Python's Future.set_running_or_notify_cancel(): true if the caller may run
    /// the task, false if it was cancelled (and waiters are now told).
    bool set_running_or_notify_cancel();
    /// Stores an exception; throws InvalidStateError if already done.
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
    /// Claims the right to complete the future; false if it is already done or
    /// being completed. On success the caller stores its value and calls finish().
    bool begin_completion() noexcept;
    void finish(Waiter::Outcome outcome) noexcept;

private:
    static constexpr std::uint32_t status_mask = 0x7;
    static constexpr std::uint32_t sleepers_flag = 0x8;    // a thread sleeps in wait()
    static constexpr std::uint32_t listeners_flag = 0x10;  // callbacks or waiters registered

    void wake_sleepers(std::uint32_t previous_word) noexcept;
    void run_callbacks(std::vector<DoneCallback> callbacks) noexcept;
    bool sleep_until_done(Deadline deadline) noexcept;

    std::atomic<std::uint32_t> word_{static_cast<std::uint32_t>(FutureStatus::pending)};
    std::atomic<std::uint32_t> references_{1};
    std::exception_ptr error_;
    std::mutex listeners_mutex_;
    std::vector<DoneCallback> callbacks_;
    std::vector<Waiter*> waiters_;
};

/// The state of a Future<T>: the base plus the value.
template <class T>
class FutureState : public FutureStateBase {
public:
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
    T& value() noexcept { return *value_; }

private:
    std::optional<T> value_;
};

template <>
class FutureState<void> : public FutureStateBase {
public:
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
    State* get() const noexcept { return state_; }
    State* operator->() const noexcept { return state_; }
    State& operator*() const noexcept { return *state_; }
    explicit operator bool() const noexcept { return state_ != nullptr; }
    friend bool operator==(const StatePtr& a, const StatePtr& b) noexcept { return a.state_ == b.state_; }

private:
    State* state_ = nullptr;
};

// ---------------------------------------------------------------------------

[[noreturn]] void throw_already_done();

template <class T>
template <class... Args>
void FutureState<T>::set_result(Args&&... args) {
    if (!try_set_result(std::forward<Args>(args)...)) throw_already_done();
}

inline void FutureState<void>::set_result() {
    if (!try_set_result()) throw_already_done();
}

}  // namespace tandem::detail
