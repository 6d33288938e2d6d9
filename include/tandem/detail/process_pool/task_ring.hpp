// Internal: the shared memory between a process pool and one of its workers.
//
// Each worker has a region of its own (detail::SharedRegion: a sealed memfd,
// so nothing can leak into /dev/shm and nobody can resize it) holding one
// WorkerArea, made when the worker starts and dropped when it dies. The
// parent maps every worker's area; a worker maps only its own, and a forked
// worker does not inherit the others' (Inherit::no, MADV_DONTFORK). A
// WorkerArea has two single-producer single-consumer rings of fixed-size
// slots: requests (the parent writes, the worker reads) and replies (the
// worker writes, the parent's collector reads: its thread, or a caller
// waiting in result()), plus what the worker says about itself: the task it
// is running, since when, whether its initializer has finished, and whether
// the collector sleeps.
//
// Everything in an area can be written by the worker at any moment, so the
// parent believes none of it without a check: each side keeps the count it
// owns (messages published, messages consumed) in its own memory
// (RingWriter, RingReader) and only publishes it in the ring; a slot header
// is copied once (copy_header) before any field is looked at; what the
// worker says about its task is checked against what the parent sent it
// (engine.cpp). A worker that lies can fail its own tasks, nothing else.
//
// A busy pipeline makes no system calls: a side that finds its ring empty
// spins briefly, then raises a "sleeping" flag and sleeps (the worker on a
// process-shared futex in its request ring, the collector in epoll over the
// workers' event fds); the other side issues a wake-up only when it sees the
// flag. The flag and the ring index are written and read with sequentially
// consistent operations on both sides (store flag, re-check ring / store
// index, check flag), so a wake-up can never be lost between the check and
// the sleep.
//
// A message that does not fit in a slot goes to a spill buffer that both
// sides keep mapped; one that carries descriptors (a handed-off Lock,
// Queue, ...) or is huge goes to a memfd of its own. Descriptors travel over
// the worker's control socket with SCM_RIGHTS *before* the slot announcing
// them is published, so the reader of the slot finds them already waiting
// (spill.hpp).
//
//     RingWriter requests(area->requests);                // the parent, once per worker
//     if (!requests.full()) {
//         SlotHeader* slot = requests.slot();               // fill header + payload
//         if (requests.publish()) futex_wake(area->requests.consumer_sleeping, 1, FutexScope::shared);
//     }
#pragma once

#include <atomic>   // indices, flags, the current task; atomic_signal_fence
#include <cstddef>  // std::size_t, std::byte
#include <cstdint>  // fixed-width fields shared between processes
#include <cstring>  // std::memcpy: copying a slot header out of shared memory

#include "tandem/detail/process_pool/crash_report.hpp"  // CrashRecord: a dying worker's stack

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

/// A single-producer single-consumer ring of kRingSlots slots, as it lies
/// in shared memory. Each side reads and writes it through its own
/// RingWriter or RingReader.
struct Ring {
    /// Messages published so far (written by the producer only).
    alignas(64) std::atomic<std::uint64_t> head{0};
    /// Messages consumed so far (written by the consumer only).
    alignas(64) std::atomic<std::uint64_t> tail{0};
    /// 1 while the consumer sleeps (or is about to) on this word.
    alignas(64) std::atomic<std::uint32_t> consumer_sleeping{0};
    alignas(64) std::byte slots[kRingSlots][kSlotBytes];
};

/// The producer's side of a ring. The count of messages published lives
/// here, in the producer's memory; the ring's `head` is only where it is
/// published. Slot addresses come from that private count, so the consumer
/// can never make the producer write outside its ring.
class RingWriter {
public:
    RingWriter() noexcept = default;
    explicit RingWriter(Ring& ring) noexcept : ring_(&ring) {}

    /// Messages consumed, as the consumer says (unchecked: see corrupt()).
    std::uint64_t consumed() const noexcept { return ring_->tail.load(std::memory_order_acquire); }
    /// Messages published so far.
    std::uint64_t published() const noexcept { return published_; }
    /// No free slot, or the consumer's count makes no sense (then corrupt()).
    bool full() const noexcept { return published_ - consumed() >= kRingSlots; }
    /// The consumer claims to have consumed messages never published, or the
    /// ring's published count is not ours: someone wrote over the ring.
    bool corrupt() const noexcept {
        return consumed() > published_ || ring_->head.load(std::memory_order_relaxed) != published_;
    }
    /// Where the next message goes.
    SlotHeader* slot() const noexcept { return reinterpret_cast<SlotHeader*>(ring_->slots[published_ % kRingSlots]); }
    /// Makes slot() visible; returns true if the consumer sleeps and must be woken.
    bool publish() noexcept {
        ++published_;
        ring_->head.store(published_, std::memory_order_seq_cst);
        return ring_->consumer_sleeping.load(std::memory_order_seq_cst) != 0 &&
               ring_->consumer_sleeping.exchange(0, std::memory_order_seq_cst) != 0;
    }

private:
    Ring* ring_ = nullptr;
    std::uint64_t published_ = 0;
};

