// Spill buffers for large process-pool messages. See
// tandem/detail/process_pool/spill.hpp.
#include "tandem/detail/process_pool/spill.hpp"

#include <poll.h>  // checking that a slot's descriptors already wait

#include <algorithm>  // std::max
#include <bit>        // std::bit_ceil
#include <cstring>    // std::memcpy

#include "tandem/detail/wire/fd_passing.hpp"  // send_with_fds, receive_with_fds
#include "tandem/errors.hpp"             // FrameError

namespace tandem::detail::process_pool {

namespace {

// The descriptors a slot announces are sent before the slot is published,
// so they are already waiting: if not, the slot is corrupt, and waiting for
// them would hang the reader (the pool's collector) for good.
ReceivedMessage receive_announced(int socket) {
    pollfd waiting{socket, POLLIN, 0};
    if (::poll(&waiting, 1, 0) != 1) throw FrameError("process pool: a slot announces descriptors that were never sent");
    return receive_with_fds(socket, 64);
}

}  // namespace

std::optional<SpillWriter::Place> SpillWriter::place(std::size_t size, const Ring& ring) {
    if (size > kMaxSpillBytes) return std::nullopt;
    const std::uint64_t consumed = ring.tail.load(std::memory_order_acquire);
    const std::uint64_t next = ring.head.load(std::memory_order_relaxed);
    // Prefer a free buffer that is large enough; else grow a free one.
    Buffer* chosen = nullptr;
    for (Buffer& buffer : buffers_) {
        if (buffer.busy_until > consumed) continue;
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
        chosen->region.emplace(std::max(kMinSpillBytes, std::bit_ceil(size)), "tandem:pool-spill");
        fresh = true;
    }
    chosen->busy_until = next + 1;
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
        ReceivedMessage message = receive_announced(socket);
        if (message.fds.size() != 1) throw FrameError("process pool: a new spill buffer came without its memfd");
        if (ref.capacity > kMaxSpillBytes) throw FrameError("process pool: a spill buffer larger than allowed");
        buffer.reset();
        buffer.emplace(SharedRegion::from_fd(message.fds.front().release(), static_cast<std::size_t>(ref.capacity)));
    }
    if (!buffer || ref.size > buffer->size()) throw FrameError("process pool: a spill reference past its buffer");
    return {buffer->data(), static_cast<std::size_t>(ref.size)};
}

void SpillReader::reset() noexcept {
    for (auto& buffer : buffers_) buffer.reset();
}

void write_message(SlotHeader& slot, std::span<const std::byte> bytes, std::span<const int> fds,
                   SpillWriter& spills, const Ring& ring, int socket) {
    auto* payload = reinterpret_cast<std::byte*>(&slot + 1);
    if (fds.empty() && bytes.size() <= kSlotPayload) {
        slot.carrier = Carrier::slot;
        slot.size = static_cast<std::uint32_t>(bytes.size());
        if (!bytes.empty()) std::memcpy(payload, bytes.data(), bytes.size());
        return;
    }
    if (fds.empty()) {
        if (auto place = spills.place(bytes.size(), ring)) {
            std::memcpy(place->data, bytes.data(), bytes.size());
            if (place->ref.fresh != 0) send_with_fds(socket, {}, std::span(&place->fd, 1));
            slot.carrier = Carrier::spill;
            slot.size = sizeof(SpillRef);
            std::memcpy(payload, &place->ref, sizeof(SpillRef));
            return;
        }
    }
    SharedRegion own(bytes.size(), "tandem:pool-message");
    if (!bytes.empty()) std::memcpy(own.data(), bytes.data(), bytes.size());
    std::vector<int> all{own.fd()};
    all.insert(all.end(), fds.begin(), fds.end());
    send_with_fds(socket, {}, all);
    slot.carrier = Carrier::memfd;
    const std::uint64_t size = bytes.size();
    slot.size = sizeof size;
    std::memcpy(payload, &size, sizeof size);
}

SlotMessage read_message(const SlotHeader& slot, SpillReader& spills, int socket) {
    const auto* payload = reinterpret_cast<const std::byte*>(&slot + 1);
    if (slot.size > kSlotPayload) throw FrameError("process pool: a message larger than its slot");
    SlotMessage message;
    switch (slot.carrier) {
        case Carrier::slot:
            message.bytes = std::span(payload, slot.size);
            return message;
        case Carrier::spill: {
            if (slot.size != sizeof(SpillRef)) throw FrameError("process pool: a malformed spill reference");
            SpillRef ref;
            std::memcpy(&ref, payload, sizeof ref);
            message.bytes = spills.view(ref, socket);
            return message;
        }
        case Carrier::memfd: {
            std::uint64_t size = 0;
            if (slot.size != sizeof size) throw FrameError("process pool: a malformed memfd message");
            std::memcpy(&size, payload, sizeof size);
            ReceivedMessage received = receive_announced(socket);
            if (received.fds.empty()) throw FrameError("process pool: a memfd message came without its memfd");
            message.own.emplace(SharedRegion::from_fd(received.fds.front().release(), static_cast<std::size_t>(size)));
            message.bytes = std::span(message.own->data(), static_cast<std::size_t>(size));
            message.fds.assign(std::make_move_iterator(received.fds.begin() + 1),
                               std::make_move_iterator(received.fds.end()));
            return message;
        }
    }
    throw FrameError("process pool: a message with an unknown carrier");
}

}  // namespace tandem::detail::process_pool
