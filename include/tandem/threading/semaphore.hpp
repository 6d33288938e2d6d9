// tandem/threading/semaphore.hpp — threading.Semaphore and
// threading.BoundedSemaphore.
//
// A counter of available permits: acquire() takes one, waiting while there are
// none; release(n) returns n and wakes up to n waiters. A BoundedSemaphore
// refuses to hold more permits than it started with, which catches the classic
// bug of releasing more often than acquiring.
//
//     tandem::threading::BoundedSemaphore connections(4);   // at most 4 at once
//     {
//         std::lock_guard permit(connections);               // with connections:
//         // ... use one of the 4 connections ...
//     }
//     if (connections.acquire(std::chrono::milliseconds(100))) { /* ... */ connections.release(); }
//
// The count is a futex word: acquire and release are one atomic operation each
// unless a thread has to sleep. The count is limited to INT_MAX permits (Python
// has no limit); releasing beyond it throws ValueError.
#pragma once

#include <atomic>   // the count and the number of sleepers
#include <chrono>   // timeouts
#include <climits>  // INT_MAX, the largest count
#include <cstdint>  // std::uint32_t

#include "tandem/detail/os/futex.hpp"  // detail::Deadline, detail::deadline_after
#include "tandem/errors.hpp"           // ValueError

namespace tandem::threading {

/// A counting semaphore (Python: threading.Semaphore).
class Semaphore {
public:
    /// A semaphore holding `value` permits. Throws ValueError("semaphore initial
    /// value must be >= 0") if `value` is negative.
    explicit Semaphore(int value = 1) : Semaphore(value, false) {}
    Semaphore(const Semaphore&) = delete;
    Semaphore& operator=(const Semaphore&) = delete;

    /// Takes a permit, waiting as long as needed; returns true.
    bool acquire() {
        if (try_acquire()) return true;
        return acquire_slow(std::nullopt);
    }
    /// acquire(false) takes a permit only if one is free; returns whether it did.
    bool acquire(bool blocking) {
        if (try_acquire()) return true;
        return blocking && acquire_slow(std::nullopt);
    }
    /// Waits at most `timeout` (negative counts as zero, as in Python);
    /// returns whether a permit was taken.
    template <class Rep, class Period>
    bool acquire(std::chrono::duration<Rep, Period> timeout) {
        if (try_acquire()) return true;
        return acquire_slow(detail::deadline_after(timeout));
    }

    /// Returns `n` permits and wakes up to `n` waiters. Throws
    /// ValueError("n must be one or more") if n < 1; for a BoundedSemaphore,
    /// ValueError("Semaphore released too many times") if the count would
    /// exceed its initial value, leaving the count unchanged.
    void release(int n = 1);

    /// Lockable: as acquire().
    void lock() { acquire(); }
    /// Lockable: as release().
    void unlock() { release(); }
    /// Lockable: as acquire(false).
    bool try_lock() noexcept { return try_acquire(); }

protected:
    // `bounded`: the count may not exceed `value`.
    Semaphore(int value, bool bounded);

private:
    bool try_acquire() noexcept {
        std::uint32_t count = count_.load(std::memory_order_relaxed);
        while (count > 0) {
            if (count_.compare_exchange_weak(count, count - 1, std::memory_order_acquire,
                                             std::memory_order_relaxed)) {
                return true;
            }
        }
        return false;
    }
    bool acquire_slow(detail::Deadline deadline) noexcept;

    std::atomic<std::uint32_t> count_;
    std::atomic<std::uint32_t> sleepers_{0};
    const bool bounded_;
    const std::uint32_t limit_;  // the most permits the semaphore may hold
};

/// A semaphore that may not be released above its initial value
/// (Python: threading.BoundedSemaphore).
class BoundedSemaphore : public Semaphore {
public:
    /// A semaphore holding, and bounded by, `value` permits. Throws ValueError
    /// if `value` is negative.
    explicit BoundedSemaphore(int value = 1) : Semaphore(value, true) {}
};

}  // namespace tandem::threading
