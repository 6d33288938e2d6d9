// tandem/multiprocessing/connection.hpp — Python's multiprocessing.Pipe,
// Connection and multiprocessing.connection.wait: typed, framed messages
// between two processes over a Unix socket pair or a pipe.
//
// Pipe() returns the two ends of a channel. send() encodes a value (see
// serialization.hpp: the type decides the codec, at compile time) into one
// frame (detail/wire/frame.hpp: magic, version, size limit and checksums, all
// checked before a byte of the payload is decoded) and recv<T>() decodes the
// next frame as a T. send_bytes()/recv_bytes() carry raw bytes in the same
// frames. wait() blocks on several connections and process sentinels at
// once, like select().
//
//     auto [parent_end, child_end] = tandem::multiprocessing::Pipe();
//     if (fork() == 0) {
//         parent_end.close();
//         auto job = child_end.recv<std::vector<double>>();
//         child_end.send(std::accumulate(job.begin(), job.end(), 0.0));
//         _exit(0);
//     }
//     child_end.close();                                   // so that EOF can be seen
//     parent_end.send(std::vector<double>{1, 2, 3});
//     if (parent_end.poll(std::chrono::seconds(5))) {
//         double sum = parent_end.recv<double>();          // 6
//     }
//
// A Connection created before fork() is inherited by the child. For a child
// started by spawn or forkserver, a Connection passed as a Process argument is
// handed off (detail/wire/handoff.hpp): the child receives its own duplicate of the
// descriptor. Either way both processes then hold that end, so close the ends
// a process does not use: a peer sees end of file only once every copy of the
// other end is closed.
//
// Errors, and where they differ from Python's:
// - recv() when the other end was closed and nothing is left: EOFError.
// - A truncated, oversized or corrupted frame: FrameError, before any payload
//   byte is decoded. The byte stream cannot be resynchronised after that, so
//   every later receive on this Connection throws the same FrameError (sending
//   on a duplex Connection still works). A frame that is sound but whose
//   payload is not a valid T (the peer sent another type) also throws
//   FrameError; that message is lost but the Connection stays usable.
// - Payloads are limited to detail::kDefaultMaxPayload (1 GiB) per message;
//   a larger send() throws FrameError without writing anything. Python has no
//   limit.
// - Using a closed Connection throws ValueError("handle is closed"), and
//   receiving on a write-only end (or sending on a read-only one) throws
//   ValueError("connection is write-only" / "connection is read-only").
//   Python raises OSError for these; ValueError is what Python's own file
//   objects raise for the same misuse.
// - recv_bytes(maxlength) on a longer message throws
//   std::system_error(EMSGSIZE, "bad message length") (Python: OSError), and
//   as in Python the connection can no longer receive: it becomes write-only,
//   or is closed if it could not write.
// - recv_bytes_into() with a buffer too small throws BufferTooShort holding
//   the complete message, as Python; the connection stays usable.
// - OS failures (a peer that is gone when sending: EPIPE) are std::system_error,
//   Python's OSError. Writing to a pipe whose reader is gone never raises
//   SIGPIPE.
// - poll() without a timeout does not wait (as Python's poll()); poll(nullopt)
//   waits as long as it takes (Python's poll(None)). A zero or negative
//   timeout looks once without waiting.
//
// send() blocks while the pipe or socket buffer is full, until the peer reads
// (as Python's). A Connection is not thread-safe, like Python's: one thread may
// send while another receives, but two threads must not both send, or both
// receive, on the same Connection at the same time.
#pragma once

#include <chrono>            // timeouts
#include <cstddef>           // std::byte, std::size_t
#include <cstdint>           // the checksum of the frame being received
#include <initializer_list>  // wait({a, b, c})
#include <optional>          // maxlength, size, poll(nullopt)
#include <span>              // byte buffers, wait()'s objects
#include <string>            // the remembered failure
#include <utility>           // std::pair
#include <vector>            // received bytes, wait()'s result

#include "tandem/detail/os/futex.hpp"       // detail::Deadline, detail::deadline_after
#include "tandem/detail/os/unique_fd.hpp"   // detail::UniqueFd, the descriptor a Connection owns
#include "tandem/detail/wire/encoding.hpp"  // detail::encode_into / decode, the codecs
#include "tandem/detail/wire/frame.hpp"     // detail::kFrameHeaderSize
#include "tandem/detail/wire/handoff.hpp"   // detail::Handoff, so a Connection can be a Process argument

