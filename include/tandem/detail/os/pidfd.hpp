// Internal: process descriptors (pidfds), the handle tandem holds on every
// child it starts.
//
// A pidfd becomes readable when its process ends (the sentinel a Process and
// the pool's collector poll), and a signal sent through it reaches that
// process or nobody: never a stranger that reused the pid.
//
//     UniqueFd pidfd = open_pidfd(pid);                  // right after fork(), before any reaping
//     pidfd_send_signal(pidfd.get(), SIGTERM);
//     siginfo_t info{};  ::waitid(P_PIDFD, pidfd.get(), &info, WEXITED);
//     int code = exit_code_from(info);                   // 0, n, or -SIGTERM
#pragma once

#include <sys/types.h>  // pid_t

#include <csignal>  // siginfo_t

#include "tandem/detail/os/unique_fd.hpp"  // UniqueFd

namespace tandem::detail {

/// pidfd_open(2) and pidfd_send_signal(2) through syscall(): glibc 2.36's
/// <sys/pidfd.h> declares them without extern "C", so C++ cannot link them.
/// Return -1 and set errno on failure, as the system calls.
int pidfd_open(pid_t pid) noexcept;
int pidfd_send_signal(int pidfd, int signal_number) noexcept;

/// pidfd_open(pid) for a child just forked (not yet reaped, so the pid is
/// still ours). Throws std::system_error on failure.
UniqueFd open_pidfd(pid_t pid);

/// Python's exit code from a waitid() result: the exit status, or minus the
/// signal number.
int exit_code_from(const siginfo_t& info) noexcept;

}  // namespace tandem::detail
