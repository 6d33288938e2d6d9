// Spill buffers for large process-pool messages. See
// tandem/detail/process_pool/spill.hpp.
#include "tandem/detail/process_pool/spill.hpp"

#include <poll.h>  // checking that a slot's descriptors already wait

#include <algorithm>     // std::max
#include <bit>           // std::bit_ceil
#include <cstring>       // std::memcpy
#include <string>        // error messages
#include <system_error>  // std::system_error from the socket

#include "tandem/detail/process_pool/private_fds.hpp"  // hold_worker_starts: descriptors never inherited
#include "tandem/detail/wire/fd_passing.hpp"           // send_with_fds, receive_with_fds
#include "tandem/errors.hpp"                           // FrameError, EOFError, ValueError

namespace tandem::detail::process_pool {

namespace {

// The descriptors a slot announces are sent whole before the slot is
// published, so they are already waiting: if not, the peer broke the
// protocol, and waiting for them (or for the rest of a message cut short)
// would hang the reader for good. The parent's end of a control socket is
// non-blocking, so a short message there is EAGAIN, never a wait.
ReceivedMessage receive_announced(int socket) {
    pollfd waiting{socket, POLLIN, 0};
    if (::poll(&waiting, 1, 0) != 1) {
        throw ProtocolError("process pool: a slot announces descriptors that were never sent");
    }
    try {
        return receive_with_fds(socket, 0);  // the messages are descriptors alone
    } catch (const std::system_error& error) {
        throw ProtocolError(std::string("process pool: the control socket holds no whole message (") +
                            error.what() + ")");
    } catch (const Error& error) {  // EOFError, FrameError
        throw ProtocolError(std::string("process pool: the control socket: ") + error.what());
    }
}

// Maps a memfd a peer sent, read-only, once it is known to be sealed at a
// size of at least `size` bytes, and closes the descriptor (the mapping
// stays).
SharedRegion map_received(UniqueFd fd, std::size_t size) {
    try {
        SharedRegion region = SharedRegion::from_fd(fd.release(), size, Inherit::no, Access::read_only);
        region.close_fd();
        return region;
    } catch (const ValueError& error) {
        throw FrameError(std::string("process pool: a message's memfd was refused: ") + error.what());
    }
}

}  // namespace

std::optional<SpillWriter::Place> SpillWriter::claim(std::size_t size, const RingWriter& ring, int socket,
                                                     bool held) {
    // A new memfd is made, sent and closed while no worker can be forked.
    const auto starts = hold_worker_starts();
    std::optional<Place> chosen = place(size, ring, held);
    if (chosen && chosen->ref.fresh != 0) {
        try {
            send_with_fds(socket, {}, std::span(&chosen->fd, 1));
        } catch (...) {
            buffers_[chosen->ref.buffer] = Buffer{};
            throw;
        }
        if (std::optional<SharedRegion>& region = buffers_[chosen->ref.buffer].region) region->close_fd();
    }
    return chosen;
}

void SpillWriter::release(std::uint32_t buffer) noexcept {
    if (buffer < kSpillBuffers) buffers_[buffer].held = false;
}

std::span<const std::byte> SpillWriter::written(const SpillRef& ref) const noexcept {
    return {buffers_[ref.buffer].region->data(), static_cast<std::size_t>(ref.size)};
}

std::optional<SpillWriter::Place> SpillWriter::place(std::size_t size, const RingWriter& ring, bool held) {
    if (size > kMaxSpillBytes) return std::nullopt;
    // The reader's count may be a lie; believing it can only make the
    // reader's own messages wrong, never take this side outside its buffers.
    const std::uint64_t consumed = ring.consumed();
    const std::uint64_t next = ring.published();
    // Prefer a free buffer that is large enough; else grow a free one.
    Buffer* chosen = nullptr;
    for (Buffer& buffer : buffers_) {
        if (buffer.held || buffer.busy_until > consumed) continue;
        const bool fits = buffer.region && buffer.region->size() >= size;
        if (fits) {
            chosen = &buffer;
            break;
        }
        if (chosen == nullptr) chosen = &buffer;
    }
    if (chosen == nullptr) return std::nullopt;
    bool fresh = false;
    if (!chosen->region || chosen->region->size() < size) {
        chosen->region.reset();  // unmapped here; the reader drops its mapping when it maps the new one
        chosen->region.emplace(std::max(kMinSpillBytes, std::bit_ceil(size)), "tandem:pool-spill", Inherit::no,
                               Writers::creator);
        fresh = true;
    }
    chosen->busy_until = next + 1;
    chosen->held = held;
    const auto index = static_cast<std::uint32_t>(chosen - buffers_.data());
    return Place{chosen->region->data(),
                 SpillRef{size, chosen->region->size(), index, fresh ? 1u : 0u},
                 chosen->region->fd()};
}

void SpillWriter::reset() noexcept {
    for (Buffer& buffer : buffers_) buffer = Buffer{};
}

std::span<const std::byte> SpillReader::view(const SpillRef& ref, int socket) {
    if (ref.buffer >= kSpillBuffers || ref.fresh > 1) throw FrameError("process pool: a malformed spill reference");
    std::optional<SharedRegion>& buffer = buffers_[ref.buffer];
    if (ref.fresh != 0) {
        // Received, checked, mapped and closed while no worker can be forked.
        const auto held = hold_worker_starts();
        ReceivedMessage message = receive_announced(socket);
        if (message.fds.size() != 1) throw FrameError("process pool: a new spill buffer came without its memfd");
        if (ref.capacity > kMaxSpillBytes) throw FrameError("process pool: a spill buffer larger than allowed");
        buffer.reset();
        buffer.emplace(map_received(std::move(message.fds.front()), static_cast<std::size_t>(ref.capacity)));
    }
    if (!buffer || ref.size > buffer->size()) throw FrameError("process pool: a spill reference past its buffer");
    return {buffer->data(), static_cast<std::size_t>(ref.size)};
}

void SpillReader::reset() noexcept {
    for (auto& buffer : buffers_) buffer.reset();
}

void name_spill(SlotHeader& slot, const SpillRef& ref) noexcept {
    slot.carrier = Carrier::spill;
    slot.size = sizeof(SpillRef);
    std::memcpy(reinterpret_cast<std::byte*>(&slot + 1), &ref, sizeof ref);
}

void write_message(SlotHeader& slot, std::span<const std::byte> bytes, std::span<const int> fds,
                   SpillWriter& spills, const RingWriter& ring, int socket) {
    auto* payload = reinterpret_cast<std::byte*>(&slot + 1);
    if (fds.empty() && bytes.size() <= kSlotPayload) {
        slot.carrier = Carrier::slot;
        slot.size = static_cast<std::uint32_t>(bytes.size());
        if (!bytes.empty()) std::memcpy(payload, bytes.data(), bytes.size());
        return;
    }
    if (fds.empty()) {
        if (auto place = spills.claim(bytes.size(), ring, socket)) {
            std::memcpy(place->data, bytes.data(), bytes.size());
            name_spill(slot, place->ref);
            return;
        }
    }
    // A new memfd is made, sent and closed here while no worker can be
    // forked; the bytes are copied after, before the slot is published.
    auto held = hold_worker_starts();
    SharedRegion own(bytes.size(), "tandem:pool-message", Inherit::no, Writers::creator);
    std::vector<int> all{own.fd()};
    all.insert(all.end(), fds.begin(), fds.end());
    send_with_fds(socket, {}, all);
    own.close_fd();
    held.unlock();
    if (!bytes.empty()) std::memcpy(own.data(), bytes.data(), bytes.size());
    slot.carrier = Carrier::memfd;
    const std::uint64_t size = bytes.size();
    slot.size = sizeof size;
    std::memcpy(payload, &size, sizeof size);
}

SlotMessage read_message(const SlotHeader& header, const std::byte* payload, SpillReader& spills, int socket,
                         std::size_t max_fds) {
    if (header.size > kSlotPayload) throw FrameError("process pool: a message larger than its slot");
    SlotMessage message;
    switch (header.carrier) {
        case Carrier::slot:
            message.bytes = std::span(payload, header.size);
            return message;
        case Carrier::spill: {
            if (header.size != sizeof(SpillRef)) throw FrameError("process pool: a malformed spill reference");
            SpillRef ref;
            std::memcpy(&ref, payload, sizeof ref);
            message.bytes = spills.view(ref, socket);
            return message;
        }
        case Carrier::memfd: {
            std::uint64_t size = 0;
            if (header.size != sizeof size) throw FrameError("process pool: a malformed memfd message");
            std::memcpy(&size, payload, sizeof size);
            // Received, checked, mapped and closed while no worker can be forked.
            const auto held = hold_worker_starts();
            ReceivedMessage received = receive_announced(socket);
            if (received.fds.empty()) throw FrameError("process pool: a memfd message came without its memfd");
            if (received.fds.size() - 1 > max_fds) {
                throw FrameError("process pool: a message with too many descriptors");
            }
            message.own.emplace(map_received(std::move(received.fds.front()), static_cast<std::size_t>(size)));
            message.bytes = std::span(message.own->data(), static_cast<std::size_t>(size));
            message.fds.assign(std::make_move_iterator(received.fds.begin() + 1),
                               std::make_move_iterator(received.fds.end()));
            return message;
        }
    }
    throw FrameError("process pool: a message with an unknown carrier");
}

}  // namespace tandem::detail::process_pool
