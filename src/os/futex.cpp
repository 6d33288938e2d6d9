// The futex system call behind detail::futex_wait / futex_wake.
#include "tandem/detail/os/futex.hpp"

#include <linux/futex.h>  // FUTEX_WAIT_BITSET, FUTEX_WAKE, FUTEX_PRIVATE_FLAG
#include <sys/syscall.h>  // SYS_futex
#include <unistd.h>       // syscall

#include <algorithm>  // std::min
#include <bit>        // std::endian: where the low half of a 64-bit word is
#include <cerrno>     // ETIMEDOUT
#include <ctime>      // timespec

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

// FUTEX_PRIVATE_FLAG keys a wait on the address in this process only; a word
// that other processes map needs the shared form.
int flags(FutexScope scope) noexcept { return scope == FutexScope::this_process ? FUTEX_PRIVATE_FLAG : 0; }

bool wait_on(std::uint32_t* address, std::uint32_t expected, Deadline deadline, FutexScope scope) noexcept {
    timespec absolute{};
    timespec* timeout = nullptr;
    if (deadline) {
        if (*deadline <= Clock::now()) return false;
        // FUTEX_WAIT_BITSET takes an absolute time, so a retry after EINTR
        // does not stretch the wait.
        absolute = monotonic_timespec(*deadline);
        timeout = &absolute;
    }
    const long rc = syscall(SYS_futex, address, FUTEX_WAIT_BITSET | flags(scope), expected, timeout, nullptr,
                            FUTEX_BITSET_MATCH_ANY);
    if (rc == -1 && errno == ETIMEDOUT) return Clock::now() < *deadline;
    return true;
}

void wake_on(std::uint32_t* address, int count, FutexScope scope) noexcept {
    syscall(SYS_futex, address, FUTEX_WAKE | flags(scope), count, nullptr, nullptr, 0);
}
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
    return wait_on(raw(word), expected, deadline, scope);
}

void futex_wake(std::atomic<std::uint32_t>& word, int count, FutexScope scope) noexcept {
    wake_on(raw(word), count, scope);
}

bool futex_wait(std::atomic<std::uint64_t>& word, std::uint32_t expected, Deadline deadline) noexcept {
    return wait_on(raw_low_half(word), expected, deadline, FutexScope::this_process);
}

void futex_wake(std::atomic<std::uint64_t>& word, int count) noexcept {
    wake_on(raw_low_half(word), count, FutexScope::this_process);
}

}  // namespace tandem::detail
