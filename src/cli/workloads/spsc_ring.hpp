// tandem bench: a lock-free ring for one producer thread and one consumer
// thread, the structure real-time audio code uses between a worker that
// renders blocks and the audio callback that must never wait for a lock.
#pragma once

#include <array>    // the slots
#include <atomic>   // head and tail
#include <cstddef>  // std::size_t
#include <utility>  // std::move

namespace tandem::cli {

/// A bounded FIFO of up to Capacity - 1 items; try_push from one thread,
/// try_pop from one other thread, neither ever blocks.
template <class T, std::size_t Capacity>
class SpscRing {
public:
    /// Adds `item` unless the ring is full; returns whether it did (producer only).
    bool try_push(const T& item) noexcept {
        const std::size_t tail = tail_.load(std::memory_order_relaxed);
        const std::size_t next = (tail + 1) % Capacity;
        if (next == head_.load(std::memory_order_acquire)) return false;
        slots_[tail] = item;
        tail_.store(next, std::memory_order_release);
        return true;
    }

    /// Takes the oldest item into `item` unless the ring is empty; returns
    /// whether it did (consumer only).
    bool try_pop(T& item) noexcept {
        const std::size_t head = head_.load(std::memory_order_relaxed);
        if (head == tail_.load(std::memory_order_acquire)) return false;
        item = slots_[head];
        head_.store((head + 1) % Capacity, std::memory_order_release);
        return true;
    }

    /// How many items are in the ring (exact only when neither side moves).
    std::size_t size() const noexcept {
        const std::size_t head = head_.load(std::memory_order_acquire);
        const std::size_t tail = tail_.load(std::memory_order_acquire);
        return (tail + Capacity - head) % Capacity;
    }

private:
    // Producer and consumer indices on separate cache lines.
    alignas(64) std::atomic<std::size_t> head_{0};
    alignas(64) std::atomic<std::size_t> tail_{0};
    std::array<T, Capacity> slots_{};
};

}  // namespace tandem::cli
