// tandem/multiprocessing/process.hpp — Python's multiprocessing.Process and
// the module functions about processes: current_process, parent_process,
// active_children, cpu_count.
//
// A Process runs a target function with arguments in a child process, started
// by fork, forkserver or spawn (context.hpp says how the default is chosen).
// The target must be a function pointer or a captureless lambda, and its
// arguments serializable (tandem/serialization.hpp) or handed off (Pipe
// ends, queues, locks, shared values): under spawn and forkserver they travel
// to another program image. ForkProcess always forks and runs any callable.
//
//     using namespace tandem::multiprocessing;
//     void work(std::string label, int n) { /* ... */ }
//
//     int main(int argc, char** argv) {
//         tandem::init(argc, argv);
//         Process p(&work, std::string("job"), 3);      // Process(target=work, args=("job", 3))
//         Process q({.name = "reader", .daemon = true, .start_method = StartMethod::spawn},
//                   [](int n) { /* captureless */ }, 7);
//         p.start();
//         q.start();
//         p.join();                                     // p.exitcode() == 0
//         if (!q.join(std::chrono::seconds(1))) q.terminate();
//         q.join();                                     // q.exitcode() == -SIGTERM
//     }
//
// Behaviour, and where it differs from Python:
// - exitcode(): nullopt before start and while running; 0 when the target
//   returned; 1 when it threw, after "Process NAME: TYPE: MESSAGE" on the
//   child's stderr (Python prints a traceback); n for exit(n) inside the
//   target; minus the signal number when a signal ended it (-9 for kill()).
//   The target's return value is discarded, as in Python. A forkserver
//   child's code is reported by the server; if the server itself died, its
//   children died with it and report -SIGKILL.
// - interrupt() (Python 3.14) sends SIGINT. C++ has no KeyboardInterrupt:
//   the child ends with exitcode -SIGINT unless its target handles the
//   signal (Python's child raises KeyboardInterrupt and, uncaught, exits 1).
// - join(timeout) returns whether the process ended (Python returns None;
//   test is_alive() there). A negative timeout counts as zero.
// - sentinel() is a pidfd for every start method: readable (poll, select,
//   multiprocessing wait()) once the child has ended, and immune to pid
//   reuse. terminate(), kill() and interrupt() go through it too.
// - Errors are Python's, with RuntimeError where Python asserts:
//   start twice -> RuntimeError("cannot start a process twice"); join before
//   start -> RuntimeError("can only join a started process"); joining itself
//   -> RuntimeError("cannot join current process"); a daemon process starting
//   children -> RuntimeError("daemonic processes are not allowed to have
//   children"); close() while running -> ValueError; any use but name,
//   daemon and close() after close() -> ValueError("process object is
//   closed"). terminate()/kill() before start throw RuntimeError (Python
//   fails with an AttributeError there); after the child ended they do
//   nothing.
// - As Python, the target and arguments are dropped in the parent once the
//   child started: a Pipe end passed to a child is closed in the parent then.
// - Lifetime (C++ has no interpreter exit to hook): destroying a started
//   Process whose child is still running joins it if it is not a daemon
//   (like std::jthread, and like Python's exit which joins non-daemon
//   children); a daemon child gets SIGTERM, a second of grace, then SIGKILL,
//   and is reaped (Python terminates daemon children at exit). Either way no
//   zombie is left. Process is movable, not copyable.
// - Children die with their parent (PR_SET_PDEATHSIG(SIGKILL) plus a parent
//   check at start-up), under every start method: kill -9 the parent and its
//   children follow. Python's children of a killed parent live on.
// - No authkey, no run() override: the target is the only thing a child runs.
// - Every descriptor is close-on-exec; a spawned child gets only 0, 1, 2 and
//   what its arguments hand it. A forked child inherits everything, as fork
//   does (use spawn or forkserver for a clean child).
// - Under LeakSanitizer, exit() inside the target of a child forked from a
//   program with several threads may report leaks that are not: memory that
//   only the parent's other threads referenced (their stacks are not copied
//   as threads). The stack of the thread that called start() is counted.
// - If SIGCHLD is set to SIG_IGN, the kernel reaps children by itself and
//   their exit codes are lost: join() then throws ProcessError.
#pragma once

#include <sys/types.h>  // pid_t

#include <chrono>       // join timeouts
#include <cstddef>      // std::size_t
#include <cstdint>      // std::int32_t identities
#include <functional>   // std::invoke for ForkProcess
#include <memory>       // the process state, the bound target
#include <optional>     // pid, exitcode, options
#include <string>       // names
#include <tuple>        // bound arguments
#include <type_traits>  // std::decay_t, signature traits
#include <utility>      // std::forward, std::move
#include <vector>       // active_children

