// Internal: the Linux futex, for sleeping on a 32-bit atomic with a deadline.
//
// std::atomic::wait has no timeout, and a mutex + condition variable costs a lock
// on every completion. Futures and the thread pool's parked workers sleep on
// their own state word instead, so the hot path is one atomic exchange and a
// wake-up system call happens only when somebody actually sleeps. The same
// calls serve words in shared memory that other processes sleep on
// (multiprocessing's primitives, the process pool's rings):
//
//     while (word.load() == 0) futex_wait(word, 0, deadline, FutexScope::shared);
//     ...
//     word.store(1);
//     futex_wake(word, 1, FutexScope::shared);
#pragma once

#include <time.h>  // timespec

#include <atomic>    // the words we sleep on
#include <chrono>    // deadlines
#include <cstdint>   // std::uint32_t
#include <optional>  // "no deadline"

#include <sched.h>  // sched_yield

namespace tandem::detail {

using Clock = std::chrono::steady_clock;
using Deadline = std::optional<Clock::time_point>;

/// Who sleeps on a word: threads of this process only (the kernel keys the
/// wait on the address, the cheaper form), or any process that maps the
/// word's shared memory.
enum class FutexScope { this_process, shared };

/// Sleeps while `word` holds `expected`, until woken or `deadline` passes.
/// Returns false only when the deadline passed. Spurious returns are possible:
/// callers re-check their condition in a loop.
bool futex_wait(std::atomic<std::uint32_t>& word, std::uint32_t expected, Deadline deadline,
                FutexScope scope = FutexScope::this_process) noexcept;

/// Wakes up to `count` threads (or processes) sleeping on `word`.
void futex_wake(std::atomic<std::uint32_t>& word, int count, FutexScope scope = FutexScope::this_process) noexcept;

/// The same on the low 32 bits of a 64-bit word (a future keeps its status
/// there and a reference count above): sleeps while they hold `expected`,
/// whatever happens to the high half.
bool futex_wait(std::atomic<std::uint64_t>& word, std::uint32_t expected, Deadline deadline) noexcept;
void futex_wake(std::atomic<std::uint64_t>& word, int count) noexcept;

/// `when` as the kernel's absolute CLOCK_MONOTONIC time (steady_clock's clock
/// on Linux), no later than an hour from now: a far deadline never overflows
/// a timespec, and callers re-check their condition after waking anyway.
timespec monotonic_timespec(Clock::time_point when) noexcept;

/// Turns a relative timeout into a deadline, saturating instead of overflowing
/// for huge durations.
template <class Rep, class Period>
Clock::time_point deadline_after(std::chrono::duration<Rep, Period> timeout) noexcept {
    const auto now = Clock::now();
    if (timeout <= std::chrono::duration<Rep, Period>::zero()) return now;
    const auto limit = std::chrono::duration_cast<std::chrono::duration<double>>(Clock::time_point::max() - now);
    if (std::chrono::duration_cast<std::chrono::duration<double>>(timeout) >= limit) return Clock::time_point::max();
    return now + std::chrono::ceil<Clock::duration>(timeout);
}

/// A short pause inside a spin loop.
inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("yield");
#endif
}

/// Spins until `ready()` or `budget` has passed; true if ready. After a few
/// pauses it yields the CPU between checks: with more spinners than cores
/// (a pool's worker, its collector and a waiting caller on two cores), the
/// thread that would make `ready()` true may be waiting for this very core.
template <class Ready>
bool spin_until(Ready ready, std::chrono::nanoseconds budget) noexcept {
    constexpr int kPauses = 64;
    for (int i = 0; i < kPauses; ++i) {
        if (ready()) return true;
        cpu_relax();
    }
    const auto give_up = Clock::now() + budget;
    for (;;) {
        if (ready()) return true;
        if (Clock::now() >= give_up) return false;
        sched_yield();
    }
}

}  // namespace tandem::detail
