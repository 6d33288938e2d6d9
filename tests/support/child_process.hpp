// Test support: running a piece of a test in a forked child, waiting for it
// with a bound, and counting this process's descriptors. Shared by the test
// programs of the multiprocessing headers.
//
//     const pid_t pid = fork_child([&] { return lock.acquire(1s) ? 0 : 1; });
//     EXPECT_EQ(join_child(pid), 0);
//     EXPECT_EQ(open_fd_count(), before);
#pragma once

#include <dirent.h>       // opendir on /proc/self/fd
#include <poll.h>         // waiting on a pidfd
#include <sys/syscall.h>  // SYS_pidfd_open
#include <sys/wait.h>     // waitpid, WIFEXITED...
#include <unistd.h>       // fork, _exit, close

#include <gtest/gtest.h>  // ADD_FAILURE

#include <chrono>   // bounds
#include <csignal>  // SIGKILL
#include <cstddef>  // std::size_t

namespace tandem_test {

/// The number of descriptors this process has open (plus the directory's own).
inline std::size_t open_fd_count() {
    std::size_t count = 0;
    DIR* directory = ::opendir("/proc/self/fd");
    while (::readdir(directory) != nullptr) ++count;
    ::closedir(directory);
    return count;
}

/// A pidfd for `pid` (glibc 2.36 declares pidfd_open without C++ linkage).
inline int pidfd_open(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }

/// Runs `body` in a child made by fork(); the child exits with body's result
/// (101 if it threw). Children use no gtest assertions.
template <class Body>
pid_t fork_child(Body body) {
    const pid_t pid = ::fork();
    if (pid == 0) {
        int code = 100;
        try {
            code = body();
        } catch (...) {
            code = 101;
        }
        ::_exit(code);
    }
    return pid;
}

/// Waits (bounded, on a pidfd) for a child: its exit code, or minus the signal
/// that killed it. A child that outlives the bound is killed and the test fails.
inline int join_child(pid_t pid, std::chrono::milliseconds limit = std::chrono::seconds(30)) {
    const int pidfd = pidfd_open(pid);
    pollfd entry{pidfd, POLLIN, 0};
    if (pidfd < 0 || ::poll(&entry, 1, static_cast<int>(limit.count())) != 1) {
        ::kill(pid, SIGKILL);
        ADD_FAILURE() << "child " << pid << " did not finish in time";
    }
    if (pidfd >= 0) ::close(pidfd);
    int status = 0;
    ::waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
}

}  // namespace tandem_test
