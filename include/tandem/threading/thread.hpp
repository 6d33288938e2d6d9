// tandem/threading/thread.hpp — threading.Thread and the threading module's
// functions about threads (current_thread, main_thread, get_ident, enumerate...).
//
// A Thread runs a target callable with arguments in a new OS thread, or, as in
// Python, a subclass overrides run(). Names ("Thread-N" by default), daemon
// flags, idents and native ids, join(timeout), is_alive() and the thread
// excepthook behave as in Python 3.12/3.13; as in Python 3.14, start() gives
// the OS thread its name too (what top, ps and gdb show), shortened to the
// kernel's 15 bytes by keeping the start and the trailing number
// (detail::os_thread_name).
//
//     using namespace tandem::threading;
//     Thread worker([](int n) { /* ... */ }, 42);            // Thread(target=f, args=(42,))
//     Thread named(ThreadOptions{.name = "reader", .daemon = true}, read_loop);
//     worker.start();
//     worker.join(std::chrono::seconds(1));                  // join(timeout=1)
//     if (worker.is_alive()) { /* timed out; still running */ }
//
//     class Crawler : public Thread {                         // class Crawler(Thread)
//     public:
//         ~Crawler() override { if (is_alive()) join(); }     // see "Lifetime" below
//         void run() override { /* ... */ }
//     };
//
// Lifetime (the C++ rule that replaces Python's garbage collector):
//  - Destroying a Thread that was started and is still running joins it if it
//    is not a daemon (as Python waits for non-daemon threads before exiting),
//    and detaches it if it is a daemon: the thread runs on, and
//    current_thread() inside it then returns a stand-in Thread with the same
//    name, ident and daemon flag. A thread that destroys its own Thread object
//    detaches it too.
//  - A subclass's members are destroyed before ~Thread runs, so a subclass
//    whose run() uses them must be joined before destruction (call join() in
//    its destructor), daemon or not.
//  - The target and its arguments are decay-copied, as by std::thread (pass
//    std::ref for a reference), and destroyed by the thread when run() returns,
//    as Python deletes _target and _args.
// An exception that escapes run() goes to the excepthook (set_excepthook) and
// ends only that thread; it never terminates the process.
#pragma once

#include <atomic>       // the started flag
#include <chrono>       // join timeouts
#include <concepts>     // std::invocable
#include <cstddef>      // std::size_t
#include <cstdint>      // std::uint64_t idents
#include <exception>    // std::exception_ptr in ExceptHookArgs
#include <functional>   // ExceptHook
#include <memory>       // shared thread state, the type-erased target
#include <optional>     // ident() before start, options left unset
#include <string>       // names
#include <string_view>  // os_thread_name's argument
#include <sys/types.h>  // pid_t native ids
#include <tuple>        // bound arguments
#include <type_traits>  // std::decay_t
#include <utility>      // std::forward, std::move
#include <vector>       // enumerate()

#include "tandem/detail/os/futex.hpp"  // detail::Deadline, detail::deadline_after
#include "tandem/errors.hpp"           // RuntimeError

namespace tandem::detail {

struct ThreadState;     // shared by a Thread and its OS thread; src/threading/thread.cpp
struct ThreadRegistry;  // the module's table of live threads; src/threading/thread.cpp

/// The OS name (at most 15 bytes, Linux's limit) a thread named `name` gets:
/// the name itself if it fits; else its start, cut on a UTF-8 character
/// boundary, followed by its distinguishing end, the trailing digits with
/// the separators among them (at most 7 bytes): "ThreadPoolExecutor-3_12"
/// shows as "ThreadPool-3_12". Python 3.14 keeps the first 15 bytes.
std::string os_thread_name(std::string_view name);

/// A thread's target with its arguments, called at most once.
class ThreadTarget {
public:
    virtual ~ThreadTarget() = default;
    virtual void call() = 0;
};

template <class F, class... Args>
class BoundThreadTarget final : public ThreadTarget {
public:
    template <class G, class... A>
    explicit BoundThreadTarget(G&& function, A&&... args)
        : function_(std::forward<G>(function)), args_(std::forward<A>(args)...) {}
    void call() override { static_cast<void>(std::apply(std::move(function_), std::move(args_))); }

private:
    F function_;
    std::tuple<Args...> args_;
};

/// Binds `function(args...)` with decay-copied arguments.
template <class F, class... Args>
std::unique_ptr<ThreadTarget> bind_thread_target(F&& function, Args&&... args) {
    return std::make_unique<BoundThreadTarget<std::decay_t<F>, std::decay_t<Args>...>>(
        std::forward<F>(function), std::forward<Args>(args)...);
}

}  // namespace tandem::detail

