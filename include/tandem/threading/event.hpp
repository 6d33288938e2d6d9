// tandem/threading/event.hpp — threading.Event.
//
// A flag that threads wait for: set() wakes every waiter, clear() resets it.
// As in Python (gh-57711), a thread that was waiting when set() was called
// returns true even if clear() runs before it wakes up.
//
//     tandem::threading::Event stop;
//     tandem::threading::Thread worker([&] {
//         while (!stop.wait(std::chrono::milliseconds(100))) { /* periodic work */ }
//     });
//     worker.start();
//     stop.set();
//     worker.join();
//
// The flag and a count of set() calls share one futex word, so set() and
// is_set() never take a lock and set() enters the kernel only if someone sleeps.
#pragma once

#include <atomic>   // the state word
#include <chrono>   // timeouts
#include <cstdint>  // std::uint32_t

#include "tandem/detail/os/futex.hpp"  // detail::Deadline, detail::deadline_after

namespace tandem::threading {

/// An event flag (Python: threading.Event).
class Event {
public:
    /// A new event, not set.
    Event() noexcept = default;
    Event(const Event&) = delete;
    Event& operator=(const Event&) = delete;

    /// True if the flag is set.
    bool is_set() const noexcept { return (word_.load(std::memory_order_acquire) & kSetBit) != 0; }
    /// Sets the flag and wakes every waiting thread.
    void set() noexcept;
    /// Resets the flag; later wait() calls block until set() is called again.
    void clear() noexcept { word_.fetch_and(~kSetBit, std::memory_order_relaxed); }

    /// Waits until the flag is set; returns true.
    bool wait() noexcept { return wait_until(std::nullopt); }
    /// Waits at most `timeout` (negative counts as zero); returns true if the
    /// flag was set (or set while waiting), false on timeout.
    template <class Rep, class Period>
    bool wait(std::chrono::duration<Rep, Period> timeout) noexcept {
        return wait_until(detail::deadline_after(timeout));
    }

private:
    // Bit 0: the flag. Bit 1: someone may be asleep, so set() must wake.
    // The rest: how many times set() raised the flag, so that a waiter can tell
    // it was set even after a quick clear().
    static constexpr std::uint32_t kSetBit = 1;
    static constexpr std::uint32_t kSleepersBit = 2;
    static constexpr std::uint32_t kGenerationStep = 4;
    static constexpr std::uint32_t generation_mask = ~(kSetBit | kSleepersBit);

    bool wait_until(detail::Deadline deadline) noexcept;

    std::atomic<std::uint32_t> word_{0};
};

}  // namespace tandem::threading
