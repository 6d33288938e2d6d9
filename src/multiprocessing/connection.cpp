// Connection, Pipe and wait(): see multiprocessing/connection.hpp.
//
// A message is one frame (detail/wire/frame.hpp) on a byte stream. The receiver
// reads exactly the 24-byte header, checks it, then reads exactly the payload
// it announces, so it never takes bytes of the next message: several
// processes may share one end and take turns (as the queues do), and poll()
// on the descriptor tells the whole truth because nothing is buffered here.
#include "tandem/multiprocessing/connection.hpp"

#include <fcntl.h>       // O_CLOEXEC
#include <poll.h>        // pollfd, POLLIN, POLLNVAL
#include <sys/socket.h>  // socketpair
#include <unistd.h>      // pipe2

#include <algorithm>  // std::min
#include <array>      // the header buffer
#include <cerrno>     // EMSGSIZE
#include <string>     // failure messages

#include "tandem/detail/os/fd_io.hpp"         // read_some, write_all, poll_until
#include "tandem/detail/os/system_error.hpp"  // throw_errno
#include "tandem/errors.hpp"                  // ValueError, EOFError, FrameError, BufferTooShort

namespace tandem::multiprocessing {

namespace {

// A payload buffer starts at this size and doubles as bytes arrive, so that a
// header claiming a large payload costs memory only once the bytes are there.
constexpr std::size_t kFirstPayloadChunk = std::size_t{1} << 20;

std::string describe_truncation(std::size_t got, std::size_t total, const char* part) {
    return "truncated frame: the peer closed after " + std::to_string(got) + " of the " + std::to_string(total) +
           " " + part + " bytes";
}

}  // namespace

Connection::Connection(int fd, bool readable, bool writable) {
    if (fd < 0) throw ValueError("invalid handle");
    if (!readable && !writable) throw ValueError("at least one of readable and writable must be true");
    is_socket_ = detail::is_socket(fd);
    fd_.reset(fd);
    readable_ = readable;
    writable_ = writable;
}

int Connection::fileno() const {
    check_open();
    return fd_.get();
}

void Connection::check_open() const {
    if (!fd_) throw ValueError("handle is closed");
}

void Connection::check_writable() const {
    check_open();
    if (!writable_) throw ValueError("connection is read-only");
}

void Connection::check_readable() const {
    check_open();
    if (!readable_) throw ValueError("connection is write-only");
    if (!failure_.empty()) throw FrameError(failure_);
}

void Connection::fail(std::string message) {
    failure_ = std::move(message);
    throw FrameError(failure_);
}

// --- sending ------------------------------------------------------------------

void Connection::send_frame(std::span<std::byte> frame) {
    const auto payload = frame.subspan(detail::kFrameHeaderSize);
    detail::encode_frame_header(frame.first<detail::kFrameHeaderSize>(), detail::FrameKind::message, 0, payload);
    detail::write_all(fd_.get(), is_socket_, frame);
}

void Connection::send_bytes(std::span<const std::byte> buffer, std::size_t offset, std::optional<std::size_t> size) {
    check_writable();
    if (offset > buffer.size()) throw ValueError("buffer length < offset");
    const std::size_t length = size.value_or(buffer.size() - offset);
    if (length > buffer.size() - offset) throw ValueError("buffer length < offset + size");
    const auto payload = buffer.subspan(offset, length);
    // The header goes in front of the caller's bytes in the same writev: a
    // large buffer is not copied.
    std::array<std::byte, detail::kFrameHeaderSize> header{};
    detail::encode_frame_header(header, detail::FrameKind::message, 0, payload);
    detail::write_all(fd_.get(), is_socket_, header, payload);
}

// --- receiving ------------------------------------------------------------------

std::size_t Connection::receive_header() {
    check_readable();
    std::array<std::byte, detail::kFrameHeaderSize> header{};
    std::size_t got = 0;
    while (got < header.size()) {
        const std::size_t n = detail::read_some(fd_.get(), std::span(header).subspan(got));
        if (n == 0) {
            if (got == 0) throw EOFError();
            fail(describe_truncation(got, header.size(), "header"));
        }
        got += n;
    }
    detail::FrameHeader decoded{};
    try {
        decoded = detail::decode_frame_header(header);
    } catch (const FrameError& e) {
        fail(e.what());
    }
    if (decoded.kind != detail::FrameKind::message) {
        fail("unexpected frame kind " + std::to_string(static_cast<unsigned>(decoded.kind)) +
             " on a Connection (expected a message)");
    }
    payload_checksum_ = decoded.payload_checksum;
    return decoded.payload_size;
}

void Connection::receive_exactly(std::span<std::byte> out, std::size_t total) {
    std::size_t got = 0;
    while (got < out.size()) {
        const std::size_t n = detail::read_some(fd_.get(), out.subspan(got));
        if (n == 0) fail(describe_truncation(got, total, "payload"));
        got += n;
    }
}

void Connection::check_payload(std::span<const std::byte> payload) {
    // The stream is still in step, but a channel that corrupts data cannot
    // be trusted with the next message either: the connection is given up.
    if (detail::crc32c(payload) != payload_checksum_) fail("corrupted frame: payload checksum mismatch");
}

std::vector<std::byte> Connection::receive_payload(std::optional<std::size_t> maxlength) {
    const std::size_t size = receive_header();
    if (maxlength && size > *maxlength) {
        // The payload is still in the stream and cannot be skipped without
        // reading it, so, as Python, this end stops receiving.
        readable_ = false;
        if (!writable_) close();
        detail::throw_errno(EMSGSIZE, "bad message length");
    }
    std::vector<std::byte> payload = receive_growing(size);
    check_payload(payload);
    return payload;
}

std::vector<std::byte> Connection::receive_growing(std::size_t size) {
    std::vector<std::byte> payload(std::min(size, kFirstPayloadChunk));
    std::size_t got = 0;
    while (got < size) {
        if (got == payload.size()) payload.resize(std::min(size, payload.size() * 2));
        const std::size_t n = detail::read_some(fd_.get(), std::span(payload).subspan(got));
        if (n == 0) fail(describe_truncation(got, size, "payload"));
        got += n;
    }
    return payload;
}

std::vector<std::byte> Connection::recv_bytes(std::optional<std::size_t> maxlength) {
    return receive_payload(maxlength);
}

std::size_t Connection::recv_bytes_into(std::span<std::byte> buffer, std::size_t offset) {
    check_readable();
    if (offset > buffer.size()) throw ValueError("offset too large");
    // If the payload does not fit, it is received whole all the same (the
    // stream stays in step) and handed over in the exception, as Python does.
    const std::size_t room = buffer.size() - offset;
    const std::size_t size = receive_header();
    if (size > room) {
        // Grown with the bytes received, like recv_bytes(): the header's
        // claim alone allocates nothing.
        std::vector<std::byte> too_long = receive_growing(size);
        check_payload(too_long);
        throw BufferTooShort(std::move(too_long));
    }
    const auto out = buffer.subspan(offset, size);
    receive_exactly(out, size);
    check_payload(out);
    return size;
}

bool Connection::poll_until(detail::Deadline deadline) {
    check_readable();
    return detail::wait_readable(fd_.get(), deadline);
}

// --- Pipe -------------------------------------------------------------------------

std::pair<Connection, Connection> Pipe(bool duplex) {
    int fds[2] = {-1, -1};
    if (duplex) {
        if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
            detail::throw_errno("Pipe: socketpair");
        }
    } else if (::pipe2(fds, O_CLOEXEC) != 0) {
        detail::throw_errno("Pipe: pipe2");
    }
    // Owned here until each Connection has taken its descriptor.
    detail::UniqueFd first(fds[0]);
    detail::UniqueFd second(fds[1]);
    Connection first_end(first.get(), true, duplex);
    (void)first.release();
    Connection second_end(second.get(), duplex, true);
    (void)second.release();
    return {std::move(first_end), std::move(second_end)};
}

}  // namespace tandem::multiprocessing

