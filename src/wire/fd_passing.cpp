// Messages with descriptors attached (SCM_RIGHTS): see detail/wire/fd_passing.hpp.
#include "tandem/detail/wire/fd_passing.hpp"

#include <sys/socket.h>  // sendmsg, recvmsg, CMSG_*

#include <algorithm>  // std::min, std::max
#include <cerrno>     // errno, EINTR
#include <cstdint>    // std::uint32_t, the length prefix
#include <cstring>    // std::memcpy

#include "tandem/detail/os/system_error.hpp"  // throw_errno
#include "tandem/errors.hpp"                  // ValueError, EOFError, FrameError

namespace tandem::detail {
namespace {

// The receive buffer's first size; it doubles as more bytes arrive.
constexpr std::size_t kFirstChunk = std::size_t{64} << 10;

// Control buffer big enough for kMaxPassedFds descriptors, suitably aligned.
union ControlBuffer {
    char bytes[CMSG_SPACE(sizeof(int) * kMaxPassedFds)];
    cmsghdr align;
};

// Writes all of `bytes`; the descriptors go with the first sendmsg only.
void send_all(int socket, std::span<const std::byte> bytes, std::span<const int> fds) {
    ControlBuffer control{};
    while (!bytes.empty()) {
        iovec io{const_cast<std::byte*>(bytes.data()), bytes.size()};
        msghdr message{};
        message.msg_iov = &io;
        message.msg_iovlen = 1;
        if (!fds.empty()) {
            message.msg_control = control.bytes;
            message.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
            cmsghdr* header = CMSG_FIRSTHDR(&message);
            header->cmsg_level = SOL_SOCKET;
            header->cmsg_type = SCM_RIGHTS;
            header->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
            std::memcpy(CMSG_DATA(header), fds.data(), sizeof(int) * fds.size());
        }
        const ssize_t sent = ::sendmsg(socket, &message, MSG_NOSIGNAL);
        if (sent < 0) {
            if (errno == EINTR) continue;
            throw_errno("sendmsg");
        }
        fds = {};
        bytes = bytes.subspan(static_cast<std::size_t>(sent));
    }
}

// Reads exactly `out.size()` bytes, collecting any descriptors that arrive.
// Returns false if the peer closed before the first byte.
bool receive_all(int socket, std::span<std::byte> out, std::vector<UniqueFd>& fds) {
    std::size_t done = 0;
    while (done < out.size()) {
        ControlBuffer control{};
        iovec io{out.data() + done, out.size() - done};
        msghdr message{};
        message.msg_iov = &io;
        message.msg_iovlen = 1;
        message.msg_control = control.bytes;
        message.msg_controllen = sizeof control.bytes;
        const ssize_t got = ::recvmsg(socket, &message, MSG_CMSG_CLOEXEC);
        if (got < 0) {
            if (errno == EINTR) continue;
            throw_errno("recvmsg");
        }
        for (cmsghdr* header = CMSG_FIRSTHDR(&message); header != nullptr; header = CMSG_NXTHDR(&message, header)) {
            if (header->cmsg_level != SOL_SOCKET || header->cmsg_type != SCM_RIGHTS) continue;
            const std::size_t count = (header->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            for (std::size_t i = 0; i < count; ++i) {
                int fd;
                std::memcpy(&fd, CMSG_DATA(header) + i * sizeof(int), sizeof fd);
                fds.emplace_back(fd);
            }
        }
        if ((message.msg_flags & MSG_CTRUNC) != 0) throw FrameError("message: descriptors were cut off (MSG_CTRUNC)");
        if (got == 0) {
            if (done == 0) return false;
            throw FrameError("message: the peer closed in the middle of a message");
        }
        done += static_cast<std::size_t>(got);
    }
    return true;
}

}  // namespace

void send_with_fds(int socket, std::span<const std::byte> bytes, std::span<const int> fds) {
    if (fds.size() > kMaxPassedFds) throw ValueError("send_with_fds: too many descriptors in one message");
    if (bytes.size() > UINT32_MAX) throw ValueError("send_with_fds: message over 4 GiB");
    const auto length = static_cast<std::uint32_t>(bytes.size());
    std::byte prefix[sizeof length];
    std::memcpy(prefix, &length, sizeof length);
    // The descriptors ride on the length prefix, so that they arrive even for
    // an empty message.
    send_all(socket, prefix, fds);
    send_all(socket, bytes, {});
}

ReceivedMessage receive_with_fds(int socket, std::size_t max_bytes) {
    ReceivedMessage message;
    std::byte prefix[sizeof(std::uint32_t)];
    if (!receive_all(socket, prefix, message.fds)) throw EOFError();
    std::uint32_t length;
    std::memcpy(&length, prefix, sizeof length);
    if (length > max_bytes) throw FrameError("message: length exceeds the limit");
    // The buffer grows with the bytes that arrive, at most doubling, never to
    // the length the peer claims: a claim of 1 GiB followed by nothing costs
    // the first chunk, not 1 GiB of zeroed memory.
    std::size_t got = 0;
    while (got < length) {
        const std::size_t until = std::min<std::size_t>(length, std::max(2 * got, kFirstChunk));
        message.bytes.resize(until);
        if (!receive_all(socket, std::span(message.bytes).subspan(got), message.fds)) {
            throw FrameError("message: the peer closed in the middle of a message");
        }
        got = until;
    }
    return message;
}

}  // namespace tandem::detail