#include "tandem/detail/launch/launcher.hpp"   // ProcessTarget, ChildSetup, become_child
#include "tandem/detail/os/futex.hpp"          // detail::Deadline, detail::deadline_after
#include "tandem/detail/wire/remote_call.hpp"  // detail::RemoteCallable, FunctionPointerTraits, encode_call
#include "tandem/errors.hpp"                   // ProcessError, RuntimeError, ValueError
#include "tandem/multiprocessing/context.hpp"  // StartMethod, Context

namespace tandem::detail {

struct ProcessState;  // src/multiprocessing/process.cpp
struct ParentHandle;  // src/multiprocessing/process.cpp: the parent's pidfd, opened on first use

/// The decayed parameter types of a RemoteCallable, as one tuple type.
template <class Parameters>
struct DecayedParameters;
template <class... P>
struct DecayedParameters<std::tuple<P...>> {
    using type = std::tuple<std::decay_t<P>...>;
};

/// A Process target: runs in place after fork, or encodes itself for
/// spawn/forkserver. The arguments are stored as the function's parameter
/// types (converted once, in the parent), so both paths see the same values.
template <class Fn, class Stored>
class RemoteProcessTarget final : public ProcessTarget {
public:
    template <class G, class... A>
    explicit RemoteProcessTarget(G&& fn, A&&... args) : fn_(std::forward<G>(fn)), args_(std::forward<A>(args)...) {}

    void run() override { static_cast<void>(std::apply(fn_, std::move(args_))); }
    bool can_encode() const noexcept override { return true; }
    void encode(HandoffWriter& out) const override {
        std::apply([&](const auto&... args) { encode_call(out, fn_, args...); }, args_);
    }

private:
    Fn fn_;
    Stored args_;
};

/// A ForkProcess target: any callable, run in place after fork only.
template <class Fn, class... Args>
class ForkProcessTarget final : public ProcessTarget {
public:
    template <class G, class... A>
    explicit ForkProcessTarget(G&& fn, A&&... args) : fn_(std::forward<G>(fn)), args_(std::forward<A>(args)...) {}

    void run() override { static_cast<void>(std::apply(std::move(fn_), std::move(args_))); }
    bool can_encode() const noexcept override { return false; }
    void encode(HandoffWriter&) const override {
        throw ProcessError("a ForkProcess target cannot be sent to another program");
    }

private:
    Fn fn_;
    std::tuple<Args...> args_;
};

/// Selects Process's constructor from a bound target.
struct BoundTargetTag {};

template <class F, class... Args>
std::unique_ptr<ProcessTarget> make_remote_target(F&& target, Args&&... args) {
    using Fn = std::decay_t<F>;
    static_assert(RemoteCallable<Fn>,
                  "tandem::multiprocessing::Process: the target must be a function pointer or a captureless lambda. "
                  "Under spawn and forkserver it runs in another program image, where a closure's captured state "
                  "does not exist: pass the captured values as arguments instead, or use ForkProcess, which always "
                  "forks and can run any callable.");
    if constexpr (RemoteCallable<Fn>) {
        using Stored = typename DecayedParameters<
            typename FunctionPointerTraits<remote_pointer_t<Fn>>::parameters>::type;
        static_assert(std::tuple_size_v<Stored> == sizeof...(Args),
                      "tandem::multiprocessing::Process: the number of arguments does not match the target's "
                      "parameters");
        if constexpr (std::tuple_size_v<Stored> == sizeof...(Args)) {
            return std::make_unique<RemoteProcessTarget<Fn, Stored>>(std::forward<F>(target),
                                                                      std::forward<Args>(args)...);
        } else {
            return nullptr;
        }
    } else {
        return nullptr;
    }
}

}  // namespace tandem::detail

namespace tandem::multiprocessing {

/// Python's Process keyword arguments (besides target and args).
struct ProcessOptions {
    /// The process name; unset means "Process-N" (N counts the processes this
    /// process created; in a child named "Process-2", "Process-2:1"...).
    std::optional<std::string> name;
    /// Whether the child is a daemon (terminated, not joined, when its
    /// Process is destroyed; cannot start children). Unset: the creating
    /// process's flag, as Python (so false in practice).
    std::optional<bool> daemon;
    /// How to start the child; unset means the default context (see context.hpp).
    std::optional<StartMethod> start_method;
};

/// A process object (Python: multiprocessing.Process). Movable, not copyable.
class Process {
public:
    /// Process(target=target, args=(args...)). `target` must be a function
    /// pointer or a captureless lambda (a compile-time error says so
    /// otherwise); the arguments are converted to its parameter types now and
    /// must be serializable or handed off. Throws nothing beyond allocation.
    template <class F, class... Args>
        requires(!std::is_same_v<std::remove_cvref_t<F>, ProcessOptions> &&
                 !std::is_same_v<std::remove_cvref_t<F>, detail::BoundTargetTag>)
    explicit Process(F&& target, Args&&... args)
        : Process(detail::BoundTargetTag{}, ProcessOptions{},
                  detail::make_remote_target(std::forward<F>(target), std::forward<Args>(args)...), false) {}

