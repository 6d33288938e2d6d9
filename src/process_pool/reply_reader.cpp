// The parent's checked reading of a worker's reply ring. See
// tandem/detail/process_pool/reply_reader.hpp.
#include "tandem/detail/process_pool/reply_reader.hpp"

namespace tandem::detail::process_pool {

std::optional<Reply> ReplyReader::next(std::uint64_t expected, SpillReader& spills, int socket) {
    const std::uint64_t available = ring_.available();  // the worker's count, read once
    if (available == 0) return std::nullopt;
    if (available > kRingSlots || !ring_.tail_intact()) {
        throw ProtocolError("process pool: the worker's reply ring is corrupt");
    }
    const std::byte* slot = ring_.slot();
    const SlotHeader header = copy_header(slot);
    if (expected == 0 || header.task_id != expected) {
        throw ProtocolError("process pool: the worker replied for a task it was not running");
    }
    if (header.kind != MessageKind::result && header.kind != MessageKind::raised) {
        throw ProtocolError("process pool: a reply of an unknown kind");
    }
    Reply reply;
    reply.task_id = header.task_id;
    reply.raised = header.kind == MessageKind::raised;
    try {
        // Replies never carry descriptors besides a memfd message's own.
        reply.message = read_message(header, payload_of(slot), spills, socket, 0);
    } catch (const ProtocolError&) {
        throw;
    } catch (...) {
        reply.error = std::current_exception();
    }
    return reply;
}

}  // namespace tandem::detail::process_pool
