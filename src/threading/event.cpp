// threading::Event: set() and the sleeping wait.
#include "tandem/threading/event.hpp"

#include <climits>  // INT_MAX: wake every waiter

namespace tandem::threading {

void Event::set() noexcept {
    std::uint32_t word = word_.load(std::memory_order_relaxed);
    std::uint32_t raised = 0;
    do {
        if (word & kSetBit) return;
        // A new generation, the flag up, and nobody known to be asleep any more.
        raised = ((word & generation_mask) + kGenerationStep) | kSetBit;
    } while (!word_.compare_exchange_weak(word, raised, std::memory_order_release, std::memory_order_relaxed));
    if (word & kSleepersBit) detail::futex_wake(word_, INT_MAX);
}

bool Event::wait_until(detail::Deadline deadline) noexcept {
    std::uint32_t word = word_.load(std::memory_order_acquire);
    const std::uint32_t generation = word & generation_mask;
    const auto raised = [generation](std::uint32_t seen) {
        return (seen & kSetBit) != 0 || (seen & generation_mask) != generation;
    };
    while (!raised(word)) {
        if (!(word & kSleepersBit)) {
            if (!word_.compare_exchange_weak(word, word | kSleepersBit, std::memory_order_acquire)) continue;
            word |= kSleepersBit;
        }
        const bool in_time = detail::futex_wait(word_, word, deadline);
        word = word_.load(std::memory_order_acquire);
        if (!in_time) return raised(word);
    }
    return true;
}

}  // namespace tandem::threading
