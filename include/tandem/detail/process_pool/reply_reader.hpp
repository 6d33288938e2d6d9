// Internal: how the parent reads a worker's reply ring, believing nothing in
// it without a check.
//
// A worker's area is memory the worker can write at any moment, and a task
// runs in the worker with all its rights: it may forge a slot, move the
// ring's counts, or send anything on its control socket. The collector
// (engine.cpp: its thread, or a caller collecting while it waits in
// result(), one at a time) reads replies only through a ReplyReader, and so does the fuzz
// target (fuzz/ring_reader_fuzzer.cpp), which gives it rings and sockets
// filled with arbitrary bytes. For each reply, in order:
//  - the ring: at most kRingSlots replies published beyond those the parent
//    consumed (a count kept in the parent's memory), and the ring's consumed
//    count still the parent's; else ProtocolError;
//  - the slot header, copied once (copy_header): the reply is for the task
//    the parent expects next from this worker (replies come back in the order
//    tasks were sent) and is a result or an exception; else ProtocolError;
//  - the message (read_message): its size within the slot or its buffer, a
//    memfd sealed and as large as claimed, no descriptors but the memfd; a
//    message that fails is a FrameError for its task alone (Reply::error)
//    and the ring goes on; descriptors announced but not waiting whole on
//    the control socket are a ProtocolError.
// A ProtocolError means the worker must be stopped: the collector kills it
// and fails the task it was running with WorkerCrashed. The payload itself is
// decoded in place by the task's Deliver function, which reads each byte
// once within the bounds fixed here; a worker changing it meanwhile changes
// only the value its own task returns.
//
//     ReplyReader replies(area->replies);
//     while (auto reply = replies.next(oldest_task_id, spills, socket)) {   // may throw ProtocolError
//         deliver(*reply);          // reply->error, or reply->message.bytes
//         replies.consume();        // the slot (and a spill buffer) is the worker's again
//     }
#pragma once

#include <cstdint>    // task ids
#include <exception>  // std::exception_ptr
#include <optional>   // no reply waiting

#include "tandem/detail/process_pool/spill.hpp"      // SpillReader, SlotMessage, ProtocolError
#include "tandem/detail/process_pool/task_ring.hpp"  // Ring, RingReader

namespace tandem::detail::process_pool {

/// A reply read from a worker's ring, checked.
struct Reply {
    std::uint64_t task_id = 0;
    bool raised = false;  ///< the message is an encoded exception
    /// The reply's bytes; valid until ReplyReader::consume().
    SlotMessage message;
    /// Set when the message could not be read (a FrameError): its task fails with it.
    std::exception_ptr error;
};

class ReplyReader {
public:
    ReplyReader() noexcept = default;
    explicit ReplyReader(Ring& replies) noexcept : ring_(replies) {}

    /// Whether next() has something to look at (a reply, or a ring it refuses).
    bool waiting() const noexcept { return !ring_.empty(); }
    /// A hint that next() may have something, safe to ask from a thread that
    /// does not read this ring (RingReader::looks_nonempty).
    bool maybe_waiting() const noexcept { return ring_.looks_nonempty(); }

    /// The next reply, nullopt if none is published. It must be for the task
    /// `expected` (the oldest task in flight on the worker; 0 for none).
    /// Throws ProtocolError if the ring, the slot or the control socket
    /// `socket` is out of step (see the file comment); std::bad_alloc.
    std::optional<Reply> next(std::uint64_t expected, SpillReader& spills, int socket);

    /// Gives the slot of the reply last returned back to the worker.
    void consume() noexcept { ring_.consume(); }

private:
    RingReader ring_;
};

}  // namespace tandem::detail::process_pool
