// tandem/multiprocessing/queues.hpp — Python's multiprocessing.Queue,
// JoinableQueue and SimpleQueue: typed FIFO queues that any number of
// processes put to and get from at once.
//
// Items are encoded by their type (serialization.hpp) into one frame each
// (detail/wire/frame.hpp) and travel through a pipe that every process holding the
// queue shares; a lock in shared memory lets one reader at a time take
// exactly one frame, another keeps writers from interleaving theirs. A child
// created by fork() inherits the queue; a spawn or forkserver child receives
// it as a Process argument (detail/wire/handoff.hpp). Copies of a queue object
// share the queue.
//
//     tandem::multiprocessing::Queue<std::string> results;
//     if (fork() == 0) {
//         results.put("done by " + std::to_string(getpid()));
//         _exit(0);
//     }
//     std::string first = results.get(std::chrono::seconds(5));   // Empty if nothing came
//
// How put() works, and why it never blocks on an unbounded queue:
// - The item is encoded in the caller, so an item that cannot be encoded
//   (its serialize() throws) fails in put() itself, and nothing is queued.
//   Python pickles in a feeder thread and silently drops such an item
//   (gh-84376).
// - The pipe runs in packet mode (O_DIRECT): every write is a packet and a
//   read returns one packet, so a small item costs one write() to put and one
//   read() to get, as little as a raw pipe.
// - A small item (its frame fits in PIPE_BUF, 4096 bytes, which the kernel
//   writes all at once or not at all) is written straight into the pipe by
//   put() when the pipe has room and nothing this process put earlier is
//   still waiting. Otherwise the item joins a backlog in this process that a
//   feeder thread, started on first need, writes out as readers make room (as
//   Python's feeder does for every item). Larger items always go through the
//   feeder. So put() on an unbounded queue never waits for readers, and items
//   put by one process arrive in the order they were put.
// - Like Python, a process waits for its feeder to flush the backlog before
//   letting go of the queue: the destructor of the process's last handle
//   blocks until readers have taken the backlog in, unless
//   cancel_join_thread() was called (then the backlog is dropped). It does not
//   wait for nothing: if no process is left that could read, the backlog is
//   dropped at once. As Python's docs warn, do not wait for a child to exit
//   before taking in what it put: it may be waiting for exactly that.
//
// Several processes may put and get at once: a frame is never interleaved
// with another (the writer lock) and one get() takes exactly one frame (the
// reader lock). Both locks are robust (synchronize.hpp): a process that dies
// holding one does not block the others. A process killed in the middle of
// writing or reading a large item leaves a partial frame in the pipe; the
// queue then reports it as broken (FrameError from get() and put()) instead of
// hanging or handing out a corrupted item. Python's queue is corrupted and may
// hang in that case.
//
// Behaviour, and where it differs from Python's:
// - put/get take `block` and a std::chrono timeout; a zero or negative
//   timeout tries once without waiting (Python's multiprocessing clamps too).
//   Full and Empty are tandem::Full and tandem::Empty.
// - qsize(), empty() and full() are approximate, as Python's: other processes
//   change the queue at any moment, and an item still in a feeder backlog is
//   counted by qsize() but not seen by empty().
// - close() marks the queue closed in this process: put() and get() then throw
//   ValueError("Queue is closed"), as Python 3.8+, and the feeder flushes the
//   backlog and exits. The descriptors are released with the last handle, not
//   by close(). join_thread() waits for that flush; it throws RuntimeError if
//   the queue is not closed (Python: AssertionError).
// - A process created by fork() starts with its own, empty backlog and an
//   open queue, as Python's _after_fork.
// - JoinableQueue::join(timeout) -> bool is an extension; task_done() called
//   more often than put() throws ValueError, as Python.
// - SimpleQueue::put() writes in the caller and blocks while the pipe is
//   full, as Python's.
// - An item's encoding is limited to 1 GiB (FrameError from put()).
#pragma once

