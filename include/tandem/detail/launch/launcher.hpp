// Internal: what every start method (fork, spawn, forkserver) implements, and
// the pieces they share.
//
// A start method takes a child's description (ChildSetup: its name, identity,
// daemon flag, its parent's name and pid) and its target (ProcessTarget: the
// function and arguments, runnable in place after fork() or encodable for a
// fresh program image) and returns a LaunchedChild: the pid, a pidfd (the
// sentinel, readable when the child ends, and the handle every signal goes
// through, so a recycled pid is never signalled) and, for a forkserver child,
// the socket its exit status arrives on (the forkserver, not us, is its
// parent and reaps it).
//
// Rules every child follows, whatever the start method:
//  - An empty signal mask and the default action for every signal, whatever
//    the thread that started it had blocked or ignored (reset_signal_state);
//    then what tandem sets on purpose (a pool worker ignores SIGINT).
//  - PR_SET_PDEATHSIG(SIGKILL) first thing, then getppid() compared with the
//    expected parent: a parent that died before the prctl is caught too.
//  - A re-executed child (spawn, the forkserver) acts for its own parent only:
//    before it reads its socket it checks that the socket's creator
//    (SO_PEERCRED) is the parent its marker names and its actual parent, as
//    the same user, running the same executable; otherwise it prints one line
//    on stderr and _exit(kRefusedWorkerStatus)s. The marker itself is ignored
//    in a program running with elevated privileges (AT_SECURE: setuid, setgid,
//    file capabilities), where spawn and forkserver are not available.
//  - PDEATHSIG fires when the *thread* that forked exits, not the process, so
//    fork_process() forks on the main thread when called there and otherwise
//    on a long-lived internal thread ("launcher"), never on a caller's thread
//    that may end soon.
//  - Only what the child is handed crosses: every descriptor tandem opens is
//    close-on-exec, and a spawned child closes all others before exec.
//  - The child ends with _exit(): 0 when the target returned, 1 when it threw
//    (after "Process NAME: TYPE: MESSAGE" on stderr), n for exit(n) inside the
//    target; stdio and std::cout/std::cerr are flushed first.
//
//     detail::ChildSetup setup = detail::next_child_setup(options);
//     detail::LaunchedChild child = detail::launch(StartMethod::spawn, target, setup);
//     poll({child.pidfd.get(), POLLIN}, ...);   // the child ended
#pragma once

#include <sys/types.h>  // pid_t

#include <csignal>    // siginfo_t
#include <cstddef>    // std::size_t, std::byte
#include <cstdint>    // std::int32_t in ChildSetup
#include <exception>  // std::exception_ptr
#include <span>       // message views
#include <string>     // names, messages
#include <vector>     // identities, arguments

#include "tandem/detail/wire/handoff.hpp"    // HandoffWriter for encoded targets
#include "tandem/detail/os/unique_fd.hpp"  // UniqueFd for pidfds and sockets

namespace tandem::multiprocessing {
enum class StartMethod;  // context.hpp
}  // namespace tandem::multiprocessing

namespace tandem::detail {

/// The environment variable that marks a re-executed program as a spawned
/// child ("spawn:FD:PARENT_PID") or as the forkserver ("forkserver:FD:PARENT_PID").
inline constexpr const char* kWorkerVariable = "TANDEM_WORKER";

/// The largest start message (setup + target + arguments) a child accepts.
/// Only a limit: the buffer grows with the bytes that actually arrive.
inline constexpr std::size_t kMaxStartMessage = std::size_t{1} << 30;

/// The exit status of a program started with kWorkerVariable by a process
/// that is not its own parent running the same executable (see
/// check_launching_parent); 2 is a malformed variable.
inline constexpr int kRefusedWorkerStatus = 3;

/// A Process's target bound to its arguments.
class ProcessTarget {
public:
    virtual ~ProcessTarget() = default;
    /// Calls the target in this process: in a child made by fork(), where the
    /// memory (and so the target and its arguments) is a copy of the parent's.
    virtual void run() = 0;
    /// Whether encode() is possible: false for ForkProcess's arbitrary callables.
    virtual bool can_encode() const noexcept = 0;
    /// Appends "call target(args...)" (see remote_call.hpp) for a child that
    /// starts from a fresh program image (spawn, forkserver).
    virtual void encode(HandoffWriter& out) const = 0;
};

/// Who a new child is. Travels to spawned and forkserver children.
struct ChildSetup {
    std::string name;
    std::vector<std::int32_t> identity;  // Python's _identity: parent's + (counter,)
    bool daemon = false;
    std::string parent_name;
    std::int32_t parent_pid = 0;