namespace tandem::detail {

// --- wait() -----------------------------------------------------------------------

std::vector<multiprocessing::Waitable> wait_until(std::span<const multiprocessing::Waitable> objects,
                                                  Deadline deadline) {
    std::vector<pollfd> entries;
    entries.reserve(objects.size());
    for (const multiprocessing::Waitable& object : objects) {
        if (object.fileno() < 0) throw ValueError("wait(): invalid descriptor " + std::to_string(object.fileno()));
        entries.push_back({object.fileno(), POLLIN, 0});
    }
    std::vector<multiprocessing::Waitable> ready;
    if (poll_until(entries, deadline) == 0) return ready;
    for (std::size_t i = 0; i < entries.size(); ++i) {
        if ((entries[i].revents & POLLNVAL) != 0) {
            throw ValueError("wait(): descriptor " + std::to_string(entries[i].fd) + " is not open");
        }
        if (entries[i].revents != 0) ready.push_back(objects[i]);
    }
    return ready;
}

// --- handing a Connection to another process ----------------------------------------

void Handoff<multiprocessing::Connection>::send(HandoffWriter& out, const multiprocessing::Connection& connection) {
    out.write_fd(connection.fileno());
    const auto directions =
        static_cast<std::uint8_t>((connection.readable() ? 1u : 0u) | (connection.writable() ? 2u : 0u));
    out.write(directions);
}

multiprocessing::Connection Handoff<multiprocessing::Connection>::receive(HandoffReader& in) {
    UniqueFd fd = in.take_fd();
    const auto directions = in.read<std::uint8_t>();
    if (directions == 0 || directions > 3) throw FrameError("handoff: a Connection with no valid direction");
    multiprocessing::Connection connection(fd.get(), (directions & 1u) != 0, (directions & 2u) != 0);
    (void)fd.release();
    return connection;
}

}  // namespace tandem::detail