/// The consumer's side of a ring, keeping the count of messages consumed in
/// the consumer's memory.
class RingReader {
public:
    RingReader() noexcept = default;
    explicit RingReader(Ring& ring) noexcept : ring_(&ring) {}

    /// Messages published and not yet consumed, as the producer says: more
    /// than kRingSlots (a count that went backwards wraps to a huge one)
    /// means someone wrote over the ring.
    std::uint64_t available() const noexcept { return ring_->head.load(std::memory_order_seq_cst) - consumed_; }
    bool empty() const noexcept { return available() == 0; }
    /// Whether the ring's two counts differ, read from the ring alone: a hint
    /// for a thread that does not own this side (the owner may be consuming
    /// meanwhile); only the owner's available() and the checks decide.
    bool looks_nonempty() const noexcept {
        return ring_->head.load(std::memory_order_seq_cst) != ring_->tail.load(std::memory_order_relaxed);
    }
    /// Whether the ring's consumed count is still the one this side published.
    bool tail_intact() const noexcept { return ring_->tail.load(std::memory_order_relaxed) == consumed_; }
    /// More messages than the ring holds, or the ring's consumed count is not
    /// ours: nothing in the ring can be trusted.
    bool corrupt() const noexcept { return available() > kRingSlots || !tail_intact(); }
    /// The bytes of the next message's slot (header first; see copy_header).
    const std::byte* slot() const noexcept { return ring_->slots[consumed_ % kRingSlots]; }
    /// Frees the slot slot() returned.
    void consume() noexcept {
        ++consumed_;
        ring_->tail.store(consumed_, std::memory_order_release);
    }

private:
    Ring* ring_ = nullptr;
    std::uint64_t consumed_ = 0;
};

/// A private copy of the header of `slot`, taken once: the other process may
/// change the shared bytes at any moment, so every check and every use is
/// made on the copy. The fence keeps the compiler from reading the shared
/// bytes again in place of the copy.
inline SlotHeader copy_header(const std::byte* slot) noexcept {
    SlotHeader header;
    std::memcpy(&header, slot, sizeof header);
    std::atomic_signal_fence(std::memory_order_seq_cst);
    return header;
}

/// The payload bytes of `slot` (kSlotPayload of them).
inline const std::byte* payload_of(const std::byte* slot) noexcept { return slot + sizeof(SlotHeader); }

/// Where a worker's start-up stands.
enum class WorkerPhase : std::uint32_t {
    starting = 0,     ///< running its initializer (or not yet started)
    ready = 1,        ///< initialized, serving tasks
    init_failed = 2,  ///< the initializer threw; `failure` says what
};

/// A worker's region.
struct WorkerArea {
    /// The id of the task the worker runs now, 0 when none. Written by the
    /// worker before it calls the task, so the parent knows which task a
    /// dead worker was running (checked against the tasks it was sent).
    alignas(64) std::atomic<std::uint64_t> current_task{0};
    /// When the current task started (steady_clock / CLOCK_MONOTONIC, in ns:
    /// the same clock in every process), for per-task timeouts (clamped by
    /// the parent to what it saw itself).
    std::atomic<std::int64_t> started_ns{0};
    std::atomic<WorkerPhase> phase{WorkerPhase::starting};
    /// 1 while the parent's collector sleeps (or is about to) in epoll; the
    /// worker, when it publishes a reply and swaps this to 0, writes its
    /// event fd. One per worker, so a worker can only delay its own replies.
    alignas(64) std::atomic<std::uint32_t> collector_sleeping{0};
    /// "TYPE: MESSAGE" of a failed initializer, NUL-terminated by the worker
    /// (the parent reads at most sizeof failure bytes).
    char failure[512]{};
    /// Its stack if it died of a fatal signal (crash_report.hpp).
    CrashRecord crash;
    Ring requests;
    Ring replies;
};

static_assert(std::atomic<std::uint64_t>::is_always_lock_free && std::atomic<std::uint32_t>::is_always_lock_free,
              "rings in shared memory need address-free lock-free atomics");

}  // namespace tandem::detail::process_pool
