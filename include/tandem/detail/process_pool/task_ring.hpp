// Internal: the shared memory between a process pool and its workers.
//
// One memfd region (detail::SharedRegion, so nothing can leak into /dev/shm)
// holds a PoolHeader and one WorkerArea per worker slot. A WorkerArea has two
// single-producer single-consumer rings of fixed-size slots: requests (the
// parent writes, the worker reads) and replies (the worker writes, the
// parent's collector thread reads), plus what the parent must always know
// about the worker: the task it is running, since when, and whether its
// initializer has finished.
//
// A busy pipeline makes no system calls: a side that finds its ring empty
// spins briefly, then raises a "sleeping" flag and sleeps (the worker on a
// process-shared futex in its request ring, the collector in epoll on an
// eventfd); the other side issues a wake-up only when it sees the flag. The
// flag and the ring index are written and read with sequentially consistent
// operations on both sides (store flag, re-check ring / store index, check
// flag), so a wake-up can never be lost between the check and the sleep.
//
// A message that does not fit in a slot goes to a spill buffer that both
// sides keep mapped; one that carries descriptors (a handed-off Lock,
// Queue, ...) or is huge goes to a memfd of its own. Descriptors travel over
// the worker's control socket with SCM_RIGHTS *before* the slot announcing
// them is published, so the reader of the slot finds them already waiting
// (spill.hpp).
//
//     Ring& requests = area->requests;
//     if (!requests.full()) {
//         SlotHeader* slot = requests.producer_slot();   // fill header + payload
//         if (requests.publish()) wake_shared(requests.consumer_sleeping);
//     }
#pragma once

#include <linux/futex.h>  // FUTEX_WAIT_BITSET, FUTEX_WAKE (process-shared: no PRIVATE flag)
#include <sys/syscall.h>  // SYS_futex
#include <unistd.h>       // syscall

#include <atomic>   // indices, flags, the current task
#include <cstddef>  // std::size_t, std::byte
#include <cstdint>  // fixed-width fields shared between processes

namespace tandem::detail::process_pool {

/// Bytes per ring slot, header included: a task of a few kilobytes of
/// arguments travels inline; larger ones go to a spill buffer (spill.hpp).
inline constexpr std::size_t kSlotBytes = 16384;
/// Slots per ring. More than the parent ever has in flight per worker
/// (kDispatchDepth tasks plus a stop message), so no writer ever waits.
inline constexpr std::size_t kRingSlots = 8;
/// Tasks handed to one worker ahead of its replies: the one it runs and one
/// waiting, so the worker never idles while the parent refills, yet a long
/// task holds back at most one other (the workers effectively pull work).
inline constexpr std::size_t kDispatchDepth = 2;

/// What a slot carries.
enum class MessageKind : std::uint32_t {
    call = 1,  ///< request: an encoded call (remote_call.hpp)
    stop,      ///< request: finish and exit with status 0
    result,    ///< reply: the encoded result
    raised,    ///< reply: the encoded exception
};

/// Where a message's bytes are (spill.hpp).
enum class Carrier : std::uint32_t {
    slot = 1,  ///< in the slot's payload, `size` bytes
    spill,     ///< in a spill buffer; the payload is a SpillRef
    memfd,     ///< in a memfd of its own, sent on the control socket (with the
               ///< message's descriptors) before the slot; the payload is its size
};

/// The start of every slot.
struct SlotHeader {
    std::uint64_t task_id;
    MessageKind kind;
    Carrier carrier;
    std::uint32_t size;  ///< payload bytes used
};

inline constexpr std::size_t kSlotPayload = kSlotBytes - sizeof(SlotHeader);

/// Sleeps while the process-shared `word` holds `expected` (spurious returns possible).
inline void wait_shared(std::atomic<std::uint32_t>& word, std::uint32_t expected) noexcept {
    static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t));
    syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), FUTEX_WAIT_BITSET, expected, nullptr, nullptr,
            FUTEX_BITSET_MATCH_ANY);
}

/// Wakes every process sleeping on `word`.
inline void wake_shared(std::atomic<std::uint32_t>& word) noexcept {
    syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), FUTEX_WAKE, 1, nullptr, nullptr, 0);
}

/// A single-producer single-consumer ring of kRingSlots slots.
struct Ring {
    /// Messages published so far (written by the producer only).
    alignas(64) std::atomic<std::uint64_t> head{0};
    /// Messages consumed so far (written by the consumer only).
    alignas(64) std::atomic<std::uint64_t> tail{0};
    /// 1 while the consumer sleeps (or is about to) on this word.
    alignas(64) std::atomic<std::uint32_t> consumer_sleeping{0};
    alignas(64) std::byte slots[kRingSlots][kSlotBytes];

