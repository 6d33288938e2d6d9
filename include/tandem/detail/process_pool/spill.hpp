// Internal: where a process-pool message too large for its ring slot goes.
//
// Each direction of each worker keeps a few "spill" buffers: memfds (detail::
// SharedRegion) that both sides keep mapped and reuse. A writer copies a
// large message into a spill buffer that the reader has finished with, and
// publishes a ring slot holding a SpillRef (which buffer, how many bytes).
// Only when it had to make a buffer (the first large message, or a larger
// one) does the buffer's descriptor travel over the worker's control socket,
// before the slot is published; the reader then maps it and keeps it.
//
// Reuse is what makes large messages fast: a fresh buffer costs a page fault
// per 4 KiB page on both sides (about 4 µs each on a small VM, far more than
// the copy), a reused one costs the copy alone.
//
// A buffer is free again once the ring's consumer has consumed the slot that
// named it: a worker consumes a request after the call returned (its
// arguments are decoded by then); the collector consumes a reply after
// delivering it. So the writer needs no message back, only the ring's tail.
//
// write_message() and read_message() choose and undo the carrier of a
// message (task_ring.hpp's Carrier); both sides of the pool use only them:
//
//     SlotHeader* slot = ring.producer_slot();                          // writer
//     slot->task_id = id;
//     slot->kind = MessageKind::result;
//     write_message(*slot, bytes, {}, spill_writer, ring, socket);
//     ring.publish();
//     SlotMessage message = read_message(*ring.consumer_slot(), spill_reader, socket);  // reader
#pragma once

#include <array>     // the buffers
#include <cstddef>   // std::size_t, std::byte
#include <cstdint>   // SpillRef's fields
#include <optional>  // a buffer not made yet, no free buffer
#include <span>      // the message read
#include <vector>    // descriptors received with a message

#include "tandem/detail/process_pool/task_ring.hpp"  // Ring
#include "tandem/detail/os/shared_region.hpp"           // the buffers
#include "tandem/detail/os/unique_fd.hpp"               // descriptors received with a message

namespace tandem::detail::process_pool {

/// Spill buffers per direction of a worker: as many as messages can be
/// waiting for the reader (kDispatchDepth), so a full pipeline of large
/// messages never waits for a buffer.
inline constexpr std::size_t kSpillBuffers = kDispatchDepth;
/// The smallest spill buffer made (a chunk of a few thousand ints fits).
inline constexpr std::size_t kMinSpillBytes = std::size_t{256} << 10;
/// Larger messages get a memfd of their own, released after use, so that a
/// pool does not keep gigabytes mapped for the sake of one message.
inline constexpr std::size_t kMaxSpillBytes = std::size_t{512} << 20;

/// The payload of a ring slot whose message is in a spill buffer.
struct SpillRef {
    std::uint64_t size;      ///< message bytes
    std::uint64_t capacity;  ///< the buffer's size (for mapping a fresh one)
    std::uint32_t buffer;    ///< which of the kSpillBuffers
    std::uint32_t fresh;     ///< 1: a new buffer, its memfd is waiting on the control socket
};
static_assert(sizeof(SpillRef) <= kSlotPayload);

/// The writer's buffers of one direction.
class SpillWriter {
public:
    struct Place {
        std::byte* data;  ///< where to copy the message
        SpillRef ref;     ///< the slot's payload
        int fd;           ///< the buffer's memfd, to send first when ref.fresh
    };

    /// A buffer for a `size`-byte message to be published as the next slot
    /// of `ring`; nullopt if the message is too large for spilling or no
    /// buffer is free (then the caller sends it on its own). Throws
    /// std::system_error if a new buffer cannot be made.
    std::optional<Place> place(std::size_t size, const Ring& ring);

    /// Forgets every buffer (a new worker has none of them mapped).
    void reset() noexcept;

private:
    struct Buffer {
        std::optional<SharedRegion> region;
        std::uint64_t busy_until = 0;  // free once the ring's tail reaches this
    };
    std::array<Buffer, kSpillBuffers> buffers_;
};

/// The reader's mappings of one direction.
class SpillReader {
public:
    /// The message `ref` names. A fresh buffer's memfd is received from
    /// `socket` first. Throws FrameError if `ref` is malformed or names a
    /// buffer never received, std::system_error on a socket failure.
    std::span<const std::byte> view(const SpillRef& ref, int socket);

    void reset() noexcept;

private:
    std::array<std::optional<SharedRegion>, kSpillBuffers> buffers_;
};

/// A message read from a slot, and what keeps its bytes valid.
struct SlotMessage {
    std::span<const std::byte> bytes;
    std::vector<UniqueFd> fds;         ///< descriptors sent with it (Carrier::memfd)
    std::optional<SharedRegion> own;  ///< the memfd of a Carrier::memfd message
};

/// Puts `bytes` in `slot` (whose task_id and kind the caller sets) before
/// it is published as the next slot of `ring`: in the slot if they fit, else
/// in a spill buffer, else (or whenever there are `fds`) in a memfd of their
/// own; descriptors go to `socket` first. Throws std::system_error (a broken
/// socket, no memory).
void write_message(SlotHeader& slot, std::span<const std::byte> bytes, std::span<const int> fds,
                   SpillWriter& spills, const Ring& ring, int socket);

/// The message in `slot`. Throws FrameError if the slot is malformed (a
/// size past the slot or buffer, an unknown carrier, missing descriptors),
/// std::system_error on a socket failure.
SlotMessage read_message(const SlotHeader& slot, SpillReader& spills, int socket);

}  // namespace tandem::detail::process_pool
