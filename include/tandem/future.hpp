// tandem/future.hpp — concurrent.futures.Future for C++.
//
// A Future<T> is the result of work that runs somewhere else: a thread pool, a
// process pool or an MPI rank. Every executor returns the same Future type, so
// wait() and as_completed() (tandem/wait.hpp) mix futures of any executor.
// Copies of a Future share one state, like references to a Python object.
//
//     tandem::ThreadPoolExecutor pool;
//     tandem::Future<int> f = pool.submit([](int x) { return x * 2; }, 21);
//     f.add_done_callback([](const tandem::Future<int>& done) { /* ... */ });
//     int v = f.result();                                  // 42, or rethrows
//     f.result(std::chrono::milliseconds(5));               // TimeoutError if late
//
// A default-constructed Future is empty, as std::future is: it allocates
// nothing and valid() is false, so an array of futures for children not yet
// submitted costs nothing; every other operation on it throws
// InvalidStateError. Future<T>::create() is Python's Future(): a fresh pending
// future that an executor implementation (or a test) completes with
// set_result() or set_exception(). Exceptions thrown by a task come back from
// result() with their original type.
//
//     std::array<tandem::Future<long>, 10> children;   // ten empty futures
//     children[0] = pool.submit(work, 0);              // now valid()
//     tandem::Future<int> manual = tandem::Future<int>::create();
//     manual.set_result(42);
//
// Differences from Python: Future() is empty (Python's Future() is pending;
// that is Future::create() here); result(), wait() and as_completed() called
// in a pool's worker run the pool's other tasks while they wait.
#pragma once

#include <chrono>       // timeouts
#include <cstddef>      // std::size_t for hashing
#include <exception>    // std::exception_ptr
#include <functional>   // std::function, std::hash
#include <type_traits>  // void results, invocability checks
#include <utility>      // std::forward, std::move

#include "tandem/detail/future/future_state.hpp"
#include "tandem/errors.hpp"

namespace tandem {

/// Called with the exception a done-callback threw. The default prints it to
/// stderr ("exception calling callback for future: ..."), as Python logs it.
using CallbackExceptionHandler = std::function<void(std::exception_ptr)>;

/// Replaces the handler for exceptions thrown by done-callbacks; returns the
/// previous one. Pass an empty function to restore the default.
CallbackExceptionHandler set_callback_exception_handler(CallbackExceptionHandler handler);

namespace detail {
template <class T>
struct ResultTypes {
    using const_reference = const T&;
};
template <>
struct ResultTypes<void> {
    using const_reference = void;
};
}  // namespace detail

/// The eventual result of an asynchronous computation.
template <class T>
class Future {
    static_assert(!std::is_reference_v<T>, "Future<T&> is not supported: return a pointer or a value");
    using State = detail::FutureState<T>;

public:
    using value_type = T;

    /// An empty future, as std::future's: no state, valid() is false, and
    /// every operation but valid(), state(), assignment and comparison throws
    /// InvalidStateError. Allocates nothing.
    Future() noexcept = default;
    /// Wraps a state created by an executor.
    explicit Future(detail::StatePtr<State> state) noexcept : state_(std::move(state)) {}
    /// A new pending future, not attached to any executor (Python: Future()),
    /// for executor implementations and tests to complete.
    [[nodiscard]] static Future create() { return Future(detail::StatePtr<State>::adopt(new State)); }

    /// Attempts to cancel. Returns false if the call is running or finished,
    /// true otherwise (also when it was already cancelled).
    bool cancel() { return checked().cancel(); }
    /// True if the future was cancelled.
    bool cancelled() const { return checked().cancelled(); }
    /// True while the call is executing and cannot be cancelled.
    bool running() const { return checked().running(); }
    /// True if the call finished or was cancelled.
    bool done() const { return checked().done(); }

    /// Waits and returns the value (a reference into the shared state), or
    /// rethrows the task's exception. Throws CancelledError if cancelled.
    typename detail::ResultTypes<T>::const_reference result() const& { return get(std::nullopt); }
    /// As result(), giving up with TimeoutError after `timeout`.
    template <class Rep, class Period>
    typename detail::ResultTypes<T>::const_reference result(std::chrono::duration<Rep, Period> timeout) const& {
        return get(detail::deadline_after(timeout));
    }
    /// On a temporary (`pool.submit(f).result()`), returns the value itself:
    /// moved out when this Future is the state's only handle (no copy, no
    /// callback or waiter can see it any more) or T is move-only, else
    /// copied. A large result then costs no second buffer.
    T result() && { return take(std::nullopt); }
    template <class Rep, class Period>
    T result(std::chrono::duration<Rep, Period> timeout) && {
        return take(detail::deadline_after(timeout));
    }

    /// Waits and returns the task's exception, or null if it returned normally.
    /// Throws CancelledError if cancelled, TimeoutError on timeout.
    std::exception_ptr exception() const { return get_exception(std::nullopt); }
    template <class Rep, class Period>
    std::exception_ptr exception(std::chrono::duration<Rep, Period> timeout) const {
        return get_exception(detail::deadline_after(timeout));
    }

