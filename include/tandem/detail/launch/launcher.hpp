// Internal: what every start method (fork, spawn, forkserver) implements.
// The pieces they share have headers of their own: fork.hpp (forking on a
// long-lived thread, the child's first steps), reexec.hpp (re-executing the
// program as a worker), parent_check.hpp (whom a re-executed worker obeys)
// and os/pidfd.hpp.
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
//     detail::LaunchedChild child = detail::launch_spawn(target, setup);
//     poll({child.pidfd.get(), POLLIN}, ...);   // the child ended
#pragma once

#include <sys/types.h>  // pid_t

#include <cstddef>    // std::size_t, std::byte
#include <cstdint>    // std::int32_t in ChildSetup
#include <exception>  // std::exception_ptr
#include <span>       // message views
#include <string>     // names, messages
#include <vector>     // identities, arguments

#include "tandem/detail/os/unique_fd.hpp"  // UniqueFd for pidfds and sockets
#include "tandem/detail/wire/handoff.hpp"  // HandoffWriter for encoded targets

namespace tandem::detail {

/// The largest start message (setup + target + arguments) a child accepts.
/// Only a limit: the buffer grows with the bytes that actually arrive.
inline constexpr std::size_t kMaxStartMessage = std::size_t{1} << 30;

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

/// Start a child with one start method (multiprocessing::Process picks one
/// from its StartMethod). Throw ProcessError when the method cannot be used
/// (spawn or forkserver without init(), a target that cannot be encoded) or
/// the child failed to start (with the reason), std::system_error when the OS
/// refuses.
LaunchedChild launch_fork(ProcessTarget& target, const ChildSetup& setup);
LaunchedChild launch_spawn(const ProcessTarget& target, const ChildSetup& setup);
LaunchedChild launch_forkserver(const ProcessTarget& target, const ChildSetup& setup);

// --- in a new child: running the target (src/multiprocessing/process.cpp) ------

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

}  // namespace tandem::detail
