// Signals and a pool: workers ignore the SIGINT a terminal sends to the
// whole process group (the parent decides), and when the parent dies, by
// Ctrl-C or kill -9, every worker is gone within a second, with nothing
// left in /dev/shm and no zombie.
#include <gtest/gtest.h>  // TEST, EXPECT_*

#include <dirent.h>      // counting /dev/shm
#include <poll.h>        // bounded waits on pidfds and the socket
#include <sys/socket.h>  // socketpair
#include <unistd.h>      // pause

#include <algorithm>  // std::max
#include <chrono>     // the one-second bound
#include <csignal>    // SIGINT, SIGTERM, SIGKILL
#include <cstdlib>    // std::_Exit
#include <vector>     // the workers' pidfds

#include "tandem/detail/os/pidfd.hpp"              // pidfd_open, pidfd_send_signal
#include "tandem/detail/os/unique_fd.hpp"          // UniqueFd
#include "tandem/detail/wire/fd_passing.hpp"       // send_with_fds, receive_with_fds
#include "tandem/multiprocessing/process.hpp"      // ForkProcess
#include "tandem/multiprocessing/synchronize.hpp"  // Semaphore: the tasks say they run
#include "tandem/process_pool_executor.hpp"        // ProcessPoolExecutor

namespace {

using namespace std::chrono_literals;
using tandem::detail::UniqueFd;
using tandem::multiprocessing::StartMethod;

// Tells the helper it runs (so the worker is past start-up), then never returns.
int busy(tandem::multiprocessing::Semaphore started) {
    started.release();
    for (;;) ::pause();
}

std::size_t shm_entries() {
    std::size_t count = 0;
    if (DIR* directory = ::opendir("/dev/shm")) {
        while (::readdir(directory) != nullptr) ++count;
        ::closedir(directory);
    }
    return count;
}

// The helper parent: a pool with every worker busy; hands the workers'
// pidfds to the test, then waits for its fate.
void parent_body(int socket, StartMethod method) {
    tandem::ProcessPoolExecutor pool({.max_workers = 2, .start_method = method});
    tandem::multiprocessing::Semaphore started(0);
    std::vector<tandem::Future<int>> running;
    for (int i = 0; i < 2; ++i) running.push_back(pool.submit(busy, started));
    for (int i = 0; i < 2; ++i) {
        if (!started.acquire(30s)) std::_Exit(2);  // the test then fails on the missing report
    }
    std::vector<UniqueFd> pidfds;
    std::vector<int> raw;
    for (pid_t pid : pool.worker_pids()) {
        pidfds.emplace_back(tandem::detail::pidfd_open(pid));
        raw.push_back(pidfds.back().get());
    }
    tandem::detail::send_with_fds(socket, {}, raw);
    for (;;) ::pause();
}

void run_scenario(StartMethod method, int parent_signal) {
    const std::size_t shm_before = shm_entries();
    int pair[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
    UniqueFd ours(pair[0]);
    UniqueFd theirs(pair[1]);
    tandem::multiprocessing::ForkProcess parent([fd = theirs.get(), method] { parent_body(fd, method); });
    parent.start();
    theirs.reset();

    pollfd ready{ours.get(), POLLIN, 0};
    ASSERT_EQ(::poll(&ready, 1, 30'000), 1) << "the helper did not report its workers";
    tandem::detail::ReceivedMessage message = tandem::detail::receive_with_fds(ours.get(), 16);
    ASSERT_EQ(message.fds.size(), 2u);

    // The terminal's Ctrl-C reaches the workers too: they must not die of it.
    for (const UniqueFd& worker : message.fds) {
        EXPECT_EQ(tandem::detail::pidfd_send_signal(worker.get(), SIGINT), 0);
    }
    for (const UniqueFd& worker : message.fds) {
        pollfd alive{worker.get(), POLLIN, 0};
        EXPECT_EQ(::poll(&alive, 1, 200), 0) << "a worker died of SIGINT";
    }

    ASSERT_EQ(::kill(parent.pid().value(), parent_signal), 0);
    parent.join();
    EXPECT_EQ(parent.exitcode(), -parent_signal);

    const auto deadline = std::chrono::steady_clock::now() + 1s;
    for (const UniqueFd& worker : message.fds) {
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        pollfd gone{worker.get(), POLLIN, 0};
        EXPECT_EQ(::poll(&gone, 1, static_cast<int>(std::max<long long>(left.count(), 0))), 1)
            << "a worker outlived its parent by more than 1 s";
    }
    EXPECT_EQ(shm_entries(), shm_before);
}

// Python's Ctrl-C kills a pool's parent; tandem's workers ignore the group's SIGINT and die with the parent.
TEST(PoolSignals, CtrlCToTheParentEndsEveryWorker) {
    run_scenario(StartMethod::fork, SIGINT);
    run_scenario(StartMethod::spawn, SIGINT);
}

// Python: SIGTERM ends the parent (default action); tandem: its workers follow, under forkserver too.
TEST(PoolSignals, SigtermToTheParentEndsEveryWorker) {
    run_scenario(StartMethod::fork, SIGTERM);
    run_scenario(StartMethod::forkserver, SIGTERM);
}

// tandem (Python's workers outlive a killed parent): kill -9 the parent, the workers are gone within 1 s.
TEST(PoolSignals, KillNineToTheParentEndsEveryWorker) {
    run_scenario(StartMethod::fork, SIGKILL);
    run_scenario(StartMethod::spawn, SIGKILL);
}

}  // namespace
