// The futex system call behind detail::futex_wait / futex_wake.
#include "tandem/detail/os/futex.hpp"

#include <algorithm>      // std::min
#include <cerrno>         // EINTR, ETIMEDOUT
#include <ctime>          // timespec
#include <linux/futex.h>  // FUTEX_WAIT_BITSET, FUTEX_WAKE
#include <sys/syscall.h>  // SYS_futex
#include <unistd.h>       // syscall

namespace tandem::detail {

namespace {
// std::atomic<uint32_t> has the size and alignment of uint32_t on every platform
// we build for; the kernel only ever reads the word.
std::uint32_t* raw(std::atomic<std::uint32_t>& word) noexcept {
    static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t));
    return reinterpret_cast<std::uint32_t*>(&word);
}

// FUTEX_PRIVATE_FLAG keys a wait on the address in this process only; a word
// that other processes map needs the shared form.
int flags(FutexScope scope) noexcept { return scope == FutexScope::this_process ? FUTEX_PRIVATE_FLAG : 0; }
}  // namespace

timespec monotonic_timespec(Clock::time_point when) noexcept {
    const auto since_epoch = std::min(when, Clock::now() + std::chrono::hours(1)).time_since_epoch();
    const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(since_epoch);
    timespec result{};
    result.tv_sec = static_cast<time_t>(seconds.count());
    result.tv_nsec =
        static_cast<long>(std::chrono::duration_cast<std::chrono::nanoseconds>(since_epoch - seconds).count());
    return result;
}

bool futex_wait(std::atomic<std::uint32_t>& word, std::uint32_t expected, Deadline deadline,
                FutexScope scope) noexcept {
    timespec absolute{};
    timespec* timeout = nullptr;
    if (deadline) {
        if (*deadline <= Clock::now()) return false;
        // FUTEX_WAIT_BITSET takes an absolute time, so a retry after EINTR
        // does not stretch the wait.
        absolute = monotonic_timespec(*deadline);
        timeout = &absolute;
    }
    const long rc = syscall(SYS_futex, raw(word), FUTEX_WAIT_BITSET | flags(scope), expected, timeout, nullptr,
                            FUTEX_BITSET_MATCH_ANY);
    if (rc == -1 && errno == ETIMEDOUT) return Clock::now() < *deadline;
    return true;
}

void futex_wake(std::atomic<std::uint32_t>& word, int count, FutexScope scope) noexcept {
    syscall(SYS_futex, raw(word), FUTEX_WAKE | flags(scope), count, nullptr, nullptr, 0);
}

}  // namespace tandem::detail
