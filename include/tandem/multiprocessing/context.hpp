// tandem/multiprocessing/context.hpp — start methods and contexts: Python's
// get_context, set_start_method, get_start_method and get_all_start_methods.
//
// A child process is started by one of three methods:
//   fork        fork() the calling process. Fastest; the child gets a copy of
//               all memory, so any callable runs (see ForkProcess). Unsafe in
//               a process with several threads: a lock another thread held at
//               the fork stays locked forever in the child (CPython gh-50970).
//   forkserver  a single-threaded server, started once (lazily) by
//               re-executing this program, forks the children. Safe whatever
//               threads the caller has; a child starts in about the time of a
//               fork, but only from a function pointer and arguments that can
//               be serialized.
//   spawn       re-executes this program (/proc/self/exe) for each child.
//               Slowest start (an exec and static initialisation), nothing of
//               the parent's state leaks in.
// spawn and forkserver need tandem::init(argc, argv) at the top of main()
// (init.hpp); without it asking for them throws ProcessError saying so.
//
// How the default start method is chosen (Python 3.14 moved its default from
// fork to forkserver for the same reason):
//   1. set_start_method(m) was called: m.
//   2. else, init() was called: forkserver.
//   3. else, the process has exactly one thread (tandem's internal launcher
//      thread not counted), checked at each start(): fork.
//   4. else start() throws ProcessError: forking now could deadlock the child;
//      it says to call tandem::init() or to choose fork explicitly.
// So the default never forks a process that has more than one thread.
//
//     using namespace tandem::multiprocessing;
//     auto ctx = get_context("spawn");               // or get_context(StartMethod::spawn)
//     auto p = ctx.Process(&work, 42);               // Process with start method spawn
//     p.start();
//     set_start_method("forkserver");                // the default for the program
//
// As in Python, the default context's method is fixed by set_start_method(),
// by get_start_method() (unless allow_none) and by the first start() that uses
// it; set_start_method() then raises RuntimeError("context has already been
// set") unless `force` is true. A fixed-by-use default keeps rule 3/4 above
// (it does not become an explicit fork).
#pragma once

#include <optional>     // "no start method chosen" and allow_none
#include <string>       // method names
#include <string_view>  // method names as arguments
#include <utility>      // std::forward
#include <vector>       // get_all_start_methods

namespace tandem::multiprocessing {

/// The ways to start a child process (Python names them by strings).
enum class StartMethod { fork, forkserver, spawn };

/// The Python name of `method`: "fork", "forkserver" or "spawn".
std::string_view start_method_name(StartMethod method) noexcept;

/// The StartMethod named `name`. Throws ValueError("cannot find context for
/// 'NAME'") for any other name, as Python.
StartMethod parse_start_method(std::string_view name);

class Process;
struct ProcessOptions;

/// A start method bound to an API (Python's multiprocessing context objects:
/// ForkContext, SpawnContext, ForkServerContext, and the default context).
/// Cheap to copy.
class Context {
public:
    /// The context's method name; for the default context the method it
    /// resolves to now (see the header comment) and, unless `allow_none`,
    /// fixes the default as Python does. nullopt only for an unfixed default
    /// context with `allow_none`.
    std::optional<std::string> get_start_method(bool allow_none = false) const;

    /// The method this context starts children with; nullopt for the default
    /// context, which decides at each start().
    std::optional<StartMethod> start_method() const noexcept { return method_; }

    /// ctx.Process(target, args...): a Process using this context's method.
    /// Same requirements and errors as the Process constructor.
    template <class F, class... Args>
    multiprocessing::Process Process(F&& target, Args&&... args) const;

    /// ctx.Process with name and daemon options (the options' start method is
    /// replaced by this context's).
    template <class F, class... Args>
    multiprocessing::Process Process(ProcessOptions options, F&& target, Args&&... args) const;

private:
    friend Context get_context(std::optional<StartMethod> method);
    explicit Context(std::optional<StartMethod> method) noexcept : method_(method) {}

    std::optional<StartMethod> method_;
};

/// The context for `method`, or the default context when nullopt. Throws
/// ProcessError for spawn/forkserver when init() was not called.
Context get_context(std::optional<StartMethod> method = std::nullopt);
/// get_context("spawn") etc. Throws ValueError for an unknown name, and
/// ProcessError as above.
Context get_context(std::string_view method);

/// Sets the default start method for the program. `method` nullopt with
/// `force` true makes the default choose by itself again. Throws
/// RuntimeError("context has already been set") if the default is already
/// fixed and `force` is false; ProcessError for spawn/forkserver without
/// init().
void set_start_method(std::optional<StartMethod> method, bool force = false);
/// set_start_method("spawn") etc. Throws ValueError for an unknown name,
/// otherwise as above.
void set_start_method(std::string_view method, bool force = false);

/// The default context's method name (see Context::get_start_method).
std::optional<std::string> get_start_method(bool allow_none = false);

/// The start methods this program can use, the default first (as Python
/// 3.14): {"forkserver", "fork", "spawn"} after init(), else {"fork"}.
/// Python lists the platform's methods; tandem lists only those that work
/// here, since spawn and forkserver need init().
std::vector<std::string> get_all_start_methods();

}  // namespace tandem::multiprocessing

namespace tandem::detail {
/// The method the default context uses for a start() now (rules 1-4 above),
/// fixing the default. Throws ProcessError under rule 4.
multiprocessing::StartMethod resolve_default_start_method();
}  // namespace tandem::detail

// Context::Process needs Process complete; process.hpp defines it, then the
// member templates above.
#include "tandem/multiprocessing/process.hpp"  // Process, ProcessOptions