    template <class Archive>
    void serialize(Archive& archive) {
        archive(name, identity, daemon, parent_name, parent_pid);
    }
};

/// A started child, as its parent holds it.
struct LaunchedChild {
    pid_t pid = 0;
    /// The child's pidfd: the sentinel, and the handle for signals.
    UniqueFd pidfd;
    /// Forkserver children only: the socket on which the server reports the
    /// exit code. Empty for our own children, which we reap with waitid().
    UniqueFd status;
};

/// Starts a child with `method` (never the "default": resolve it first).
/// Throws ProcessError when the method cannot be used (spawn/forkserver
/// without init(), a target that cannot be encoded) or the child failed to
/// start (with the reason), std::system_error when the OS refuses.
LaunchedChild launch(multiprocessing::StartMethod method, ProcessTarget& target, const ChildSetup& setup);

LaunchedChild launch_fork(ProcessTarget& target, const ChildSetup& setup);
LaunchedChild launch_spawn(const ProcessTarget& target, const ChildSetup& setup);
LaunchedChild launch_forkserver(const ProcessTarget& target, const ChildSetup& setup);

// --- forking -----------------------------------------------------------------

/// Forks on the main thread if called there, else on tandem's long-lived
/// launcher thread (started on first need), so that the child's
/// PR_SET_PDEATHSIG is tied to a thread that lives as long as the process.
/// In the child, `child_body(context)` runs on the forking thread and must
/// end the process (if it returns, the child _exit(127)s). Returns the
/// child's pid. Throws std::system_error if fork() fails.
pid_t fork_process(void (*child_body)(void*), void* context);

/// The threads of this process, not counting tandem's launcher thread
/// (from /proc/self/task). At least 1.
std::size_t user_thread_count();

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

// --- in a new child ------------------------------------------------------------

/// PR_SET_PDEATHSIG(SIGKILL), then _exit(1) unless getppid() is
/// `expected_parent` (the parent died before the prctl took effect).
/// Async-signal-safe: usable between fork() and exec().
void die_with_parent(pid_t expected_parent) noexcept;

/// Gives this process the default action for every signal and an empty
/// signal mask (a fork() keeps the forking thread's; exec keeps the mask and
/// ignored signals). Async-signal-safe: usable between fork() and exec().
void reset_signal_state() noexcept;

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

/// Makes this process the child `setup` describes: current_process() and
/// parent_process() report it, names of its own children continue its
/// identity, and it has no children yet.
void become_child(const ChildSetup& setup);

/// "TYPE: MESSAGE" for the exception in `error` (RemoteError keeps its
/// remote type name).
std::string describe_exception(std::exception_ptr error);

/// Prints "Process NAME: TYPE: MESSAGE" to stderr for a target that threw.
void report_target_exception(const std::string& process_name, const std::string& description) noexcept;

/// Runs the call encoded in `in` (a spawn or forkserver child's target) and
/// returns the exit code: 0, or 1 after reporting what it threw (a message
/// that does not decode counts as thrown).
int run_encoded_target(HandoffReader& in, const std::string& process_name) noexcept;

/// Flushes std::cout, std::cerr and stdio, then _exit(code).
[[noreturn]] void exit_child(int code) noexcept;

// --- init() ---------------------------------------------------------------------

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
