// Internal: the per-worker work-stealing deque (Chase and Lev, with the C11
// orderings of Lê, Pop, Cohen and Zappa Nardelli, PPoPP 2013).
//
// The owning worker pushes and pops at the bottom (LIFO, cache-warm); other
// workers steal from the top (FIFO, the oldest and usually largest work). The
// operations that the correctness argument relies on are seq_cst atomics rather
// than relaxed operations plus standalone fences, because ThreadSanitizer does
// not model fences; on x86 this costs the same.
//
// Replaced arrays are kept until the deque dies: a thief may still be reading
// one, and growth is rare (capacity doubles).
#pragma once

#include <atomic>   // top, bottom, slots
#include <cstdint>  // std::int64_t indices
#include <memory>   // array ownership
#include <vector>   // retired arrays

namespace tandem::detail {

template <class T>
class WorkStealingDeque {
    static_assert(std::is_pointer_v<T>, "the deque holds pointers");

public:
    explicit WorkStealingDeque(std::int64_t capacity = 256) {
        arrays_.push_back(std::make_unique<Array>(capacity));
        array_.store(arrays_.back().get(), std::memory_order_relaxed);
    }
    WorkStealingDeque(const WorkStealingDeque&) = delete;
    WorkStealingDeque& operator=(const WorkStealingDeque&) = delete;

    /// Owner only.
    void push(T item) {
        const std::int64_t b = bottom_.load(std::memory_order_relaxed);
        const std::int64_t t = top_.load(std::memory_order_acquire);
        Array* array = array_.load(std::memory_order_relaxed);
        if (b - t > array->capacity - 1) array = grow(array, b, t);
        array->put(b, item);
        // seq_cst: also orders the push before the pool's "is anyone searching?"
        // check, so a worker about to sleep cannot miss this item.
        bottom_.store(b + 1, std::memory_order_seq_cst);
    }

    /// Owner only. Returns nullptr when empty.
    T pop() {
        const std::int64_t b = bottom_.load(std::memory_order_relaxed) - 1;
        Array* array = array_.load(std::memory_order_relaxed);
        bottom_.store(b, std::memory_order_seq_cst);
        std::int64_t t = top_.load(std::memory_order_seq_cst);
        if (t > b) {
            bottom_.store(b + 1, std::memory_order_relaxed);
            return nullptr;
        }
        T item = array->get(b);
        if (t == b) {
            // Last item: race the thieves for it.
            if (!top_.compare_exchange_strong(t, t + 1, std::memory_order_seq_cst, std::memory_order_relaxed))
                item = nullptr;
            bottom_.store(b + 1, std::memory_order_relaxed);
        }
        return item;
    }

    /// Any thread. Returns nullptr when empty or when it lost a race.
    T steal() {
        std::int64_t t = top_.load(std::memory_order_seq_cst);
        const std::int64_t b = bottom_.load(std::memory_order_seq_cst);
        if (t >= b) return nullptr;
        Array* array = array_.load(std::memory_order_acquire);
        T item = array->get(t);
        if (!top_.compare_exchange_strong(t, t + 1, std::memory_order_seq_cst, std::memory_order_relaxed))
            return nullptr;
        return item;
    }

    /// Any thread; a snapshot.
    bool empty() const noexcept {
        return top_.load(std::memory_order_seq_cst) >= bottom_.load(std::memory_order_seq_cst);
    }

private:
    struct Array {
        explicit Array(std::int64_t size) : capacity(size), mask(size - 1), slots(new std::atomic<T>[static_cast<std::size_t>(size)]) {}
        T get(std::int64_t i) const noexcept { return slots[i & mask].load(std::memory_order_relaxed); }
        void put(std::int64_t i, T item) noexcept { slots[i & mask].store(item, std::memory_order_relaxed); }
        const std::int64_t capacity;
        const std::int64_t mask;
        std::unique_ptr<std::atomic<T>[]> slots;
    };

    Array* grow(Array* old, std::int64_t b, std::int64_t t) {
        auto bigger = std::make_unique<Array>(old->capacity * 2);
        for (std::int64_t i = t; i < b; ++i) bigger->put(i, old->get(i));
        Array* raw = bigger.get();
        arrays_.push_back(std::move(bigger));
        array_.store(raw, std::memory_order_release);
        return raw;
    }

    alignas(64) std::atomic<std::int64_t> top_{0};
    alignas(64) std::atomic<std::int64_t> bottom_{0};
    std::atomic<Array*> array_{nullptr};
    std::vector<std::unique_ptr<Array>> arrays_;  // owner only
};

}  // namespace tandem::detail
