// The futex system call behind detail::futex_wait / futex_wake.
#include "tandem/detail/os/futex.hpp"

#include <algorithm>      // std::min
#include <cerrno>         // EINTR, ETIMEDOUT
#include <climits>        // INT_MAX
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
}  // namespace

bool futex_wait(std::atomic<std::uint32_t>& word, std::uint32_t expected, Deadline deadline) noexcept {
    timespec absolute{};
    timespec* timeout = nullptr;
    if (deadline) {
        const auto now = Clock::now();
        if (*deadline <= now) return false;
        // Sleep in chunks of at most an hour: a "forever" deadline would
        // overflow the kernel's timespec, and the caller re-checks anyway.
        const auto wake_at = std::min(*deadline, now + std::chrono::hours(1));
        // FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC time, which is
        // what steady_clock reads on Linux, so a retry after EINTR does not
        // stretch the wait.
        const auto since_epoch = wake_at.time_since_epoch();
        const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(since_epoch);
        absolute.tv_sec = static_cast<time_t>(seconds.count());
        absolute.tv_nsec = static_cast<long>(std::chrono::duration_cast<std::chrono::nanoseconds>(since_epoch - seconds).count());
        timeout = &absolute;
    }
    const long rc = syscall(SYS_futex, raw(word), FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG, expected, timeout,
                            nullptr, FUTEX_BITSET_MATCH_ANY);
    if (rc == -1 && errno == ETIMEDOUT) return Clock::now() < *deadline;
    return true;
}

void futex_wake(std::atomic<std::uint32_t>& word, int count) noexcept {
    syscall(SYS_futex, raw(word), FUTEX_WAKE | FUTEX_PRIVATE_FLAG, count, nullptr, nullptr, 0);
}

}  // namespace tandem::detail
