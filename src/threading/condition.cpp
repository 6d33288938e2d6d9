// threading::Condition: a FIFO queue of waiters, each asleep on its own word,
// as CPython gives each waiter its own lock.
#include "tandem/threading/condition.hpp"

#include <atomic>   // the waiter's wake-up word
#include <cstdint>  // std::uint32_t, std::uint64_t
#include <limits>   // notify_all wakes "all"
#include <mutex>    // std::lock_guard over the waiters' lock

namespace tandem::threading {

// Lives on the waiting thread's stack. The notifier signals and wakes it while
// holding waiters_lock_, and the waiter takes that lock before leaving wait(),
// so the node never disappears under a notifier.
struct Condition::Waiter {
    std::atomic<std::uint32_t> notified{0};
    Waiter* previous = nullptr;
    Waiter* next = nullptr;
};

bool Condition::wait_until(detail::Deadline deadline) {
    if (!is_owned()) throw RuntimeError("cannot wait on un-acquired lock");
    Waiter self;
    {
        std::lock_guard guard(waiters_lock_);
        self.previous = last_;
        (last_ ? last_->next : first_) = &self;
        last_ = &self;
    }
    // Enqueued before the lock is released: a notify() made by whoever takes
    // the lock next cannot miss this waiter.
    std::uint64_t levels = 0;
    if (plain_) {
        plain_->release();
    } else {
        levels = recursive_->release_all();
    }

    while (self.notified.load(std::memory_order_acquire) == 0) {
        if (!detail::futex_wait(self.notified, 0, deadline)) break;
    }
    bool notified = true;
    {
        std::lock_guard guard(waiters_lock_);
        if (self.notified.load(std::memory_order_acquire) == 0) {
            notified = false;  // timed out and still queued: leave the queue
            (self.previous ? self.previous->next : first_) = self.next;
            (self.next ? self.next->previous : last_) = self.previous;
        }
    }

    if (plain_) {
        plain_->acquire();
    } else {
        recursive_->reacquire_all(levels);
    }
    return notified;
}

void Condition::wake(std::size_t n) {
    if (!is_owned()) throw RuntimeError("cannot notify on un-acquired lock");
    std::lock_guard guard(waiters_lock_);
    for (; n > 0 && first_ != nullptr; --n) {
        Waiter* waiter = first_;
        first_ = waiter->next;
        (first_ ? first_->previous : last_) = nullptr;
        waiter->notified.store(1, std::memory_order_release);
        detail::futex_wake(waiter->notified, 1);
    }
}

void Condition::notify(int n) {
    // Python's loop simply does nothing for n <= 0; the ownership check still
    // applies.
    wake(n > 0 ? static_cast<std::size_t>(n) : 0);
}

void Condition::notify_all() { wake(std::numeric_limits<std::size_t>::max()); }

}  // namespace tandem::threading
