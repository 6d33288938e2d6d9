// The spawn start method: re-execute /proc/self/exe as the child, hand it its
// setup and target over a socket (descriptors with SCM_RIGHTS), and its side
// in the re-executed program (see detail/launch/launcher.hpp).
#include <fcntl.h>       // fcntl, FD_CLOEXEC
#include <signal.h>      // kill
#include <sys/socket.h>  // socketpair
#include <sys/wait.h>    // waitid
#include <unistd.h>      // execve, dup2, close_range, getpid

#include <cerrno>        // errno
#include <span>          // the reply as bytes
#include <string>        // the marker, messages
#include <system_error>  // std::system_error
#include <tuple>         // the start reply
#include <vector>        // argv and envp

#include "tandem/detail/launch/fork.hpp"       // fork_process, die_with_parent, reset_signal_state
#include "tandem/detail/launch/launcher.hpp"   // ProcessTarget, ChildSetup, LaunchedChild, ...
#include "tandem/detail/launch/reexec.hpp"     // program_arguments, run_spawned_child, worker_environment, ...
#include "tandem/detail/os/pidfd.hpp"          // pidfd_send_signal, open_pidfd, exit_code_from
#include "tandem/detail/os/system_error.hpp"   // throw_errno
#include "tandem/detail/wire/encoding.hpp"     // encode / decode of the setup
#include "tandem/detail/wire/fd_passing.hpp"   // send_with_fds, receive_with_fds
#include "tandem/detail/wire/function_id.hpp"  // build_id, check_same_build
#include "tandem/errors.hpp"                   // ProcessError

namespace tandem::detail {
namespace {

// What the child needs between fork() and execve(), built before the fork:
// nothing may be allocated there (another thread may hold malloc's lock).
struct ExecJob {
    const char* const* argv;
    const char* const* envp;
    int socket;
    pid_t parent;
};

void exec_in_child(void* context) {
    const auto& job = *static_cast<const ExecJob*>(context);
    // execve keeps the mask and ignored signals: the program starts clean.
    reset_signal_state();
    die_with_parent(job.parent);
    // The socket becomes descriptor 3 without close-on-exec; everything
    // else above 2 is closed, so the child gets only what it is handed.
    if (job.socket == kWorkerSocketFd) {
        if (::fcntl(kWorkerSocketFd, F_SETFD, 0) != 0) ::_exit(127);
    } else if (::dup2(job.socket, kWorkerSocketFd) != kWorkerSocketFd) {
        ::_exit(127);
    }
    ::close_range(kWorkerSocketFd + 1, ~0U, 0);
    ::execve("/proc/self/exe", const_cast<char* const*>(job.argv), const_cast<char* const*>(job.envp));
    ::_exit(127);
}

// Waits for a child that is known to be ending and returns its exit code.
int reap_now(const UniqueFd& pidfd) {
    siginfo_t info{};
    while (::waitid(static_cast<idtype_t>(3), static_cast<id_t>(pidfd.get()), &info, WEXITED) != 0) {
        if (errno != EINTR) return -1;
    }
    return exit_code_from(info);
}

// The reply a spawned child sends once it has read its start message: empty
// when all is well, else what went wrong.
void reply(int socket, const std::string& problem) noexcept {
    try {
        send_with_fds(socket, std::as_bytes(std::span(problem)));
    } catch (...) {
        // The parent is gone; PR_SET_PDEATHSIG ends this process anyway.
    }
}

}  // namespace

pid_t exec_worker(const char* kind, int child_socket) {
    std::vector<std::string> arguments = program_arguments();
    const std::vector<std::string> environment =
        worker_environment(std::string(kind) + ":" + std::to_string(kWorkerSocketFd) + ":" + std::to_string(::getpid()));
    std::vector<const char*> argv;
    for (const auto& argument : arguments) argv.push_back(argument.c_str());
    argv.push_back(nullptr);
    std::vector<const char*> envp;
    for (const auto& entry : environment) envp.push_back(entry.c_str());
    envp.push_back(nullptr);
    ExecJob job{argv.data(), envp.data(), child_socket, ::getpid()};
    return fork_process(&exec_in_child, &job);
}

LaunchedChild launch_spawn(const ProcessTarget& target, const ChildSetup& setup) {
    // Encoded before a child exists, so that an argument that cannot be
    // encoded fails here with nothing to clean up.
    HandoffWriter message;
    message.write_bytes(build_id());
    message.write_bytes(encode(setup));
    target.encode(message);

    int pair[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
        throw_errno("socketpair");
    }
    UniqueFd ours(pair[0]);
    UniqueFd theirs(pair[1]);
    LaunchedChild child;
    child.pid = exec_worker("spawn", theirs.get());
    try {
        child.pidfd = open_pidfd(child.pid);
    } catch (...) {
        ::kill(child.pid, SIGKILL);
        ::waitpid(child.pid, nullptr, 0);
        throw;
    }
    theirs.reset();

    try {
        send_with_fds(ours.get(), message.bytes(), message.fds());
    } catch (const std::system_error&) {
        // The child is gone already; the missing reply below says so.
    }
    std::string problem;
    try {
        const ReceivedMessage answer = receive_with_fds(ours.get(), 1 << 16);
        if (answer.bytes.empty()) return child;
        problem.assign(reinterpret_cast<const char*>(answer.bytes.data()), answer.bytes.size());
    } catch (const EOFError&) {
        problem = "the spawned child ended before it read its start message";
    } catch (const std::exception& e) {
        problem = std::string("the spawned child sent a malformed reply: ") + e.what();
        pidfd_send_signal(child.pidfd.get(), SIGKILL);
    }
    const int code = reap_now(child.pidfd);
    throw ProcessError("spawn: " + problem + " (exit code " + std::to_string(code) +
                       "); does main() call tandem::init(argc, argv) first thing?");
}

void run_spawned_child(int socket, pid_t parent) noexcept {
    die_with_parent(parent);
    // Nothing this child executes in turn may inherit the socket.
    ::fcntl(socket, F_SETFD, FD_CLOEXEC);
    ReceivedMessage message;
    try {
        message = receive_with_fds(socket, kMaxStartMessage);
    } catch (...) {
        ::_exit(1);  // the parent is gone or wrote garbage; nobody to tell
    }
    HandoffReader in(message.bytes, std::move(message.fds));
    ChildSetup setup;
    try {
        check_same_build(in.read_bytes());
        setup = decode<ChildSetup>(in.read_bytes());
    } catch (const std::exception& e) {
        reply(socket, e.what());
        ::_exit(1);
    }
    reply(socket, std::string());
    ::close(socket);
    try {
        become_child(setup);
    } catch (const std::exception& e) {
        report_target_exception(setup.name, describe_exception(std::current_exception()));
        exit_child(1);
    }
    exit_child(run_encoded_target(in, setup.name));
}

}  // namespace tandem::detail
