// Internal: whom a re-executed worker obeys (parent_check.cpp).
//
// The environment variable TANDEM_WORKER only tells a re-executed copy of the
// program that it is a worker (reexec.hpp); anyone can set it. Before the
// copy reads a byte from its socket, it checks the process on the other end:
// that process created the socket (SO_PEERCRED), is the parent the marker
// names and its actual parent, runs as the same user and the same executable.
//
//     check_launching_parent(kWorkerSocketFd, parent, "spawn");   // or _exit(kRefusedWorkerStatus)
#pragma once

#include <sys/types.h>  // pid_t

#include <string>  // the problem found

namespace tandem::detail {

/// The exit status of a program started with kWorkerVariable by a process
/// that is not its own parent running the same executable (see
/// check_launching_parent); 2 is a malformed variable.
inline constexpr int kRefusedWorkerStatus = 3;

/// Why the process on the other end of `socket` may not drive this
/// re-executed worker, or an empty string if it may: it created the socket
/// (SO_PEERCRED), it is `parent` and our actual parent, it runs as our
/// effective user and the same executable (device and inode behind
/// /proc/PID/exe). Throws only std::bad_alloc.
std::string launching_parent_problem(int socket, pid_t parent);

/// launching_parent_problem(); on a problem, prints "tandem::init: refusing
/// to act as a KIND worker: PROBLEM ..." to stderr and
/// _exit(kRefusedWorkerStatus)s, having read nothing from the socket.
void check_launching_parent(int socket, pid_t parent, const char* kind) noexcept;

}  // namespace tandem::detail