    /// Process(target=..., args=..., name=..., daemon=...) with a start method.
    template <class F, class... Args>
    Process(ProcessOptions options, F&& target, Args&&... args)
        : Process(detail::BoundTargetTag{}, std::move(options),
                  detail::make_remote_target(std::forward<F>(target), std::forward<Args>(args)...), false) {}

    Process(Process&& other) noexcept;
    Process& operator=(Process&& other) noexcept;
    Process(const Process&) = delete;
    Process& operator=(const Process&) = delete;
    /// Joins a running non-daemon child, terminates (then kills) and reaps a
    /// running daemon one; see "Lifetime" in the header comment.
    ~Process();

    /// Starts the child. Returns once it exists (spawn: once it has checked
    /// that it runs the same build and read its start message). Throws
    /// RuntimeError("cannot start a process twice"), RuntimeError for a daemon
    /// parent or a Process copied into a forked child, ValueError if closed,
    /// ProcessError if the start method cannot be used (spawn/forkserver
    /// without init(), the default in a multi-threaded program without
    /// init()) or the child failed to start, std::system_error if the OS
    /// refuses (fork, sockets).
    void start();

    /// Waits until the child ends and reaps it. Throws RuntimeError before
    /// start() ("can only join a started process"), for current_process()
    /// ("cannot join current process") and for a Process copied into a
    /// forked child ("can only join a child process"); ValueError if closed.
    void join() { join_until(std::nullopt); }
    /// Waits at most `timeout`; returns whether the child ended (Python
    /// returns None: then !is_alive()). Throws as join().
    template <class Rep, class Period>
    bool join(std::chrono::duration<Rep, Period> timeout) {
        return join_until(detail::deadline_after(timeout));
    }

    /// Whether the child is running (reaps it if it ended). True for
    /// current_process(), false before start(). Throws ValueError if closed.
    bool is_alive();

    /// Sends SIGTERM (Python: terminate()). Does nothing if the child already
    /// ended. Throws RuntimeError before start(), ValueError if closed.
    void terminate();
    /// Sends SIGKILL (Python: kill()). Throws as terminate().
    void kill();
    /// Sends SIGINT (Python 3.14: interrupt()). Does nothing if the child
    /// already ended; throws as terminate(). What follows is what SIGINT
    /// does in the child: a child starts with SIGINT's default action, so
    /// unless its target installed a handler the child ends and exitcode()
    /// is -SIGINT (-2); a target that handles SIGINT goes on (Python raises
    /// KeyboardInterrupt there, which, uncaught, gives exit code 1). The
    /// exceptions: a forked child keeps a handler the parent had installed,
    /// fork and spawn children keep SIGINT ignored if the parent ignored it
    /// (forkserver children always start with the default), and pool
    /// workers ignore SIGINT.
    void interrupt();

    /// Releases the descriptors. Throws ValueError("Cannot close a process
    /// while it is still running. You should first call join() or
    /// terminate().") if the child runs; calling it again does nothing.
    void close();

    /// The child's pid; nullopt before start(). getpid() for
    /// current_process(). Throws ValueError if closed.
    std::optional<pid_t> pid() const;
    /// Same as pid() (Python's ident).
    std::optional<pid_t> ident() const { return pid(); }

    /// The exit code (see the header comment); nullopt before start and while
    /// running. Reaps the child if it ended. Throws ValueError if closed.
    std::optional<int> exitcode();

    /// The process name (a copy).
    std::string name() const;
    /// Renames the process object (only the parent's view once started).
    void set_name(std::string name);

    /// Whether the process is a daemon.
    bool daemon() const;
    /// Sets the daemon flag. Throws RuntimeError("process has already
    /// started") after start().
    void set_daemon(bool daemon);

    /// The pidfd of the child: readable once the child ended (Python's
    /// sentinel). Owned by the Process: valid until close() or destruction.
    /// Throws ValueError("process not started") before start(), or if closed.
    int sentinel() const;

protected:
    /// For ForkProcess: a target that may only be forked.
    Process(detail::BoundTargetTag, ProcessOptions options, std::unique_ptr<detail::ProcessTarget> target,
            bool fork_only);

private:
    friend struct detail::ProcessState;
    friend void detail::become_child(const detail::ChildSetup& setup);
    friend Process& current_process();