namespace tandem::threading {

/// A callable a Thread can run with the given arguments (moved into the call).
template <class F, class... Args>
concept ThreadTargetFor = std::invocable<std::decay_t<F>, std::decay_t<Args>...>;

/// Python's Thread keyword arguments.
struct ThreadOptions {
    /// The thread's name; unset means "Thread-N" with a process-wide counter.
    std::optional<std::string> name;
    /// Unset means inherited from the creating thread, as in Python: the main
    /// thread is not a daemon; threads tandem did not start count as daemons.
    std::optional<bool> daemon;
};

class Thread;

/// What the excepthook receives (Python: threading.ExceptHookArgs).
struct ExceptHookArgs {
    /// The exception that escaped run(); rethrow it to inspect it.
    std::exception_ptr exc_value;
    /// Its demangled type name, e.g. "std::runtime_error" (Python: exc_type).
    std::string exc_type;
    /// The thread it escaped from; valid during the call.
    Thread* thread = nullptr;
    /// That thread's name and ident at the time.
    std::string thread_name;
    std::uint64_t thread_ident = 0;
};

/// An excepthook (Python: threading.excepthook).
using ExceptHook = std::function<void(const ExceptHookArgs&)>;

/// The default excepthook (Python: threading.__excepthook__): prints
/// "Exception in thread NAME:" and "TYPE: MESSAGE" to stderr.
void default_excepthook(const ExceptHookArgs& args);

/// Installs the hook that handles exceptions escaping Thread.run(); returns the
/// previous one. An empty function restores default_excepthook. The hook runs
/// in the failing thread; an exception it throws is printed to stderr.
ExceptHook set_excepthook(ExceptHook hook);

/// A thread of control (Python: threading.Thread). Not copyable or movable:
/// like a Python object it has an identity, which current_thread() returns.
class Thread {
public:
    /// A thread with no target, for subclasses that override run().
    explicit Thread(ThreadOptions options = {});
    /// Thread(target=target, args=(args...)).
    template <class F, class... Args>
        requires ThreadTargetFor<F, Args...>
    explicit Thread(F&& target, Args&&... args)
        : Thread(ThreadOptions{}, std::forward<F>(target), std::forward<Args>(args)...) {}
    /// Thread(target=target, args=(args...), name=..., daemon=...).
    template <class F, class... Args>
        requires ThreadTargetFor<F, Args...>
    Thread(ThreadOptions options, F&& target, Args&&... args)
        : Thread(std::move(options), detail::bind_thread_target(std::forward<F>(target), std::forward<Args>(args)...),
                 false) {}

    Thread(const Thread&) = delete;
    Thread& operator=(const Thread&) = delete;
    /// Joins a running non-daemon thread, detaches a daemon (see the header
    /// comment).
    virtual ~Thread();

    /// Starts run() in a new OS thread and returns once it is running (ident
    /// and native_id are then set). The OS thread is named after name()
    /// (detail::os_thread_name), as Python 3.14 does. Throws RuntimeError("threads can only be
    /// started once") on a second call, RuntimeError("can't start new thread")
    /// if the OS refuses.
    void start();

    /// What the thread does: calls the target with its arguments, then drops
    /// them. Subclasses override it; calling it directly runs it in the caller.
    virtual void run();

    /// Waits until the thread finishes. Throws RuntimeError before start(),
    /// for the current thread, and for a dummy thread.
    void join() { join_until(std::nullopt); }
    /// Waits at most `timeout` (a negative one counts as zero, as in Python);
    /// returns whether the thread finished, so false means is_alive() is still
    /// true. Throws as join().
    template <class Rep, class Period>
    bool join(std::chrono::duration<Rep, Period> timeout) {
        return join_until(detail::deadline_after(timeout));
    }

    /// True from the moment start() returns until run() has returned.
    bool is_alive() const noexcept;

    /// The thread's name (a copy: another thread may rename it).
    std::string name() const;
    /// Renames the thread. The OS thread name (detail::os_thread_name)
    /// follows only when a thread renames itself, as in Python 3.14.
    void set_name(std::string name);

    /// Whether this is a daemon thread.
    bool daemon() const noexcept;
    /// Sets the daemon flag. Throws RuntimeError("cannot set daemon status of
    /// active thread") once started.
    void set_daemon(bool daemon);

    /// The thread's get_ident() value; nullopt before start (Python: None).
    std::optional<std::uint64_t> ident() const noexcept;
    /// The OS thread id (gettid); nullopt before start.
    std::optional<pid_t> native_id() const noexcept;

private:
    friend class Timer;
    friend struct detail::ThreadRegistry;

    // `target_only`: run() is known not to be overridden, so the OS thread may
    // call the target without touching this object (a daemon Thread may be
    // destroyed while its thread runs).
    Thread(ThreadOptions options, std::unique_ptr<detail::ThreadTarget> target, bool target_only);
    // A Thread object for a thread not started through it: the main thread, a
    // dummy thread, or the stand-in of a detached daemon.
    explicit Thread(std::shared_ptr<detail::ThreadState> state);

    bool join_until(detail::Deadline deadline);

    std::shared_ptr<detail::ThreadState> state_;
    std::atomic<bool> started_{false};
    const bool stands_in_ = false;  // constructed by the registry, never started
};

/// The Thread of the calling thread. For a thread not started by tandem (the
/// main thread aside) it is a "dummy" Thread named "Dummy-N": a daemon, always
/// alive, not joinable, forgotten when that thread exits. The reference stays
/// valid while the calling thread runs.
Thread& current_thread();

/// The main thread's Thread, named "MainThread": the thread that initialised
/// tandem (during static initialisation). In a child forked from another thread
/// it is the thread that called fork(), as in Python.
Thread& main_thread();

/// The calling thread's identifier (its pthread_t), unique among live threads.
std::uint64_t get_ident() noexcept;

/// The calling thread's OS thread id (gettid()).
pid_t get_native_id() noexcept;

/// The number of live Thread objects: started and not finished, plus the main
/// thread and dummy threads (Python: threading.active_count()).
std::size_t active_count();

/// The live Thread objects, in start order (Python: threading.enumerate()).
/// A pointer is valid only while its Thread object lives; threads may finish
/// and be destroyed at any moment after this returns.
std::vector<Thread*> enumerate();

}  // namespace tandem::threading