    /// Calls `callback(future)` (or `callback()`) when the future is done, in
    /// the thread that completes it, or at once if it is already done.
    /// Callbacks run in the order they were added. An exception thrown by a
    /// callback goes to the callback-exception handler and is otherwise ignored.
    template <class Callback>
    void add_done_callback(Callback&& callback) {
        static_assert(std::is_invocable_v<Callback&, const Future&> || std::is_invocable_v<Callback&>,
                      "a done-callback takes the Future (const Future<T>&) or nothing");
        checked().add_done_callback(
            [callback = std::forward<Callback>(callback)](detail::FutureStateBase& state) mutable {
                if constexpr (std::is_invocable_v<Callback&, const Future&>) {
                    state.retain();
                    const Future self(detail::StatePtr<State>::adopt(static_cast<State*>(&state)));
                    callback(self);
                } else {
                    callback();
                }
            });
    }

    // --- for executor implementations and tests (as in Python) -------------

    /// Marks the future running and returns true, or, if it was cancelled,
    /// tells wait()/as_completed() and returns false. RuntimeError otherwise.
    bool set_running_or_notify_cancel() { return checked().set_running_or_notify_cancel(); }
    /// Completes the future with a value. InvalidStateError if already done.
    template <class... Args>
    void set_result(Args&&... args) {
        checked().set_result(std::forward<Args>(args)...);
    }
    /// Completes the future with an exception. InvalidStateError if already done.
    void set_exception(std::exception_ptr error) { checked().set_exception(std::move(error)); }
    template <class E>
        requires(!std::is_same_v<std::decay_t<E>, std::exception_ptr>)
    void set_exception(E&& error) {
        set_exception(std::make_exception_ptr(std::forward<E>(error)));
    }

    /// False for a default-constructed or moved-from future; true for one
    /// that has a state (from submit() or create()), done or not.
    bool valid() const noexcept { return static_cast<bool>(state_); }
    /// The shared state, for wait(), as_completed() and executors; null if
    /// !valid().
    detail::FutureStateBase* state() const noexcept { return state_.get(); }

    friend bool operator==(const Future& a, const Future& b) noexcept { return a.state_ == b.state_; }

private:
    State& checked() const {
        if (!state_) detail::throw_no_state();
        return *state_;
    }
    void wait_settled(detail::Deadline deadline) const {
        State& s = checked();
        if (s.cancelled()) throw CancelledError();
        if (!s.wait(deadline)) throw TimeoutError();
        if (s.cancelled()) throw CancelledError();
    }
    typename detail::ResultTypes<T>::const_reference get(detail::Deadline deadline) const {
        wait_settled(deadline);
        if (auto error = state_->stored_exception()) std::rethrow_exception(error);
        if constexpr (!std::is_void_v<T>) return state_->value();
    }
    T take(detail::Deadline deadline) {
        wait_settled(deadline);
        if (auto error = state_->stored_exception()) std::rethrow_exception(error);
        if constexpr (!std::is_void_v<T>) {
            if constexpr (std::is_copy_constructible_v<T>) {
                if (!state_->sole_owner()) return state_->value();
            }
            return std::move(state_->value());
        }
    }
    std::exception_ptr get_exception(detail::Deadline deadline) const {
        wait_settled(deadline);
        return state_->stored_exception();
    }

    detail::StatePtr<State> state_;
};

/// A Future of any result type, for code that handles futures of mixed types
/// together (wait() over a Future<int> and a Future<std::string>, say).
class AnyFuture {
public:
    /// Shares `future`'s state; InvalidStateError if it is empty.
    template <class T>
    AnyFuture(const Future<T>& future) : state_(retained(future.state())) {}  // NOLINT: implicit by design

    bool cancel() { return state_->cancel(); }
    bool cancelled() const { return state_->cancelled(); }
    bool running() const { return state_->running(); }
    bool done() const { return state_->done(); }
    /// As Future::exception().
    std::exception_ptr exception() const { return get_exception(std::nullopt); }
    template <class Rep, class Period>
    std::exception_ptr exception(std::chrono::duration<Rep, Period> timeout) const {
        return get_exception(detail::deadline_after(timeout));
    }
    detail::FutureStateBase* state() const noexcept { return state_.get(); }
    friend bool operator==(const AnyFuture& a, const AnyFuture& b) noexcept { return a.state_ == b.state_; }

private:
    static detail::StatePtr<detail::FutureStateBase> retained(detail::FutureStateBase* state) {
        if (!state) detail::throw_no_state();
        state->retain();
        return detail::StatePtr<detail::FutureStateBase>::adopt(state);
    }
    std::exception_ptr get_exception(detail::Deadline deadline) const {
        if (state_->cancelled()) throw CancelledError();
        if (!state_->wait(deadline)) throw TimeoutError();
        if (state_->cancelled()) throw CancelledError();
        return state_->stored_exception();
    }

    detail::StatePtr<detail::FutureStateBase> state_;
};

}  // namespace tandem

template <class T>
struct std::hash<tandem::Future<T>> {
    std::size_t operator()(const tandem::Future<T>& f) const noexcept {
        return std::hash<const void*>{}(f.state());
    }
};
template <>
struct std::hash<tandem::AnyFuture> {
    std::size_t operator()(const tandem::AnyFuture& f) const noexcept {
        return std::hash<const void*>{}(f.state());
    }
};
