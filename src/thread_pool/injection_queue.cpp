// The thread pool's injection queue (see detail/thread_pool/injection_queue.hpp).
#include "tandem/detail/thread_pool/injection_queue.hpp"

#include <thread>  // yield while close() waits for pushes in progress
#include <vector>  // ring cells

namespace tandem::detail {

namespace {
constexpr std::size_t ring_capacity = 4096;  // power of two
constexpr std::size_t refill_batch = ring_capacity / 4;  // overflowed tasks moved back into the ring at once
std::atomic<std::size_t> next_submitter_shard{0};
}  // namespace

struct alignas(64) InjectionQueue::Shard {
    struct Cell {
        std::atomic<std::uint64_t> sequence;
        Runnable* task = nullptr;
    };

    Shard() : cells(ring_capacity) {
        for (std::size_t i = 0; i < ring_capacity; ++i) cells[i].sequence.store(i, std::memory_order_relaxed);
    }

    bool try_push_ring(Runnable* task) noexcept {
        std::uint64_t position = enqueue_position.load(std::memory_order_relaxed);
        for (;;) {
            Cell& cell = cells[position & (ring_capacity - 1)];
            const std::uint64_t sequence = cell.sequence.load(std::memory_order_acquire);
            const auto difference = static_cast<std::int64_t>(sequence - position);
            if (difference == 0) {
                // seq_cst: the claim is what maybe_nonempty() reads, and it must
                // be ordered before the submitter's "is anyone searching?" check.
                if (enqueue_position.compare_exchange_weak(position, position + 1, std::memory_order_seq_cst,
                                                           std::memory_order_relaxed)) {
                    cell.task = task;
                    cell.sequence.store(position + 1, std::memory_order_release);
                    return true;
                }
            } else if (difference < 0) {
                return false;  // full
            } else {
                position = enqueue_position.load(std::memory_order_relaxed);
            }
        }
    }

    Runnable* try_pop_ring() noexcept {
        std::uint64_t position = dequeue_position.load(std::memory_order_relaxed);
        for (;;) {
            Cell& cell = cells[position & (ring_capacity - 1)];
            const std::uint64_t sequence = cell.sequence.load(std::memory_order_acquire);
            const auto difference = static_cast<std::int64_t>(sequence - (position + 1));
            if (difference == 0) {
                if (dequeue_position.compare_exchange_weak(position, position + 1, std::memory_order_relaxed)) {
                    Runnable* task = cell.task;
                    cell.sequence.store(position + ring_capacity, std::memory_order_release);
                    return task;
                }
            } else if (difference < 0) {
                return nullptr;  // empty, or the next item is still being written
            } else {
                position = dequeue_position.load(std::memory_order_relaxed);
            }
        }
    }

    bool push(Runnable* task) {
        // Announce the push before checking `closed`, and close() sets `closed`
        // before waiting for announced pushes: either close() waits for this
        // push, or this push sees `closed`.
        pushers.fetch_add(1, std::memory_order_seq_cst);
        const bool accepted = !closed.load(std::memory_order_seq_cst);
        if (accepted) {
            // Once anything overflowed, later pushes follow it there, so one
            // submitter's tasks keep their order.
            if (overflow_size.load(std::memory_order_acquire) != 0 || !try_push_ring(task)) {
                std::lock_guard lock(overflow_mutex);
                overflow.push_back(task);
                overflow_size.fetch_add(1, std::memory_order_seq_cst);
            }
        }
        pushers.fetch_sub(1, std::memory_order_release);
        return accepted;
    }

    void close() noexcept {
        closed.store(true, std::memory_order_seq_cst);
        while (pushers.load(std::memory_order_acquire) != 0) std::this_thread::yield();
    }

    Runnable* pop() noexcept {
        if (Runnable* task = try_pop_ring()) return task;
        if (overflow_size.load(std::memory_order_acquire) == 0) return nullptr;
        std::lock_guard lock(overflow_mutex);
        if (overflow.empty()) return nullptr;
        Runnable* task = overflow.front();
        overflow.pop_front();
        overflow_size.fetch_sub(1, std::memory_order_release);
        refill_ring();
        return task;
    }

    /// Under the overflow lock: moves the oldest overflowed tasks back into
    /// the ring, so that the workers take the mutex once per batch rather
    /// than once per task. While anything is left in the overflow list, every
    /// push goes there (the ring is written only from here), and the count
    /// drops only once a task is in the ring: a submitter's tasks keep their
    /// order.
    void refill_ring() noexcept {
        for (std::size_t moved = 0; moved < refill_batch && !overflow.empty(); ++moved) {
            if (!try_push_ring(overflow.front())) return;
            overflow.pop_front();
            overflow_size.fetch_sub(1, std::memory_order_release);
        }
    }

    bool maybe_nonempty() const noexcept {
        return enqueue_position.load(std::memory_order_seq_cst) != dequeue_position.load(std::memory_order_seq_cst) ||
               overflow_size.load(std::memory_order_seq_cst) != 0;
    }

    alignas(64) std::atomic<std::uint64_t> enqueue_position{0};
    std::atomic<int> pushers{0};
    std::atomic<bool> closed{false};
    alignas(64) std::atomic<std::uint64_t> dequeue_position{0};
    alignas(64) std::atomic<std::size_t> overflow_size{0};
    std::vector<Cell> cells;
    std::mutex overflow_mutex;
    std::deque<Runnable*> overflow;
};

InjectionQueue::InjectionQueue(std::size_t shard_count)
    : shard_count_(shard_count == 0 ? 1 : shard_count), shards_(std::make_unique<Shard[]>(shard_count_)) {}

InjectionQueue::~InjectionQueue() = default;

bool InjectionQueue::push(Runnable* task) {
    // Each submitting thread keeps one shard for life: FIFO per submitter.
    thread_local const std::size_t my_shard = next_submitter_shard.fetch_add(1, std::memory_order_relaxed);
    return shards_[my_shard % shard_count_].push(task);
}

void InjectionQueue::close() noexcept {
    for (std::size_t i = 0; i < shard_count_; ++i) shards_[i].close();
}

Runnable* InjectionQueue::pop(std::size_t start) noexcept {
    for (std::size_t i = 0; i < shard_count_; ++i) {
        if (Runnable* task = shards_[(start + i) % shard_count_].pop()) return task;
    }
    return nullptr;
}

bool InjectionQueue::maybe_nonempty() const noexcept {
    for (std::size_t i = 0; i < shard_count_; ++i) {
        if (shards_[i].maybe_nonempty()) return true;
    }
    return false;
}

}  // namespace tandem::detail
