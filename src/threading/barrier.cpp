// threading::Barrier, following CPython's Lib/threading.py Barrier.
#include "tandem/threading/barrier.hpp"

#include <mutex>    // std::lock_guard over the condition
#include <utility>  // std::move

namespace tandem::threading {

namespace {
int checked_parties(int parties) {
    if (parties < 1) throw ValueError("parties must be > 0");
    return parties;
}
}  // namespace

Barrier::Barrier(int parties, std::function<void()> action, std::optional<detail::Clock::duration> timeout)
    : parties_(checked_parties(parties)), action_(std::move(action)), default_timeout_(timeout) {}

int Barrier::wait_until(detail::Deadline deadline) {
    std::lock_guard hold(condition_);
    enter();
    const int index = count_++;
    // Python's try/finally: the count drops and the draining round may end
    // whether this thread leaves normally or with an exception.
    struct Leave {
        Barrier& barrier;
        ~Leave() {
            --barrier.count_;
            barrier.leave();
        }
    } leave_on_exit{*this};
    if (index + 1 == parties_) {
        trip();
    } else {
        wait_for_trip(deadline);
    }
    return index;
}

// Blocks while the previous round drains or a reset completes.
void Barrier::enter() {
    while (state_ == State::draining || state_ == State::resetting) condition_.wait();
    if (state_ == State::broken) throw BrokenBarrierError();
}

// The last thread has arrived: run the action, then release everyone.
void Barrier::trip() {
    try {
        if (action_) action_();
        state_ = State::draining;
        condition_.notify_all();
    } catch (...) {
        break_locked();
        throw;
    }
}

void Barrier::wait_for_trip(detail::Deadline deadline) {
    const auto tripped = [this] { return state_ != State::filling; };
    const bool done = deadline ? condition_.wait_for(tripped, *deadline - detail::Clock::now())
                               : condition_.wait_for(tripped);
    if (!done) {
        break_locked();
        throw BrokenBarrierError();
    }
    if (state_ == State::broken || state_ == State::resetting) throw BrokenBarrierError();
}

// The last thread out of a draining or resetting round opens the next one.
void Barrier::leave() {
    if (count_ == 0 && (state_ == State::draining || state_ == State::resetting)) {
        state_ = State::filling;
        condition_.notify_all();
    }
}

void Barrier::break_locked() {
    state_ = State::broken;
    condition_.notify_all();
}

void Barrier::reset() {
    std::lock_guard hold(condition_);
    if (count_ > 0) {
        // Waiters still inside must see the break before the barrier refills.
        if (state_ == State::filling || state_ == State::broken) state_ = State::resetting;
    } else {
        state_ = State::filling;
    }
    condition_.notify_all();
}

void Barrier::abort() {
    std::lock_guard hold(condition_);
    break_locked();
}

int Barrier::n_waiting() const {
    std::lock_guard hold(condition_);
    return state_ == State::filling ? count_ : 0;
}

bool Barrier::broken() const {
    std::lock_guard hold(condition_);
    return state_ == State::broken;
}

}  // namespace tandem::threading