namespace tandem::multiprocessing {

/// multiprocessing.connection.Connection: one end of a Pipe. Move-only; the
/// destructor closes it. A default-constructed or moved-from Connection is
/// closed.
class Connection {
public:
    /// A closed connection (assign a real one to it).
    Connection() noexcept = default;
    /// Takes ownership of `fd`, a connected stream socket or one end of a pipe
    /// in blocking mode, used for reading if `readable` and writing if
    /// `writable` (as Python's Connection(handle, readable, writable)). Throws ValueError if `fd` is
    /// negative or neither direction is given (then `fd` is not taken),
    /// std::system_error if `fd` is not an open descriptor.
    explicit Connection(int fd, bool readable = true, bool writable = true);

    Connection(Connection&& other) noexcept = default;
    /// Closes this connection, then takes over `other`'s.
    Connection& operator=(Connection&& other) noexcept = default;
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;
    ~Connection() = default;

    /// Sends `object`, encoded by its type's codec (serialization.hpp), as one
    /// message; a type that cannot travel is a compile-time error. Blocks until
    /// the whole message is written. Throws ValueError if the connection is
    /// closed or read-only, FrameError if the encoding exceeds 1 GiB, whatever
    /// the type's own serialize() throws (nothing is written then), and
    /// std::system_error if the peer is gone (EPIPE).
    template <class T>
    void send(const T& object) {
        check_writable();
        std::vector<std::byte> frame(detail::kFrameHeaderSize);
        detail::encode_into(frame, object);
        send_frame(frame);
    }

    /// Receives the next message and decodes it as a T, waiting as long as it
    /// takes. Throws EOFError if the peer closed and nothing is left,
    /// FrameError for a bad frame or a payload that is not a T (see the header
    /// comment), ValueError if the connection is closed or write-only.
    template <class T>
    T recv() {
        const std::vector<std::byte> payload = receive_payload(std::nullopt);
        return detail::decode<T>(payload);
    }

    /// Sends `size` bytes of `buffer` from `offset` (the rest of it by
    /// default) as one message, which recv_bytes() returns whole. Throws
    /// ValueError("buffer length < offset") or ValueError("buffer length <
    /// offset + size") if the range does not fit, and like send() otherwise.
    void send_bytes(std::span<const std::byte> buffer, std::size_t offset = 0,
                    std::optional<std::size_t> size = std::nullopt);

    /// Receives the next message as bytes, waiting as long as it takes. If it
    /// is longer than `maxlength`, throws std::system_error(EMSGSIZE, "bad
    /// message length") and stops receiving (see the header comment). Throws
    /// like recv() otherwise.
    std::vector<std::byte> recv_bytes(std::optional<std::size_t> maxlength = std::nullopt);

    /// Receives the next message into `buffer` from `offset`; returns its
    /// length. Throws ValueError("offset too large") if `offset` exceeds the
    /// buffer, BufferTooShort (holding the message) if it does not fit, and
    /// like recv() otherwise.
    std::size_t recv_bytes_into(std::span<std::byte> buffer, std::size_t offset = 0);

    /// True if a message (or end of file) can be received now; never waits.
    bool poll() { return poll_until(detail::Clock::now()); }
    /// True if a message (or end of file) arrives within `timeout`.
    template <class Rep, class Period>
    bool poll(std::chrono::duration<Rep, Period> timeout) {
        return poll_until(detail::deadline_after(timeout));
    }
    /// Waits as long as it takes for a message (or end of file); returns true.
    bool poll(std::nullopt_t) { return poll_until(std::nullopt); }

    /// Closes the connection; later calls on it throw ValueError. Calling it
    /// again does nothing.
    void close() noexcept { fd_.reset(); }
    /// True once closed (or moved from).
    bool closed() const noexcept { return !fd_; }
    /// True if this end receives (false once closed).
    bool readable() const noexcept { return fd_ && readable_; }
    /// True if this end sends (false once closed).
    bool writable() const noexcept { return fd_ && writable_; }
    /// The descriptor, still owned by the connection (for poll(), select()...).
    /// Throws ValueError("handle is closed") if closed.
    int fileno() const;

private:
    void check_open() const;
    void check_writable() const;
    void check_readable() const;
    // Fills in the header at the front of `frame` and writes it all.
    void send_frame(std::span<std::byte> frame);
    // Receives one frame's payload (the stream is left at the next frame).
    std::vector<std::byte> receive_payload(std::optional<std::size_t> maxlength);
    // Reads and checks the next header: its payload size.
    std::size_t receive_header();
    // Reads a payload of `size` bytes into a buffer that grows as they arrive.
    std::vector<std::byte> receive_growing(std::size_t size);
    // Reads exactly `out.size()` payload bytes of a frame of `total` bytes.
    void receive_exactly(std::span<std::byte> out, std::size_t total);
    void check_payload(std::span<const std::byte> payload);
    [[noreturn]] void fail(std::string message);
    bool poll_until(detail::Deadline deadline);

