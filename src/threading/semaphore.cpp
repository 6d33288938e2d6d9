// threading::Semaphore: releasing and the sleeping path of acquiring.
#include "tandem/threading/semaphore.hpp"

namespace tandem::threading {

namespace {
constexpr int kSpinRounds = 100;  // as Lock: cover a release that is imminent

std::uint32_t initial_count(int value) {
    if (value < 0) throw ValueError("semaphore initial value must be >= 0");
    return static_cast<std::uint32_t>(value);
}
}  // namespace

Semaphore::Semaphore(int value, bool bounded)
    : count_(initial_count(value)), bounded_(bounded), limit_(bounded ? count_.load() : INT_MAX) {}

void Semaphore::release(int n) {
    if (n < 1) throw ValueError("n must be one or more");
    const auto added = static_cast<std::uint32_t>(n);
    std::uint32_t count = count_.load(std::memory_order_relaxed);
    do {
        if (added > limit_ - count) {
            throw ValueError(bounded_ ? "Semaphore released too many times" : "Semaphore value would exceed INT_MAX");
        }
        // seq_cst pairs with the sleeper's increment of sleepers_ below: either
        // we see the sleeper, or its futex_wait sees the new count.
    } while (!count_.compare_exchange_weak(count, count + added, std::memory_order_seq_cst,
                                           std::memory_order_relaxed));
    if (sleepers_.load(std::memory_order_seq_cst) > 0) detail::futex_wake(count_, n);
}

bool Semaphore::acquire_slow(detail::Deadline deadline) noexcept {
    for (int round = 0; round < kSpinRounds; ++round) {
        if (count_.load(std::memory_order_relaxed) > 0 && try_acquire()) return true;
        detail::cpu_relax();
    }
    for (;;) {
        sleepers_.fetch_add(1, std::memory_order_seq_cst);
        const bool in_time = detail::futex_wait(count_, 0, deadline);
        sleepers_.fetch_sub(1, std::memory_order_relaxed);
        // A permit may have appeared even if the deadline has passed.
        if (try_acquire()) return true;
        if (!in_time) return false;
    }
}

}  // namespace tandem::threading