    explicit Process(std::shared_ptr<detail::ProcessState> state) noexcept;
    detail::ProcessState& state() const;
    bool join_until(detail::Deadline deadline);
    void send_signal(int signal_number);
    void finish() noexcept;

    // Shared with the table of children behind active_children().
    std::shared_ptr<detail::ProcessState> state_;
};

/// Python's multiprocessing.context.ForkProcess: a Process that always starts
/// by fork(), so its target may be any callable (a capturing lambda, a
/// std::function, a functor) with any arguments: the child gets a copy of
/// all memory and nothing is serialized. Forking a process that has several
/// threads is at the caller's risk (see context.hpp).
///
///     int total = 0;
///     ForkProcess p([&total](int n) { total += n; std::exit(total); }, 5);
///     p.start();
///     p.join();                                   // p.exitcode() == 5
class ForkProcess : public Process {
public:
    /// ForkProcess(target=..., args=...). The target and arguments are
    /// decay-copied, as std::thread does. Throws ValueError if
    /// `options.start_method` names another method than fork.
    template <class F, class... Args>
        requires(!std::is_same_v<std::remove_cvref_t<F>, ProcessOptions> &&
                 std::is_invocable_v<std::decay_t<F>, std::decay_t<Args>...>)
    explicit ForkProcess(F&& target, Args&&... args)
        : ForkProcess(ProcessOptions{}, std::forward<F>(target), std::forward<Args>(args)...) {}

    /// ForkProcess with name and daemon options.
    template <class F, class... Args>
        requires std::is_invocable_v<std::decay_t<F>, std::decay_t<Args>...>
    ForkProcess(ProcessOptions options, F&& target, Args&&... args)
        : Process(detail::BoundTargetTag{}, std::move(options),
                  std::unique_ptr<detail::ProcessTarget>(
                      std::make_unique<detail::ForkProcessTarget<std::decay_t<F>, std::decay_t<Args>...>>(
                          std::forward<F>(target), std::forward<Args>(args)...)),
                  true) {}
};

/// What current_process().parent_process() knows about the parent (Python:
/// multiprocessing.process._ParentProcess). Copies share one pidfd.
class ParentProcess {
public:
    /// The parent's name ("MainProcess" for a program's main process).
    const std::string& name() const noexcept { return name_; }
    /// The parent's pid.
    pid_t pid() const noexcept { return pid_; }
    /// Whether the parent still runs (polls its pidfd).
    bool is_alive() const;
    /// Waits until the parent ends; with a timeout, returns whether it did.
    void join() const;
    template <class Rep, class Period>
    bool join(std::chrono::duration<Rep, Period> timeout) const {
        return join_until(detail::deadline_after(timeout));
    }
    /// A pidfd of the parent, readable once it ended; opened on first use.
    /// Throws std::system_error if it cannot be opened.
    int sentinel() const;

private:
    friend std::optional<ParentProcess> parent_process();
    ParentProcess(std::string name, pid_t pid, std::shared_ptr<detail::ParentHandle> handle)
        : name_(std::move(name)), pid_(pid), handle_(std::move(handle)) {}
    bool join_until(detail::Deadline deadline) const;

    std::string name_;
    pid_t pid_;
    std::shared_ptr<detail::ParentHandle> handle_;
};

/// The Process object of the calling process (Python: current_process()):
/// named "MainProcess" in a program, its own name in a child. is_alive() is
/// true, pid() is getpid(); join(), start() and close() throw.
Process& current_process();

/// The parent of this process if it was started as a Process, else nullopt
/// (Python returns None in the main process).
std::optional<ParentProcess> parent_process();

/// The children this process started that are still running, in start order
/// (Python: active_children()); reaps those that ended. The pointers are
/// valid while their Process objects live and are not moved.
std::vector<Process*> active_children();

/// The CPUs this process may run on (its affinity mask, so taskset and
/// container limits count), at least 1. Python 3.13's cpu_count() does the same.
std::size_t cpu_count() noexcept;

// --- Context's member templates (declared in context.hpp) ----------------------

template <class F, class... Args>
Process Context::Process(F&& target, Args&&... args) const {
    ProcessOptions options;  // not designated: that warns under -Wextra in users' builds
    options.start_method = method_;
    return multiprocessing::Process(std::move(options), std::forward<F>(target), std::forward<Args>(args)...);
}

template <class F, class... Args>
Process Context::Process(ProcessOptions options, F&& target, Args&&... args) const {
    options.start_method = method_;
    return multiprocessing::Process(std::move(options), std::forward<F>(target), std::forward<Args>(args)...);
}

}  // namespace tandem::multiprocessing