    detail::UniqueFd fd_;
    bool readable_ = false;
    bool writable_ = false;
    bool is_socket_ = false;
    std::uint32_t payload_checksum_ = 0;  // of the frame being received
    std::string failure_;                  // non-empty once the stream is broken
};

/// multiprocessing.Pipe: two connected Connections. With `duplex` (the
/// default) both ends send and receive (a Unix socket pair); otherwise the
/// first end only receives and the second only sends (a pipe). Both
/// descriptors are close-on-exec. Throws std::system_error if the kernel
/// refuses (out of descriptors).
std::pair<Connection, Connection> Pipe(bool duplex = true);

/// Something wait() can wait for: a Connection (ready when a message or end
/// of file can be received), or a plain descriptor such as a process's
/// sentinel (a pidfd, ready when the process has ended) or any pipe or socket
/// (ready when readable).
class Waitable {
public:
    /// Waits on `connection`, which must stay alive and open during the wait.
    /// Throws ValueError if it is closed.
    /// Implicit, so that a braced list of connections and descriptors works.
    Waitable(const Connection& connection) : connection_(&connection), fd_(connection.fileno()) {}
    /// Waits on the descriptor `fd` (not owned). Implicit, like the above.
    Waitable(int fd) noexcept : fd_(fd) {}

    /// The descriptor waited on.
    int fileno() const noexcept { return fd_; }
    /// The Connection waited on, or nullptr for a plain descriptor.
    const Connection* connection() const noexcept { return connection_; }
    /// Same object waited on.
    friend bool operator==(const Waitable&, const Waitable&) = default;

private:
    const Connection* connection_ = nullptr;
    int fd_ = -1;
};

}  // namespace tandem::multiprocessing

namespace tandem::detail {
// wait() with an optional deadline.
std::vector<multiprocessing::Waitable> wait_until(std::span<const multiprocessing::Waitable> objects,
                                                  Deadline deadline);
}  // namespace tandem::detail

namespace tandem::multiprocessing {

/// multiprocessing.connection.wait: waits as long as it takes until at least
/// one of `objects` is ready; returns the ready ones, in the order given.
/// Throws ValueError if a descriptor is negative or not open, std::system_error
/// if poll() fails.
inline std::vector<Waitable> wait(std::span<const Waitable> objects) {
    return detail::wait_until(objects, std::nullopt);
}
/// As wait(objects), giving up after `timeout`: then returns an empty list.
/// A zero or negative timeout looks once without waiting.
template <class Rep, class Period>
std::vector<Waitable> wait(std::span<const Waitable> objects, std::chrono::duration<Rep, Period> timeout) {
    return detail::wait_until(objects, detail::deadline_after(timeout));
}
/// wait() over a braced list: wait({conn_a, conn_b, process.sentinel()}).
inline std::vector<Waitable> wait(std::initializer_list<Waitable> objects) {
    return detail::wait_until(std::span(objects.begin(), objects.size()), std::nullopt);
}
/// wait() over a braced list, giving up after `timeout`.
template <class Rep, class Period>
std::vector<Waitable> wait(std::initializer_list<Waitable> objects, std::chrono::duration<Rep, Period> timeout) {
    return detail::wait_until(std::span(objects.begin(), objects.size()), detail::deadline_after(timeout));
}

}  // namespace tandem::multiprocessing

namespace tandem::detail {

/// A Connection handed to a spawn or forkserver child: its descriptor (the
/// child gets a duplicate of it) and its directions.
template <>
struct Handoff<multiprocessing::Connection> {
    /// Throws ValueError if `connection` is closed.
    static void send(HandoffWriter& out, const multiprocessing::Connection& connection);
    /// Throws FrameError if the message is malformed.
    static multiprocessing::Connection receive(HandoffReader& in);
};

}  // namespace tandem::detail
