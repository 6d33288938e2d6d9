// Internal: messages with descriptors attached, over a Unix stream socket.
//
// This is how a spawn or forkserver child receives what it is handed (see
// handoff.hpp): the descriptors ride along with SCM_RIGHTS and arrive as new
// descriptors in the receiver, close-on-exec. A message is a 4-byte length,
// the bytes, and up to kMaxPassedFds descriptors attached to its first byte.
//
//     int pair[2];
//     ::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair);
//     detail::send_with_fds(pair[0], bytes, {memfd});
//     detail::ReceivedMessage message = detail::receive_with_fds(pair[1], 1 << 20);
#pragma once

#include <cstddef>  // std::byte, std::size_t
#include <span>     // message bytes, descriptors to send
#include <vector>   // received bytes and descriptors

#include "tandem/detail/os/unique_fd.hpp"  // detail::UniqueFd

namespace tandem::detail {

/// The most descriptors one message may carry.
inline constexpr std::size_t kMaxPassedFds = 250;

/// Sends `bytes` with `fds` attached on the connected Unix stream socket
/// `socket`, blocking until all is written (EINTR is retried). The caller's
/// descriptors stay open. Throws ValueError for more than kMaxPassedFds
/// descriptors or a message over 4 GiB, std::system_error if the socket fails
/// (EPIPE when the peer is gone; SIGPIPE is never raised).
void send_with_fds(int socket, std::span<const std::byte> bytes, std::span<const int> fds = {});

struct ReceivedMessage {
    std::vector<std::byte> bytes;
    std::vector<UniqueFd> fds;
};

/// Receives one message sent by send_with_fds, blocking until it is complete.
/// Memory grows with the bytes received (doubling), whatever length the peer
/// announces.
/// Throws EOFError if the peer closed before a message began, FrameError if it closed mid-message, if
/// the length exceeds `max_bytes`, or if descriptors were cut off
/// (MSG_CTRUNC); std::system_error for other socket failures. Descriptors
/// received before an error are closed.
ReceivedMessage receive_with_fds(int socket, std::size_t max_bytes);

}  // namespace tandem::detail