#include <chrono>       // timeouts
#include <cstddef>      // std::byte, std::size_t, std::ptrdiff_t
#include <cstdint>      // the queue kind
#include <memory>       // std::shared_ptr to the queue's core
#include <optional>     // std::nullopt: no deadline
#include <type_traits>  // checks on T
#include <utility>      // std::move
#include <vector>       // encoded frames

#include "tandem/detail/os/futex.hpp"       // detail::Clock, detail::Deadline, detail::deadline_after
#include "tandem/detail/wire/encoding.hpp"  // detail::encode_into / decode, the codecs
#include "tandem/detail/wire/frame.hpp"     // detail::kFrameHeaderSize
#include "tandem/detail/wire/handoff.hpp"   // detail::Handoff, so queues can be Process arguments
#include "tandem/errors.hpp"                // Empty, Full, ValueError, FrameError, RuntimeError
#include "tandem/serialization.hpp"         // tandem::Serializable

namespace tandem::detail {

/// Which queue a core implements; checked when one is handed off.
enum class QueueKind : std::uint8_t { simple = 1, fifo = 2, joinable = 3 };

class QueueCore;  // src/multiprocessing/queues.cpp

/// The untyped queue behind Queue, JoinableQueue and SimpleQueue: it moves
/// whole frames of bytes. Copies share the queue. Every member documents the
/// Python method it implements in the typed classes.
class QueueHandle {
public:
    /// A new queue: its pipe and its shared memory. Throws ValueError if
    /// `maxsize` exceeds INT_MAX, std::system_error if the kernel refuses.
    QueueHandle(QueueKind kind, std::ptrdiff_t maxsize);

    /// Throws ValueError("Queue is closed") if close() was called in this
    /// process, FrameError if the queue is broken.
    void check_open() const;
    /// put(): `frame` starts with kFrameHeaderSize bytes for the header,
    /// followed by the encoded item. Throws Full, ValueError, FrameError (also
    /// for an encoding over 1 GiB).
    void put(std::vector<std::byte>&& frame, bool block, Deadline deadline) const;
    /// SimpleQueue.put(): writes in the caller, waiting for room as long as
    /// it takes.
    void put_blocking(std::vector<std::byte>&& frame) const;
    /// get(): the payload of the next frame. Throws Empty, ValueError,
    /// FrameError.
    std::vector<std::byte> get(bool block, Deadline deadline) const;

    /// qsize(): items put and not yet taken (approximate). Not for SimpleQueue.
    std::size_t qsize() const;
    /// empty(): true if no frame can be read right now.
    bool empty() const;
    /// full(): true if a bounded queue has no free slot. Not for SimpleQueue.
    bool full() const;
    /// maxsize(): the bound given at construction.
    std::ptrdiff_t maxsize() const noexcept;
    /// close(): marks the queue closed in this process.
    void close() const;
    /// join_thread(): waits for the feeder's flush. Throws RuntimeError
    /// before close().
    void join_thread() const;
    /// cancel_join_thread(): the last handle will not wait for the flush.
    void cancel_join_thread() const;
    /// task_done() of a JoinableQueue. Throws ValueError if called too often.
    void task_done() const;
    /// join() of a JoinableQueue: true once every item is done, false if
    /// `deadline` passed first.
    bool join(Deadline deadline) const;

    /// The handoff of the queue (see Handoff<Queue<T>> below).
    void send(HandoffWriter& out) const;
    /// Throws FrameError if the message is malformed or holds another kind.
    static QueueHandle receive(HandoffReader& in, QueueKind kind);

private:
    explicit QueueHandle(std::shared_ptr<QueueCore> core) noexcept : core_(std::move(core)) {}
    std::shared_ptr<QueueCore> core_;
};

}  // namespace tandem::detail

namespace tandem::multiprocessing {

/// multiprocessing.Queue: a FIFO queue between processes, optionally bounded.
/// Copies share the queue. See the header comment for how put() works.
template <class T>
class Queue {
    static_assert(Serializable<T>,
                  "multiprocessing::Queue<T> needs a T that can travel between processes: see tandem/serialization.hpp");

public:
    using value_type = T;

