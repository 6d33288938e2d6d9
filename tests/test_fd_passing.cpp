// Tests for tandem/detail/wire/fd_passing.hpp: messages with descriptors over
// a Unix socket, the channel a spawned child and the forkserver receive their
// start messages on. Python's multiprocessing.reduction.sendfds/recvfds pass
// descriptors the same way (SCM_RIGHTS); the length checks are tandem's.
#include "tandem/detail/wire/fd_passing.hpp"

#include <gtest/gtest.h>  // TEST, EXPECT_*

#include <fcntl.h>       // fcntl(F_GETFD)
#include <sys/socket.h>  // socketpair
#include <unistd.h>      // pipe2, read, write, close

#include <cstdint>    // the forged length prefix
#include <cstring>    // std::memcpy
#include <stdexcept>  // std::runtime_error from the fixture
#include <thread>     // a sender for a message larger than the socket buffer
#include <vector>     // messages

#include "support/child_process.hpp"          // fork_child, join_child
#include "support/peak_rss.hpp"               // peak_rss_kib
#include "tandem/detail/launch/launcher.hpp"  // kMaxStartMessage
#include "tandem/detail/os/unique_fd.hpp"     // UniqueFd
#include "tandem/errors.hpp"                  // FrameError, EOFError

namespace {

using tandem::detail::receive_with_fds;
using tandem::detail::send_with_fds;
using tandem::detail::UniqueFd;

struct SocketPair {
    SocketPair() {
        int ends[2];
        if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ends) != 0) throw std::runtime_error("socketpair");
        ours.reset(ends[0]);
        theirs.reset(ends[1]);
    }
    UniqueFd ours;
    UniqueFd theirs;
};

// multiprocessing.reduction.sendfds/recvfds: bytes and descriptors arrive together, the descriptors as new ones.
TEST(FdPassing, LargeMessageWithDescriptorsRoundTrips) {
    SocketPair channel;
    int pipe_ends[2];
    ASSERT_EQ(::pipe2(pipe_ends, O_CLOEXEC), 0);
    const UniqueFd read_end(pipe_ends[0]);
    const UniqueFd write_end(pipe_ends[1]);
    std::vector<std::byte> bytes(5 << 20);
    for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<std::byte>(i * 7);
    const int fds[] = {write_end.get()};
    std::thread sender([&] { send_with_fds(channel.ours.get(), bytes, fds); });
    const tandem::detail::ReceivedMessage message = receive_with_fds(channel.theirs.get(), 8 << 20);
    sender.join();
    EXPECT_EQ(message.bytes, bytes);
    ASSERT_EQ(message.fds.size(), 1u);
    EXPECT_NE(::fcntl(message.fds[0].get(), F_GETFD) & FD_CLOEXEC, 0);
    ASSERT_EQ(::write(message.fds[0].get(), "x", 1), 1);
    char got = 0;
    ASSERT_EQ(::read(read_end.get(), &got, 1), 1);
    EXPECT_EQ(got, 'x');
}

// tandem: a length over the limit is refused before anything is read; the peer closing is EOFError or FrameError.
TEST(FdPassing, LengthsAndEndsAreChecked) {
    {
        SocketPair channel;
        send_with_fds(channel.ours.get(), std::vector<std::byte>(100));
        EXPECT_THROW((void)receive_with_fds(channel.theirs.get(), 99), tandem::FrameError);
    }
    {
        SocketPair channel;
        channel.ours.reset();
        EXPECT_THROW((void)receive_with_fds(channel.theirs.get(), 99), tandem::EOFError);
    }
    {
        SocketPair channel;
        const std::uint32_t length = 10;
        ASSERT_EQ(::write(channel.ours.get(), &length, sizeof length), 4);
        ASSERT_EQ(::write(channel.ours.get(), "abc", 3), 3);
        channel.ours.reset();
        EXPECT_THROW((void)receive_with_fds(channel.theirs.get(), 99), tandem::FrameError);
    }
}

// tandem: a start message (the limit a spawned child and the forkserver use,
// 1 GiB) claiming 1 GiB that never arrives costs the receiver the bytes that
// came, not 1 GiB of zeroed memory. Peak RSS measured in a fresh child.
TEST(FdPassing, ClaimedLengthAllocatesOnlyWhatArrives) {
    const pid_t pid = tandem_test::fork_child([] {
        SocketPair channel;
        const long before = tandem_test::peak_rss_kib();
        const auto length = static_cast<std::uint32_t>(tandem::detail::kMaxStartMessage);
        std::vector<std::byte> wire(sizeof length + 1000, std::byte{1});
        std::memcpy(wire.data(), &length, sizeof length);
        if (::write(channel.ours.get(), wire.data(), wire.size()) != static_cast<ssize_t>(wire.size())) return 2;
        channel.ours.reset();
        try {
            (void)receive_with_fds(channel.theirs.get(), tandem::detail::kMaxStartMessage);
            return 3;
        } catch (const tandem::FrameError&) {
        }
        const long grown = tandem_test::peak_rss_kib() - before;
        return grown < 16 * 1024 ? 0 : 4;
    });
    EXPECT_EQ(tandem_test::join_child(pid), 0);
}

}  // namespace
