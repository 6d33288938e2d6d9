// tandem/init.hpp — the one call a program makes at the top of main() so that
// the spawn and forkserver start methods can re-execute it.
//
// spawn starts a child by executing the running program again
// (/proc/self/exe); forkserver executes it once more to get a clean,
// single-threaded server that forks the children. Such a re-executed copy must
// not run the user's main(): it must become the child (or the server). That is
// what init() does. In the user's own program it returns at once, after
// recording that spawn and forkserver are available (and the arguments to
// re-execute with); in a re-executed copy it never returns: it runs the child
// or the server and ends the process with _exit().
//
//     #include <tandem/init.hpp>
//     #include <tandem/multiprocessing/process.hpp>
//
//     void work(int n) { /* ... */ }
//
//     int main(int argc, char** argv) {
//         tandem::init(argc, argv);                  // first thing, unconditionally
//         tandem::multiprocessing::Process p(&work, 42);   // default: forkserver
//         p.start();
//         p.join();
//     }
//
// Everything before init() in main() also runs in every spawned child and in
// the forkserver, so put nothing before it. Static initialisers run there
// too, as they do in the parent. A re-executed copy is recognised by an
// environment variable (TANDEM_WORKER), not by its arguments, so the
// program's argument parsing is untouched; init() removes the variable before
// any user code (a Process target) runs, so programs the child executes in
// turn do not see it. A program that never calls init() can still use the
// fork start method, and the default start method then forks only while the
// program has a single thread (see multiprocessing/context.hpp).
//
// The variable only says "you may be a worker"; the process that made the
// copy has to prove it. Before reading anything, the copy checks that the
// socket it was handed was created by its own parent, running as the same
// user and the same executable: a script or another program that sets the
// variable gets a one-line refusal on stderr and exit status 3, and nothing
// it sends is run. In a program running with elevated privileges (setuid,
// setgid, file capabilities: the kernel's AT_SECURE), whose environment a
// less privileged user chose, the variable is ignored altogether (and
// removed): main() runs, and spawn and forkserver are unavailable (fork
// works).
#pragma once

namespace tandem {

/// Call first thing in main(), with main's arguments. In a program started by
/// the user: records argc/argv (to re-execute the program with them) and
/// makes the spawn and forkserver start methods available; returns. Calling
/// it again just records the arguments again. In a child started by spawn, or
/// the forkserver: never returns; runs the child's target or the server and
/// _exit()s. Throws nothing; a malformed TANDEM_WORKER variable (set by hand)
/// makes it print the problem to stderr and _exit(2), one set by a process
/// other than the program's own parent running the same executable _exit(3)
/// (see above). With AT_SECURE it ignores the variable and returns, leaving
/// spawn and forkserver unavailable.
void init(int argc, char** argv) noexcept;

/// True once init() has returned in this program (or in the parent a forked
/// child was forked from), so spawn and forkserver can be used. False in a
/// program running with elevated privileges (AT_SECURE), even after init().
bool initialized() noexcept;

}  // namespace tandem
