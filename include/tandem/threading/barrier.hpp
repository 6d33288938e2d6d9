// tandem/threading/barrier.hpp — threading.Barrier.
//
// A meeting point for a fixed number of threads: each calls wait(), and all are
// released together once the last one arrives. Each gets a distinct arrival
// index, 0 to parties-1, and an optional action runs in one of them (the last
// to arrive) before any is released. The barrier is then ready for the next
// round. A timeout, abort() or reset(), or an exception thrown by the action
// breaks it: every waiter gets BrokenBarrierError.
//
//     tandem::threading::Barrier step(4, [] { /* merge partial results */ });
//     // in each of the 4 workers:
//     for (int round = 0; round < rounds; ++round) {
//         compute(round);
//         if (step.wait() == 0) { /* exactly one thread per round gets index 0 */ }
//     }
//
// The algorithm is Python's, state for state (filling, draining, resetting,
// broken), over a Condition.
#pragma once

#include <chrono>      // timeouts
#include <functional>  // the action
#include <optional>    // "no default timeout"

#include "tandem/detail/os/futex.hpp"      // detail::Deadline, detail::deadline_after
#include "tandem/errors.hpp"               // BrokenBarrierError, ValueError
#include "tandem/threading/condition.hpp"  // Condition
#include "tandem/threading/lock.hpp"       // Lock

namespace tandem::threading {

/// A barrier for a fixed number of threads (Python: threading.Barrier).
class Barrier {
public:
    /// A barrier for `parties` threads. `action`, if given, runs in one thread
    /// each time the barrier trips; `timeout` is the default for wait().
    /// Throws ValueError("parties must be > 0") if parties < 1.
    explicit Barrier(int parties, std::function<void()> action = {},
                     std::optional<detail::Clock::duration> timeout = std::nullopt);
    Barrier(const Barrier&) = delete;
    Barrier& operator=(const Barrier&) = delete;

    /// Waits for the other parties, up to the default timeout if one was given.
    /// Returns this thread's arrival index, 0..parties-1. Throws
    /// BrokenBarrierError if the barrier is or becomes broken (a timed-out wait
    /// breaks it); the thread that ran a throwing action gets that exception.
    int wait() {
        if (default_timeout_) return wait_until(detail::deadline_after(*default_timeout_));
        return wait_until(std::nullopt);
    }
    /// As wait(), waiting at most `timeout` instead of the default.
    template <class Rep, class Period>
    int wait(std::chrono::duration<Rep, Period> timeout) {
        return wait_until(detail::deadline_after(timeout));
    }

    /// Returns the barrier to its empty state; threads waiting on it get
    /// BrokenBarrierError. A broken barrier becomes usable again.
    void reset();
    /// Breaks the barrier: current and future wait() calls throw
    /// BrokenBarrierError until reset().
    void abort();

    /// The number of threads needed to trip the barrier.
    int parties() const noexcept { return parties_; }
    /// The number of threads waiting now.
    int n_waiting() const;
    /// True if the barrier is broken.
    bool broken() const;

private:
    enum class State { filling, draining, resetting, broken };

    int wait_until(detail::Deadline deadline);
    void enter();
    void trip();
    void wait_for_trip(detail::Deadline deadline);
    void leave();
    void break_locked();

    const int parties_;
    const std::function<void()> action_;
    const std::optional<detail::Clock::duration> default_timeout_;
    mutable Lock lock_;
    mutable Condition condition_{lock_};
    State state_ = State::filling;  // the rest guarded by lock_
    int count_ = 0;
};

}  // namespace tandem::threading
