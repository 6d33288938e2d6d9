// InterpreterLock: taking, dropping and handing over the emulated GIL, after
// CPython's take_gil/drop_gil (Python/ceval_gil.c), with FORCE_SWITCHING.
#include "tandem/interpreter_lock.hpp"

#include "tandem/errors.hpp"  // RuntimeError, ValueError

namespace tandem {

InterpreterLock::InterpreterLock(std::chrono::nanoseconds switch_interval) : interval_ns_(0) {
    set_switch_interval(switch_interval);
}

void InterpreterLock::set_switch_interval(std::chrono::nanoseconds interval) {
    if (interval <= std::chrono::nanoseconds::zero()) throw ValueError("switch interval must be strictly positive");
    interval_ns_.store(interval.count(), std::memory_order_relaxed);
}

void InterpreterLock::acquire() {
    const std::thread::id me = std::this_thread::get_id();
    if (held()) throw RuntimeError("InterpreterLock: the calling thread already holds the lock");
    std::unique_lock lock(mutex_);
    while (locked_.load(std::memory_order_relaxed)) {
        const std::uint64_t seen = switches_.load(std::memory_order_relaxed);
        const bool timed_out = released_.wait_for(lock, switch_interval()) == std::cv_status::timeout;
        // A whole interval with one thread holding the lock: ask it to drop.
        // A wake-up that was not a timeout (a release another waiter won)
        // starts a fresh interval, as in CPython.
        if (timed_out && locked_.load(std::memory_order_relaxed) &&
            switches_.load(std::memory_order_relaxed) == seen &&
            !drop_request_.exchange(true, std::memory_order_relaxed)) {
            drop_requests_.fetch_add(1, std::memory_order_relaxed);
        }
    }
    {
        // last_holder_ changes only under switch_mutex_ too, so that a
        // dropping holder waiting for the switch cannot miss it.
        std::lock_guard switching(switch_mutex_);
        locked_.store(true, std::memory_order_relaxed);
        owner_.store(me, std::memory_order_relaxed);
        if (last_holder_ != me) {
            last_holder_ = me;
            switches_.fetch_add(1, std::memory_order_relaxed);
        }
        switched_.notify_all();
    }
    // Whoever asked for a drop got what it waited for, or will ask again
    // after its next interval.
    drop_request_.store(false, std::memory_order_relaxed);
}

void InterpreterLock::release() {
    const std::thread::id me = std::this_thread::get_id();
    {
        std::lock_guard lock(mutex_);
        if (owner_.load(std::memory_order_relaxed) != me)
            throw RuntimeError("InterpreterLock: released by a thread that does not hold it");
        owner_.store(std::thread::id(), std::memory_order_relaxed);
        locked_.store(false, std::memory_order_relaxed);
    }
    released_.notify_one();
    if (!drop_request_.load(std::memory_order_relaxed)) return;
    // Forced switching: a waiter asked for the lock, so do not compete for it
    // again before some other thread has had it. The waiter that raised the
    // request is still in acquire(), so the wait ends.
    std::unique_lock switching(switch_mutex_);
    if (last_holder_ != me) return;
    drop_request_.store(false, std::memory_order_relaxed);
    switched_.wait(switching, [&] { return last_holder_ != me; });
}

void InterpreterLock::hand_over() {
    release();
    acquire();
}

}  // namespace tandem
