// Children die with their parent: a parent (a forked helper) starts children
// under every start method and is SIGKILLed; every child must be gone within
// one second (their pidfds, handed to the test, become readable).
#include <gtest/gtest.h>  // TEST, EXPECT_*

#include <poll.h>        // bounded waits on pidfds and the socket
#include <sys/socket.h>  // socketpair
#include <unistd.h>      // pause

#include <chrono>   // the one-second bound
#include <cstdlib>  // std::exit
#include <vector>   // the children's pidfds

#include "tandem/detail/os/unique_fd.hpp"      // detail::UniqueFd
#include "tandem/detail/wire/fd_passing.hpp"   // send_with_fds, receive_with_fds
#include "tandem/multiprocessing/process.hpp"  // Process, ForkProcess

namespace {

using namespace std::chrono_literals;
using namespace tandem::multiprocessing;
using tandem::detail::UniqueFd;

void block_forever() {
    for (;;) ::pause();
}

// The helper: starts one child per start method (two per method, one of
// them a daemon), hands their sentinels to the test, then waits to be killed.
void parent_body(int socket) {
    std::vector<Process> children;
    for (StartMethod method : {StartMethod::fork, StartMethod::forkserver, StartMethod::spawn}) {
        children.emplace_back(ProcessOptions{.start_method = method}, &block_forever);
        children.emplace_back(ProcessOptions{.daemon = true, .start_method = method}, &block_forever);
    }
    std::vector<int> sentinels;
    for (Process& child : children) {
        child.start();
        sentinels.push_back(child.sentinel());
    }
    tandem::detail::send_with_fds(socket, {}, sentinels);
    block_forever();
}

// tandem (Python's children outlive a killed parent): kill -9 the parent and every child is
// gone within 1 s, whatever its start method.
TEST(ParentDeath, EveryChildDiesWithinOneSecond) {
    int pair[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
    UniqueFd ours(pair[0]);
    UniqueFd theirs(pair[1]);
    ForkProcess parent([fd = theirs.get()] { parent_body(fd); });
    parent.start();
    theirs.reset();

    pollfd ready{ours.get(), POLLIN, 0};
    ASSERT_EQ(::poll(&ready, 1, 30'000), 1) << "the helper did not report its children";
    tandem::detail::ReceivedMessage message = tandem::detail::receive_with_fds(ours.get(), 16);
    ASSERT_EQ(message.fds.size(), 6u);
    for (const UniqueFd& child : message.fds) {
        pollfd alive{child.get(), POLLIN, 0};
        EXPECT_EQ(::poll(&alive, 1, 0), 0) << "a child ended before its parent";
    }

    parent.kill();
    parent.join();
    EXPECT_EQ(parent.exitcode(), -SIGKILL);

    const auto deadline = std::chrono::steady_clock::now() + 1s;
    for (std::size_t i = 0; i < message.fds.size(); ++i) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        pollfd gone{message.fds[i].get(), POLLIN, 0};
        EXPECT_EQ(::poll(&gone, 1, static_cast<int>(std::max<long long>(left.count(), 0))), 1)
            << "child " << i << " (method " << i / 2 << ") outlived its parent by more than 1 s";
    }
}

}  // namespace
