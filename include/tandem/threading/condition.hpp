// tandem/threading/condition.hpp — threading.Condition.
//
// A condition variable bound to a lock: a Lock or an RLock the caller passes,
// or, by default, an RLock of its own (as in Python). wait() releases the lock
// — every level of a recursively held RLock — sleeps until notified, and
// re-acquires it at the same level. Waiters are woken in the order they began
// waiting, and notify(n) wakes at most n of them.
//
//     tandem::threading::Condition ready;
//     std::deque<int> items;
//     // consumer                                       // with ready:
//     std::unique_lock hold(ready);
//     if (ready.wait_for([&] { return !items.empty(); }, std::chrono::seconds(1))) {
//         int item = items.front(); items.pop_front();
//     }
//     // producer
//     { std::lock_guard hold(ready); items.push_back(1); ready.notify(); }
//
// One deliberate difference: if a notification reaches a waiter whose timeout
// expires before it gets the lock back, wait() returns true. Python returns
// False there and the notification is lost to every other waiter.
#pragma once

#include <chrono>       // timeouts
#include <cstddef>      // std::size_t waiter counts
#include <type_traits>  // the predicate's result type

#include "tandem/detail/os/futex.hpp"  // detail::Deadline, detail::deadline_after
#include "tandem/errors.hpp"           // RuntimeError
#include "tandem/threading/lock.hpp"   // Lock, RLock

namespace tandem::threading {

/// A condition variable (Python: threading.Condition). The lock it is given
/// must outlive it.
class Condition {
public:
    /// A condition with its own RLock (Python: Condition()).
    Condition() noexcept : recursive_(&own_lock_) {}
    /// A condition over `lock` (Python: Condition(lock)).
    explicit Condition(Lock& lock) noexcept : plain_(&lock) {}
    /// A condition over `lock` (Python: Condition(lock)).
    explicit Condition(RLock& lock) noexcept : recursive_(&lock) {}
    Condition(const Condition&) = delete;
    Condition& operator=(const Condition&) = delete;

    /// Acquires the underlying lock; as Lock/RLock::acquire().
    bool acquire() { return plain_ ? plain_->acquire() : recursive_->acquire(); }
    /// As Lock/RLock::acquire(blocking).
    bool acquire(bool blocking) { return plain_ ? plain_->acquire(blocking) : recursive_->acquire(blocking); }
    /// As Lock/RLock::acquire(timeout): ValueError if negative.
    template <class Rep, class Period>
    bool acquire(std::chrono::duration<Rep, Period> timeout) {
        return plain_ ? plain_->acquire(timeout) : recursive_->acquire(timeout);
    }
    /// Releases the underlying lock; throws as Lock/RLock::release().
    void release() { plain_ ? plain_->release() : recursive_->release(); }
    /// Lockable: as acquire().
    void lock() { acquire(); }
    /// Lockable: as release().
    void unlock() { release(); }
    /// Lockable: as acquire(false).
    bool try_lock() { return acquire(false); }

    /// Releases the lock, waits for a notification, re-acquires the lock;
    /// returns true. Throws RuntimeError("cannot wait on un-acquired lock")
    /// unless the caller holds the lock.
    bool wait() { return wait_until(std::nullopt); }
    /// As wait(), giving up after `timeout` (negative counts as zero); returns
    /// false if it timed out. The lock is held again either way.
    template <class Rep, class Period>
    bool wait(std::chrono::duration<Rep, Period> timeout) {
        return wait_until(detail::deadline_after(timeout));
    }

    /// Waits until `predicate()` is truthy; returns its last value.
    template <class Predicate>
    auto wait_for(Predicate predicate) -> std::invoke_result_t<Predicate&> {
        auto result = predicate();
        while (!result) {
            wait();
            result = predicate();
        }
        return result;
    }
    /// As wait_for(predicate), giving up after `timeout`; returns the
    /// predicate's last value, falsy if it timed out.
    template <class Predicate, class Rep, class Period>
    auto wait_for(Predicate predicate, std::chrono::duration<Rep, Period> timeout)
        -> std::invoke_result_t<Predicate&> {
        const auto deadline = detail::deadline_after(timeout);
        auto result = predicate();
        while (!result) {
            if (detail::Clock::now() >= deadline) break;
            wait_until(deadline);
            result = predicate();
        }
        return result;
    }

    /// Wakes at most `n` waiters (none if n <= 0), longest waiting first.
    /// Throws RuntimeError("cannot notify on un-acquired lock") unless the
    /// caller holds the lock.
    void notify(int n = 1);
    /// Wakes every waiter. Throws as notify().
    void notify_all();

private:
    struct Waiter;

    // Python's Condition._is_owned: an RLock must be held by the caller; a Lock
    // only has to be locked, since a Lock has no owner.
    bool is_owned() const noexcept { return plain_ ? plain_->locked() : recursive_->is_owned(); }
    bool wait_until(detail::Deadline deadline);
    void wake(std::size_t n);

    RLock own_lock_;  // used only by Condition()
    Lock* plain_ = nullptr;
    RLock* recursive_ = nullptr;
    // The queue of waiters has a lock of its own: with a Lock, "held" only
    // means locked by some thread, so the condition's lock cannot guard it.
    Lock waiters_lock_;
    Waiter* first_ = nullptr;
    Waiter* last_ = nullptr;
};

}  // namespace tandem::threading
