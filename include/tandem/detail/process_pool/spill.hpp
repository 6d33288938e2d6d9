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
// Every memfd is sealed at its size by its maker (SharedRegion) and mapped by
// the reader only after from_fd has checked the seals and the size, so a
// peer that truncates a buffer it can reach gets EPERM instead of a SIGBUS in
// the other process, and a memfd that a peer made unsealed is a FrameError.
// Only the maker writes: the reader maps it read-only, and the maker seals it
// against writable mappings by anyone else (Writers::creator), so a worker
// cannot rewrite a call the parent may have to send to another worker.
// The descriptors themselves are open only while hold_worker_starts() is
// held (private_fds.hpp): a writer closes its copy once sent, a reader once
// mapped, so no forked worker ever inherits another's.
//
// A call can also be written straight into a buffer (claim(), then the
// slot names it with name_spill()): a large call in the parent, a large
// result in the worker, each encoded in place instead of copied from a
// buffer of its own. The parent holds such a call's buffer until the reply
// comes, since a worker that dies first leaves the call to run elsewhere.
//
// write_message() and read_message() choose and undo the carrier of a
// message (task_ring.hpp's Carrier):
//
//     SlotHeader* slot = ring.slot();                                   // writer
//     slot->task_id = id;
//     slot->kind = MessageKind::result;
//     write_message(*slot, bytes, {}, spill_writer, ring, socket);
//     ring.publish();
//     const SlotHeader header = copy_header(reader.slot());              // reader
//     SlotMessage message = read_message(header, payload_of(reader.slot()), spill_reader, socket, 0);
#pragma once

#include <array>     // the buffers
#include <cstddef>   // std::size_t, std::byte
#include <cstdint>   // SpillRef's fields
#include <optional>  // a buffer not made yet, no free buffer
#include <span>      // the message read
#include <vector>    // descriptors received with a message

#include "tandem/detail/os/shared_region.hpp"        // the buffers
#include "tandem/detail/os/unique_fd.hpp"            // descriptors received with a message
#include "tandem/detail/process_pool/task_ring.hpp"  // RingWriter, SlotHeader
#include "tandem/errors.hpp"                         // FrameError, the base of ProtocolError

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

/// The peer broke the pool's protocol in a way that leaves its control
/// socket out of step with its ring (a descriptor announced but not there, a
/// message cut short): nothing more it sends can be read, and the peer must
/// be stopped. A FrameError, for code that need not tell the two apart.
class ProtocolError : public FrameError {
public:
    using FrameError::FrameError;
};

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
        std::byte* data;  ///< where to write the message
        SpillRef ref;     ///< the slot's payload
        int fd;           ///< the buffer's memfd (sent and closed by claim() when ref.fresh)
    };

    /// A buffer for a `size`-byte message to be published as the next slot
    /// of `ring`; nullopt if the message is too large for spilling or no
    /// buffer is free (then the caller sends it on its own). A fresh
    /// buffer's memfd has been sent on `socket` already, and closed. With
    /// `held`, the buffer stays busy until release(), whatever the ring's
    /// tail says (a call written in place, which the parent may have to
    /// send again). Throws std::system_error if a new buffer cannot be made
    /// or sent.
    std::optional<Place> claim(std::size_t size, const RingWriter& ring, int socket, bool held = false);

    /// Ends the hold of claim(..., held = true) on `buffer`.
    void release(std::uint32_t buffer) noexcept;

    /// The message a held claim wrote (for sending it again elsewhere).
    std::span<const std::byte> written(const SpillRef& ref) const noexcept;

    /// Forgets every buffer (a new worker has none of them mapped).
    void reset() noexcept;

private:
    std::optional<Place> place(std::size_t size, const RingWriter& ring, bool held);

    struct Buffer {
        std::optional<SharedRegion> region;
        std::uint64_t busy_until = 0;  // free once the ring's tail reaches this
        bool held = false;             // and once released
    };
    std::array<Buffer, kSpillBuffers> buffers_;
};

/// The reader's mappings of one direction.
class SpillReader {
public:
    /// The message `ref` names. A fresh buffer's memfd is received from
    /// `socket` first, checked (sealed, large enough) and mapped. Throws
    /// FrameError if `ref` is malformed, names a buffer never received or
    /// the memfd is not what it claims, ProtocolError if the memfd is not
    /// waiting whole on `socket`.
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

/// Makes `slot` name the message a SpillWriter::claim() placed.
void name_spill(SlotHeader& slot, const SpillRef& ref) noexcept;

/// Puts `bytes` in `slot` (whose task_id and kind the caller sets) before
/// it is published as the next slot of `ring`: in the slot if they fit, else
/// in a spill buffer, else (or whenever there are `fds`) in a memfd of their
/// own; descriptors go to `socket` first. Throws std::system_error (a broken
/// or full socket, no memory).
void write_message(SlotHeader& slot, std::span<const std::byte> bytes, std::span<const int> fds,
                   SpillWriter& spills, const RingWriter& ring, int socket);

/// The message of a slot whose header is `header` (a private copy, see
/// copy_header) and whose payload starts at `payload`. A memfd message may
/// bring at most `max_fds` descriptors besides its memfd. Throws FrameError
/// if the message is malformed (a size past the slot or buffer, an unknown
/// carrier, a memfd not sealed or too small, too many descriptors),
/// ProtocolError if the descriptors it announces are not waiting whole on
/// `socket`.
SlotMessage read_message(const SlotHeader& header, const std::byte* payload, SpillReader& spills, int socket,
                         std::size_t max_fds);

}  // namespace tandem::detail::process_pool
