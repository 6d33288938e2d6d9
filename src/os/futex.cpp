// The futex system call behind detail::futex_wait / futex_wake.
#include "tandem/detail/os/futex.hpp"

#include <algorithm>      // std::min
#include <bit>            // std::endian: where the low half of a 64-bit word is
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
std::uint32_t* raw_low_half(std::atomic<std::uint64_t>& word) noexcept {
    static_assert(sizeof(std::atomic<std::uint64_t>) == sizeof(std::uint64_t));
    static_assert(std::endian::native == std::endian::little || std::endian::native == std::endian::big);
    return reinterpret_cast<std::uint32_t*>(&word) + (std::endian::native == std::endian::little ? 0 : 1);
}

bool wait_on(std::uint32_t* address, std::uint32_t expected, Deadline deadline) noexcept {
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
    const long rc = syscall(SYS_futex, address, FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG, expected, timeout,
                            nullptr, FUTEX_BITSET_MATCH_ANY);
    if (rc == -1 && errno == ETIMEDOUT) return Clock::now() < *deadline;
    return true;
}

void wake_on(std::uint32_t* address, int count) noexcept {
    syscall(SYS_futex, address, FUTEX_WAKE | FUTEX_PRIVATE_FLAG, count, nullptr, nullptr, 0);
}
}  // namespace

bool futex_wait(std::atomic<std::uint32_t>& word, std::uint32_t expected, Deadline deadline) noexcept {
    return wait_on(raw(word), expected, deadline);
}

void futex_wake(std::atomic<std::uint32_t>& word, int count) noexcept { wake_on(raw(word), count); }

bool futex_wait(std::atomic<std::uint64_t>& word, std::uint32_t expected, Deadline deadline) noexcept {
    return wait_on(raw_low_half(word), expected, deadline);
}

void futex_wake(std::atomic<std::uint64_t>& word, int count) noexcept { wake_on(raw_low_half(word), count); }

}  // namespace tandem::detail
