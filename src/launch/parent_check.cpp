// Who may drive a re-executed worker: the check a spawned child and the
// forkserver make on their socket before they read anything from it (see
// detail/launch/launcher.hpp).
//
// The environment variable that makes a program a worker can be set by
// anyone who can run the program. What only the program itself can do is be
// the worker's parent, on the other end of the socket it was handed, running
// the same executable, as the same user: a socket pair remembers the process
// that created it (SO_PEERCRED), and both start methods create theirs in the
// parent, just before they execute the worker. A program started by a script
// with the variable set therefore refuses to act on anything it is sent.
#include <sys/socket.h>                           // getsockopt, SO_PEERCRED, ucred
#include <sys/stat.h>                             // stat of the executables
#include "tandem/detail/launch/parent_check.hpp"  // launching_parent_problem, check_launching_parent, kRefusedWorkerStatus, ...
#include "tandem/detail/launch/reexec.hpp"        // kWorkerVariable
#include <unistd.h>                               // getppid, geteuid, _exit

#include <cerrno>   // errno
#include <cstdio>   // the refusal on stderr
#include <cstring>  // std::strerror
#include <string>   // the problem, in words


namespace tandem::detail {

std::string launching_parent_problem(int socket, pid_t parent) {
    ucred peer{};
    socklen_t size = sizeof peer;
    if (::getsockopt(socket, SOL_SOCKET, SO_PEERCRED, &peer, &size) != 0 || size != sizeof peer) {
        return "descriptor " + std::to_string(socket) + " is not a connected Unix socket (" + std::strerror(errno) +
               ")";
    }
    if (peer.pid != parent) {
        return "its socket was made by process " + std::to_string(peer.pid) + ", not by the parent named in " +
               kWorkerVariable + " (" + std::to_string(parent) + ")";
    }
    if (::getppid() != parent) {
        return "process " + std::to_string(parent) + " is not its parent (that is " + std::to_string(::getppid()) +
               ")";
    }
    if (peer.uid != ::geteuid()) {
        return "its parent runs as user " + std::to_string(peer.uid) + ", not as " + std::to_string(::geteuid());
    }
    struct stat own {};
    struct stat theirs {};
    const std::string parent_executable = "/proc/" + std::to_string(parent) + "/exe";
    if (::stat("/proc/self/exe", &own) != 0 || ::stat(parent_executable.c_str(), &theirs) != 0) {
        return "cannot compare its executable with its parent's (" + std::string(std::strerror(errno)) + ")";
    }
    if (own.st_dev != theirs.st_dev || own.st_ino != theirs.st_ino) {
        return "its parent runs another program";
    }
    return {};
}

void check_launching_parent(int socket, pid_t parent, const char* kind) noexcept {
    std::string problem;
    try {
        problem = launching_parent_problem(socket, parent);
    } catch (...) {
        problem = "out of memory while checking its parent";
    }
    if (problem.empty()) return;
    std::fprintf(stderr, "tandem::init: refusing to act as a %s worker: %s (%s is set by tandem for its own workers only)\n",
                 kind, problem.c_str(), kWorkerVariable);
    std::fflush(stderr);
    ::_exit(kRefusedWorkerStatus);
}

}  // namespace tandem::detail