    /// A queue holding at most `maxsize` items (0 or less: unbounded). Throws
    /// ValueError if `maxsize` exceeds INT_MAX, std::system_error if the
    /// kernel refuses a pipe or shared memory.
    explicit Queue(std::ptrdiff_t maxsize = 0) : Queue(detail::QueueKind::fifo, maxsize) {}

    /// Puts `item`, waiting as long as it takes for room in a bounded queue.
    /// Throws whatever encoding `item` throws (nothing is queued then),
    /// ValueError if closed, FrameError if the queue is broken or the item
    /// encodes to more than 1 GiB.
    void put(const T& item) { put_until(item, true, std::nullopt); }
    /// Puts `item`; with `block` false, throws Full at once if there is no room.
    void put(const T& item, bool block) { put_until(item, block, std::nullopt); }
    /// Puts `item`, waiting up to `timeout` for room; throws Full after that.
    template <class Rep, class Period>
    void put(const T& item, std::chrono::duration<Rep, Period> timeout) {
        put_until(item, true, detail::deadline_after(timeout));
    }
    /// put(item, false).
    void put_nowait(const T& item) { put_until(item, false, std::nullopt); }

    /// Removes and returns the oldest item, waiting as long as it takes.
    /// Throws ValueError if closed, FrameError if the queue is broken or the
    /// item is not a T (that item is lost; the queue stays usable).
    T get() { return get_until(true, std::nullopt); }
    /// With `block` false, throws Empty at once if no item is there.
    T get(bool block) { return get_until(block, std::nullopt); }
    /// Waits up to `timeout` for an item; throws Empty after that.
    template <class Rep, class Period>
    T get(std::chrono::duration<Rep, Period> timeout) {
        return get_until(true, detail::deadline_after(timeout));
    }
    /// get(false).
    T get_nowait() { return get_until(false, std::nullopt); }

    /// Approximate number of items in the queue (stale at once).
    std::size_t qsize() const { return handle_.qsize(); }
    /// True if no item can be read right now (approximate).
    bool empty() const { return handle_.empty(); }
    /// True if a bounded queue has no room left (approximate).
    bool full() const { return handle_.full(); }
    /// The bound given at construction (0 or less: unbounded).
    std::ptrdiff_t maxsize() const noexcept { return handle_.maxsize(); }

    /// This process will put and get no more: later calls throw ValueError,
    /// and the feeder exits once it has flushed the backlog.
    void close() { handle_.close(); }
    /// Waits until the feeder has flushed this process's backlog. Throws
    /// RuntimeError if close() was not called first. Returns at once after
    /// cancel_join_thread().
    void join_thread() { handle_.join_thread(); }
    /// Lets this process drop the queue without waiting for its backlog to be
    /// flushed (items still in the backlog are lost).
    void cancel_join_thread() { handle_.cancel_join_thread(); }

protected:
    Queue(detail::QueueKind kind, std::ptrdiff_t maxsize) : handle_(kind, maxsize) {}
    explicit Queue(detail::QueueHandle handle) : handle_(std::move(handle)) {}

    detail::QueueHandle handle_;

private:
    friend struct detail::Handoff<Queue<T>>;

    void put_until(const T& item, bool block, detail::Deadline deadline) {
        handle_.check_open();
        std::vector<std::byte> frame(detail::kFrameHeaderSize);
        detail::encode_into(frame, item);
        handle_.put(std::move(frame), block, deadline);
    }
    T get_until(bool block, detail::Deadline deadline) {
        const std::vector<std::byte> payload = handle_.get(block, deadline);
        return detail::decode<T>(payload);
    }
};

/// multiprocessing.JoinableQueue: a Queue that also counts unfinished items,
/// so that a producer can join() until consumers have task_done() them all.
template <class T>
class JoinableQueue : public Queue<T> {
public:
    /// As Queue(maxsize).
    explicit JoinableQueue(std::ptrdiff_t maxsize = 0) : Queue<T>(detail::QueueKind::joinable, maxsize) {}

