// Internal: re-executing the program as a worker, for spawn and forkserver
// (init.cpp, spawn.cpp, forkserver.cpp).
//
// tandem::init() records the program's arguments; a spawn or forkserver
// child is /proc/self/exe run again with them, TANDEM_WORKER set to
// "KIND:FD:PARENT_PID" and its end of a socket pair at descriptor 3. init()
// in that copy sees the variable, checks its parent (parent_check.hpp) and
// runs the worker's body instead of main().
//
//     pid_t pid = exec_worker("spawn", child_socket.get());   // the child: run_spawned_child()
#pragma once

#include <sys/types.h>  // pid_t

#include <string>  // the environment's entries
#include <vector>  // arguments, environment

namespace tandem::detail {

/// The environment variable that marks a re-executed program as a spawned
/// child ("spawn:FD:PARENT_PID") or as the forkserver ("forkserver:FD:PARENT_PID").
inline constexpr const char* kWorkerVariable = "TANDEM_WORKER";

/// The arguments init() recorded, to re-execute the program with.
std::vector<std::string> program_arguments();

/// Throws ProcessError saying what to do unless init() was called (or why
/// init() could not make the method available: AT_SECURE).
void require_init(const char* method_name);

/// The bodies of re-executed programs, run by init(); they never return.
[[noreturn]] void run_spawned_child(int socket, pid_t parent) noexcept;
[[noreturn]] void run_forkserver(int socket, pid_t parent) noexcept;

/// Builds the environment for a re-executed program: this process's
/// environment without any TANDEM_WORKER, plus TANDEM_WORKER=`marker`.
std::vector<std::string> worker_environment(const std::string& marker);

/// Fork + exec of /proc/self/exe as a worker (`kind` "spawn" or "forkserver")
/// whose end of a socket pair becomes descriptor 3; every other descriptor
/// but 0-2 is closed in it. Returns the child's pid. Throws
/// std::system_error if fork() fails.
pid_t exec_worker(const char* kind, int child_socket);

/// The fixed descriptor number a re-executed worker finds its socket at.
inline constexpr int kWorkerSocketFd = 3;

}  // namespace tandem::detail