    // --- producer side ---
    bool full() const noexcept {
        return head.load(std::memory_order_relaxed) - tail.load(std::memory_order_acquire) >= kRingSlots;
    }
    SlotHeader* producer_slot() noexcept {
        return reinterpret_cast<SlotHeader*>(slots[head.load(std::memory_order_relaxed) % kRingSlots]);
    }
    /// Makes the slot visible; returns true if the consumer sleeps and must be woken.
    bool publish() noexcept {
        head.store(head.load(std::memory_order_relaxed) + 1, std::memory_order_seq_cst);
        return consumer_sleeping.load(std::memory_order_seq_cst) != 0 &&
               consumer_sleeping.exchange(0, std::memory_order_seq_cst) != 0;
    }

    // --- consumer side ---
    bool empty() const noexcept {
        return tail.load(std::memory_order_relaxed) == head.load(std::memory_order_seq_cst);
    }
    SlotHeader* consumer_slot() noexcept {
        return reinterpret_cast<SlotHeader*>(slots[tail.load(std::memory_order_relaxed) % kRingSlots]);
    }
    /// More messages published than the ring holds: the producer's process
    /// scribbled over the ring (a memory bug in a task); nothing in it can
    /// be trusted.
    bool corrupt() const noexcept {
        return head.load(std::memory_order_acquire) - tail.load(std::memory_order_relaxed) > kRingSlots;
    }
    /// Frees the slot consumer_slot() returned.
    void consume() noexcept { tail.store(tail.load(std::memory_order_relaxed) + 1, std::memory_order_release); }
    /// Back to the state of a fresh ring (only while neither side uses it).
    void reset() noexcept {
        head.store(0, std::memory_order_relaxed);
        tail.store(0, std::memory_order_relaxed);
        consumer_sleeping.store(0, std::memory_order_relaxed);
    }
};

/// Where a worker's start-up stands.
enum class WorkerPhase : std::uint32_t {
    starting = 0,     ///< running its initializer (or not yet started)
    ready = 1,        ///< initialized, serving tasks
    init_failed = 2,  ///< the initializer threw; `failure` says what
};

/// One worker slot of the region.
struct WorkerArea {
    /// The id of the task the worker runs now, 0 when none. Written by the
    /// worker before it calls the task, so the parent always knows which task
    /// a dead worker was running.
    alignas(64) std::atomic<std::uint64_t> current_task{0};
    /// When the current task started (steady_clock / CLOCK_MONOTONIC, in ns:
    /// the same clock in every process), for per-task timeouts.
    std::atomic<std::int64_t> started_ns{0};
    std::atomic<WorkerPhase> phase{WorkerPhase::starting};
    /// "TYPE: MESSAGE" of a failed initializer, NUL-terminated.
    char failure[512];
    Ring requests;
    Ring replies;

    void reset() noexcept {
        current_task.store(0, std::memory_order_relaxed);
        started_ns.store(0, std::memory_order_relaxed);
        phase.store(WorkerPhase::starting, std::memory_order_relaxed);
        failure[0] = '\0';
        requests.reset();
        replies.reset();
    }
};

/// The start of the region: what all workers share.
struct PoolHeader {
    /// 1 while the parent's collector sleeps (or is about to) in epoll; a
    /// worker that publishes a reply and swaps it to 0 writes the eventfd.
    alignas(64) std::atomic<std::uint32_t> collector_sleeping{0};
};

static_assert(std::atomic<std::uint64_t>::is_always_lock_free && std::atomic<std::uint32_t>::is_always_lock_free,
              "rings in shared memory need address-free lock-free atomics");

/// Bytes of a region for `workers` slots.
constexpr std::size_t region_size(std::size_t workers) noexcept {
    return sizeof(PoolHeader) + workers * sizeof(WorkerArea);
}

/// The header at the start of a mapped region.
inline PoolHeader* header_of(std::byte* region) noexcept { return reinterpret_cast<PoolHeader*>(region); }

/// Worker slot `index` of a mapped region.
inline WorkerArea* area_of(std::byte* region, std::size_t index) noexcept {
    return reinterpret_cast<WorkerArea*>(region + sizeof(PoolHeader) + index * sizeof(WorkerArea));
}

}  // namespace tandem::detail::process_pool
