// Test support: running a piece of a test in a forked child, or another
// program, waiting for it with a bound, and counting this process's
// descriptors. Shared by the test programs of the multiprocessing headers.
//
//     const pid_t pid = fork_child([&] { return lock.acquire(1s) ? 0 : 1; });
//     EXPECT_EQ(join_child(pid), 0);
//     EXPECT_EQ(open_fd_count(), before);
//     const ProgramRun run = run_program({"/usr/bin/python3", "-c", "print(1)"});   // run.code, run.output
#pragma once

#include <dirent.h>       // opendir on /proc/self/fd
#include <fcntl.h>        // O_CLOEXEC for the output pipe
#include <poll.h>         // waiting on a pidfd
#include <sys/syscall.h>  // SYS_pidfd_open
#include <sys/wait.h>     // waitpid, WIFEXITED...
#include <unistd.h>       // fork, _exit, close, pipe2, execve, environ

#include <gtest/gtest.h>  // ADD_FAILURE

#include <algorithm>  // std::max of the time left
#include <chrono>     // bounds
#include <csignal>    // SIGKILL
#include <cstddef>    // std::size_t
#include <string>     // a program's arguments and output
#include <vector>     // its argument list

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

/// What run_program saw: the exit code (or minus the signal) and everything
/// the program wrote to stdout and stderr.
struct ProgramRun {
    int code = -1;
    std::string output;
};

/// Runs `argv` (argv[0] a path) with this environment plus `environment`
/// ("NAME=value" entries), collecting its stdout and stderr; `before_exec`
/// runs in the child first (it must stay async-signal-safe; a false return
/// makes the child exit 126). Killed, and the test failed, if it outlives
/// `limit`.
template <class BeforeExec>
ProgramRun run_program(const std::vector<std::string>& argv, const std::vector<std::string>& environment,
                       BeforeExec before_exec, std::chrono::milliseconds limit = std::chrono::seconds(60)) {
    std::vector<char*> arguments;
    for (const std::string& argument : argv) arguments.push_back(const_cast<char*>(argument.c_str()));
    arguments.push_back(nullptr);
    std::vector<std::string> variables(environment);
    for (char** entry = environ; *entry != nullptr; ++entry) variables.emplace_back(*entry);
    std::vector<char*> envp;
    for (std::string& variable : variables) envp.push_back(variable.data());
    envp.push_back(nullptr);
    int output[2];
    if (::pipe2(output, O_CLOEXEC) != 0) return {};
    const pid_t pid = ::fork();
    if (pid == 0) {
        if (::dup2(output[1], 1) != 1 || ::dup2(output[1], 2) != 2 || !before_exec()) ::_exit(126);
        ::execve(arguments[0], arguments.data(), envp.data());
        ::_exit(127);
    }
    ::close(output[1]);
    ProgramRun run;
    const auto deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        pollfd entry{output[0], POLLIN, 0};
        if (left.count() <= 0 || ::poll(&entry, 1, static_cast<int>(left.count())) != 1) break;
        char buffer[4096];
        const ssize_t got = ::read(output[0], buffer, sizeof buffer);
        if (got <= 0) break;
        run.output.append(buffer, static_cast<std::size_t>(got));
    }
    ::close(output[0]);
    run.code = join_child(pid, std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::max(deadline - std::chrono::steady_clock::now(),
                                            std::chrono::steady_clock::duration(std::chrono::milliseconds(100)))));
    return run;
}

/// run_program with nothing to do before exec.
inline ProgramRun run_program(const std::vector<std::string>& argv, const std::vector<std::string>& environment = {},
                              std::chrono::milliseconds limit = std::chrono::seconds(60)) {
    return run_program(argv, environment, [] { return true; }, limit);
}

}  // namespace tandem_test
