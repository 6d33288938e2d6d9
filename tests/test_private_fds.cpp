// tandem internals: the descriptors a process pool keeps from the workers it
// forks (detail/process_pool/private_fds.hpp). A listed descriptor is closed
// in every forked child, an unlisted one is not; closing and unlisting go
// together; a child forked while another thread holds the start lock can
// still take it. chaos/test_process_pool_trust.cpp checks the same across a
// real pool.
#include <gtest/gtest.h>

#include <fcntl.h>        // fcntl(F_GETFD): is a descriptor open
#include <sys/eventfd.h>  // descriptors to list

#include <atomic>  // the holder thread's progress
#include <thread>  // a thread holding the start lock across a fork

#include "support/child_process.hpp"  // fork_child, join_child
#include "tandem/detail/process_pool/private_fds.hpp"

namespace {

using tandem::detail::UniqueFd;
using tandem::detail::process_pool::hold_worker_starts;
using tandem::detail::process_pool::list_fd;
using tandem::detail::process_pool::PrivateFd;
using tandem::detail::process_pool::unlist_fd;
using tandem_test::fork_child;
using tandem_test::join_child;

bool is_open(int fd) { return ::fcntl(fd, F_GETFD) != -1; }

UniqueFd new_fd() { return UniqueFd(::eventfd(0, EFD_CLOEXEC)); }

TEST(PrivateFds, ListedDescriptorsAreClosedInForkedChildren) {
    PrivateFd listed(new_fd());
    UniqueFd plain = new_fd();
    UniqueFd owned_elsewhere = new_fd();
    list_fd(owned_elsewhere.get());
    ASSERT_TRUE(listed);
    const pid_t child = fork_child([&] {
        return (is_open(listed.get()) ? 1 : 0) + (is_open(plain.get()) ? 0 : 2) +
               (is_open(owned_elsewhere.get()) ? 4 : 0);
    });
    EXPECT_EQ(join_child(child), 0);
    EXPECT_TRUE(is_open(listed.get()));
    unlist_fd(owned_elsewhere.get());
    const pid_t after = fork_child([&] { return is_open(owned_elsewhere.get()) ? 0 : 1; });
    EXPECT_EQ(join_child(after), 0) << "unlisted again";
}

TEST(PrivateFds, ResetClosesAndUnlists) {
    PrivateFd listed(new_fd());
    const int number = listed.get();
    listed.reset();
    EXPECT_FALSE(listed);
    EXPECT_FALSE(is_open(number));
    // The number, reused by a descriptor nobody listed, stays open in a child.
    UniqueFd reused = new_fd();
    ASSERT_EQ(reused.get(), number);
    const pid_t child = fork_child([&] { return is_open(reused.get()) ? 0 : 1; });
    EXPECT_EQ(join_child(child), 0);
    PrivateFd moved(new_fd());
    PrivateFd target = std::move(moved);
    EXPECT_FALSE(moved);
    EXPECT_TRUE(is_open(target.get()));
}

// A child forked while another thread holds the start lock (a pool starting a worker) can take
// it: a program that forks while a pool starts workers can start pools of its own in the child.
TEST(PrivateFds, AChildCanHoldTheStartLockWhateverItsParentHeld) {
    std::atomic<int> stage{0};
    std::thread holder([&] {
        const auto held = hold_worker_starts();
        stage = 1;
        while (stage.load() != 2) std::this_thread::yield();
    });
    while (stage.load() != 1) std::this_thread::yield();
    const pid_t child = fork_child([] {
        const auto held = hold_worker_starts();
        PrivateFd made(new_fd());
        return made ? 0 : 1;
    });
    EXPECT_EQ(join_child(child), 0);
    stage = 2;
    holder.join();
}

}  // namespace
