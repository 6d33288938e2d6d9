// tandem/threading/lock.hpp — threading.Lock and threading.RLock.
//
// Lock is Python's primitive lock: it has no owner, so any thread may release
// it (a common hand-off idiom in Python code), and releasing it twice is an
// error. RLock is the reentrant lock: the owning thread may acquire it again,
// and only the owner may release it. Both also model the C++ Lockable concept
// (lock/unlock/try_lock), so std::lock_guard, std::unique_lock and
// std::scoped_lock replace Python's `with lock:`.
//
//     tandem::threading::Lock lock;
//     {
//         std::lock_guard guard(lock);           // with lock:
//         // ...
//     }
//     if (lock.acquire(std::chrono::milliseconds(50))) {  // lock.acquire(timeout=0.05)
//         lock.release();
//     }
//
// Lock is a futex word with a short spin: acquiring and releasing it without
// contention is one atomic instruction each, and the kernel is entered only
// when a thread actually has to sleep or wake a sleeper.
#pragma once

#include <atomic>     // the lock word and the RLock owner
#include <chrono>     // timeouts
#include <cstdint>    // std::uint32_t, std::uint64_t
#include <pthread.h>  // pthread_self, the RLock owner's identity

#include "tandem/detail/os/futex.hpp"  // detail::Deadline, detail::deadline_after
#include "tandem/errors.hpp"           // RuntimeError, ValueError

namespace tandem::detail {
/// Python's check for Lock.acquire and RLock.acquire: only -1 (forever) may be
/// negative, and C++ spells forever as the overload without a timeout.
template <class Rep, class Period>
void check_lock_timeout(std::chrono::duration<Rep, Period> timeout) {
    if (timeout < std::chrono::duration<Rep, Period>::zero()) {
        throw ValueError("timeout value must be a non-negative number");
    }
}
/// The calling thread's identifier, the same value as threading::get_ident():
/// its pthread_t, as in CPython.
inline std::uint64_t current_ident() noexcept { return static_cast<std::uint64_t>(pthread_self()); }
}  // namespace tandem::detail

namespace tandem::threading {

class Condition;

/// A primitive lock (Python: threading.Lock). Not reentrant, no owner.
class Lock {
public:
    /// A new, unlocked lock.
    Lock() noexcept = default;
    Lock(const Lock&) = delete;
    Lock& operator=(const Lock&) = delete;

    /// Blocks until the lock is acquired; returns true.
    bool acquire() {
        if (try_acquire()) return true;
        return acquire_slow(std::nullopt);
    }
    /// acquire(false) takes the lock only if it is free; returns whether it did.
    /// acquire(true) is acquire().
    bool acquire(bool blocking) {
        if (try_acquire()) return true;
        return blocking && acquire_slow(std::nullopt);
    }
    /// Waits at most `timeout`; returns whether the lock was acquired.
    /// Throws ValueError if `timeout` is negative, as Python does.
    template <class Rep, class Period>
    bool acquire(std::chrono::duration<Rep, Period> timeout) {
        detail::check_lock_timeout(timeout);
        if (try_acquire()) return true;
        return acquire_slow(detail::deadline_after(timeout));
    }

    /// Unlocks; any thread may call it. Throws RuntimeError("release unlocked
    /// lock") if the lock is not locked.
    void release() {
        const std::uint32_t previous = word_.exchange(kUnlocked, std::memory_order_release);
        if (previous == kContended) {
            detail::futex_wake(word_, 1);
        } else if (previous == kUnlocked) {
            throw RuntimeError("release unlocked lock");
        }
    }

    /// True if some thread holds the lock.
    bool locked() const noexcept { return word_.load(std::memory_order_relaxed) != kUnlocked; }

    /// Lockable: as acquire().
    void lock() { acquire(); }
    /// Lockable: as release().
    void unlock() { release(); }
    /// Lockable: as acquire(false).
    bool try_lock() noexcept { return try_acquire(); }

private:
    static constexpr std::uint32_t kUnlocked = 0;
    static constexpr std::uint32_t kLockedUncontended = 1;
    // Locked, and a thread may be asleep on the word: release must wake one.
    static constexpr std::uint32_t kContended = 2;

    bool try_acquire() noexcept {
        std::uint32_t expected = kUnlocked;
        return word_.compare_exchange_strong(expected, kLockedUncontended, std::memory_order_acquire,
                                             std::memory_order_relaxed);
    }
    bool acquire_slow(detail::Deadline deadline) noexcept;

    std::atomic<std::uint32_t> word_{kUnlocked};
};

/// A reentrant lock (Python: threading.RLock): the owner may acquire it again
/// and must release it as many times.
class RLock {
public:
    /// A new, unlocked lock.
    RLock() noexcept = default;
    RLock(const RLock&) = delete;
    RLock& operator=(const RLock&) = delete;

    /// Blocks until acquired (at once if the caller owns it); returns true.
    bool acquire() {
        if (reenter()) return true;
        lock_.acquire();
        take_ownership(1);
        return true;
    }
    /// acquire(false) acquires only without waiting; returns whether it did.
    bool acquire(bool blocking) {
        if (reenter()) return true;
        if (!lock_.acquire(blocking)) return false;
        take_ownership(1);
        return true;
    }
    /// Waits at most `timeout`; returns whether the lock was acquired.
    /// Throws ValueError if `timeout` is negative.
    template <class Rep, class Period>
    bool acquire(std::chrono::duration<Rep, Period> timeout) {
        detail::check_lock_timeout(timeout);
        if (reenter()) return true;
        if (!lock_.acquire(timeout)) return false;
        take_ownership(1);
        return true;
    }

    /// Undoes one acquire(); the last one unlocks. Throws RuntimeError("cannot
    /// release un-acquired lock") if the calling thread is not the owner.
    void release() {
        if (!is_owned()) throw RuntimeError("cannot release un-acquired lock");
        if (--count_ == 0) {
            owner_.store(0, std::memory_order_relaxed);
            lock_.release();
        }
    }

    /// Lockable: as acquire().
    void lock() { acquire(); }
    /// Lockable: as release().
    void unlock() { release(); }
    /// Lockable: as acquire(false).
    bool try_lock() { return acquire(false); }

private:
    friend class Condition;

    // Only the owner ever stores its own identifier here, so a relaxed load
    // that equals the caller's identifier cannot be stale.
    bool is_owned() const noexcept { return owner_.load(std::memory_order_relaxed) == detail::current_ident(); }
    bool reenter() noexcept {
        if (!is_owned()) return false;
        ++count_;
        return true;
    }
    void take_ownership(std::uint64_t count) noexcept {
        owner_.store(detail::current_ident(), std::memory_order_relaxed);
        count_ = count;
    }
    // Condition.wait(): release every level at once, then restore them.
    std::uint64_t release_all() {
        const std::uint64_t count = count_;
        count_ = 0;
        owner_.store(0, std::memory_order_relaxed);
        lock_.release();
        return count;
    }
    void reacquire_all(std::uint64_t count) {
        lock_.acquire();
        take_ownership(count);
    }

    Lock lock_;
    std::atomic<std::uint64_t> owner_{0};
    std::uint64_t count_ = 0;  // touched only by the owner
};

}  // namespace tandem::threading