    /// Marks one item taken with get() as processed. Throws
    /// ValueError("task_done() called too many times") if every item put is
    /// already marked.
    void task_done() { this->handle_.task_done(); }
    /// Waits as long as it takes until every item put has been marked with
    /// task_done(), by any process.
    void join() { this->handle_.join(std::nullopt); }
    /// As join(), giving up after `timeout`: true if all items were done
    /// (an extension: Python's join() cannot time out).
    template <class Rep, class Period>
    bool join(std::chrono::duration<Rep, Period> timeout) {
        return this->handle_.join(detail::deadline_after(timeout));
    }

private:
    friend struct detail::Handoff<JoinableQueue<T>>;
    explicit JoinableQueue(detail::QueueHandle handle) : Queue<T>(std::move(handle)) {}
};

/// multiprocessing.SimpleQueue: an unbounded FIFO between processes without
/// a feeder: put() writes in the caller and blocks while the pipe is full.
/// Copies share the queue.
template <class T>
class SimpleQueue {
    static_assert(Serializable<T>, "multiprocessing::SimpleQueue<T> needs a T that can travel between processes: "
                                   "see tandem/serialization.hpp");

public:
    using value_type = T;

    /// A new, empty queue. Throws std::system_error if the kernel refuses.
    SimpleQueue() : handle_(detail::QueueKind::simple, 0) {}

    /// Puts `item`, waiting while the pipe is full. Throws like Queue::put().
    void put(const T& item) {
        handle_.check_open();
        std::vector<std::byte> frame(detail::kFrameHeaderSize);
        detail::encode_into(frame, item);
        handle_.put_blocking(std::move(frame));
    }
    /// Removes and returns the oldest item, waiting as long as it takes.
    /// Throws like Queue::get().
    T get() {
        const std::vector<std::byte> payload = handle_.get(true, std::nullopt);
        return detail::decode<T>(payload);
    }
    /// True if no item can be read right now (approximate).
    bool empty() const { return handle_.empty(); }
    /// Marks the queue closed in this process: put() and get() then throw
    /// ValueError. Calling it again does nothing.
    void close() { handle_.close(); }

private:
    friend struct detail::Handoff<SimpleQueue<T>>;
    explicit SimpleQueue(detail::QueueHandle handle) : handle_(std::move(handle)) {}

    detail::QueueHandle handle_;
};

}  // namespace tandem::multiprocessing

namespace tandem::detail {

/// A queue handed to a spawn or forkserver child: the pipe's two ends and
/// the shared memory of its locks and counters travel as descriptors. The
/// child has its own backlog and feeder, as a forked child would.
template <class T>
struct Handoff<multiprocessing::Queue<T>> {
    static void send(HandoffWriter& out, const multiprocessing::Queue<T>& queue) { queue.handle_.send(out); }
    static multiprocessing::Queue<T> receive(HandoffReader& in) {
        return multiprocessing::Queue<T>(QueueHandle::receive(in, QueueKind::fifo));
    }
};

/// As Handoff<Queue<T>>, for a JoinableQueue (its task counter travels too).
template <class T>
struct Handoff<multiprocessing::JoinableQueue<T>> {
    static void send(HandoffWriter& out, const multiprocessing::JoinableQueue<T>& queue) {
        queue.handle_.send(out);
    }
    static multiprocessing::JoinableQueue<T> receive(HandoffReader& in) {
        return multiprocessing::JoinableQueue<T>(QueueHandle::receive(in, QueueKind::joinable));
    }
};

/// As Handoff<Queue<T>>, for a SimpleQueue.
template <class T>
struct Handoff<multiprocessing::SimpleQueue<T>> {
    static void send(HandoffWriter& out, const multiprocessing::SimpleQueue<T>& queue) { queue.handle_.send(out); }
    static multiprocessing::SimpleQueue<T> receive(HandoffReader& in) {
        return multiprocessing::SimpleQueue<T>(QueueHandle::receive(in, QueueKind::simple));
    }
};

}  // namespace tandem::detail
