// The contended path of threading::Lock: spin briefly, then sleep on the futex.
#include "tandem/threading/lock.hpp"

namespace tandem::threading {

namespace {
// Long enough to cover a holder that is about to release (a short critical
// section), short enough that a waiter behind a long one goes to sleep quickly.
constexpr int kSpinRounds = 100;
}  // namespace

bool Lock::acquire_slow(detail::Deadline deadline) noexcept {
    for (int round = 0; round < kSpinRounds; ++round) {
        if (word_.load(std::memory_order_relaxed) == kUnlocked && try_acquire()) return true;
        detail::cpu_relax();
    }
    // From here on the word says "contended" whenever we hold or wait for it,
    // so that whoever releases knows a sleeper may need waking. Taking the lock
    // as "contended" costs at most one needless wake-up later.
    while (word_.exchange(kContended, std::memory_order_acquire) != kUnlocked) {
        if (!detail::futex_wait(word_, kContended, deadline)) {
            // Out of time; one last try so that a release racing with the
            // deadline is not missed.
            std::uint32_t expected = kUnlocked;
            return word_.compare_exchange_strong(expected, kContended, std::memory_order_acquire,
                                                 std::memory_order_relaxed);
        }
    }
    return true;
}

}  // namespace tandem::threading
