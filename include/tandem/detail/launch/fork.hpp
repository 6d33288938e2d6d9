// Internal: forking a child that dies with its parent, and the first steps
// every child takes (fork.cpp).
//
// PR_SET_PDEATHSIG fires when the *thread* that forked exits, not the
// process, so fork_process() forks on the main thread when called there and
// otherwise on a long-lived internal thread ("launcher"), never on a caller's
// thread that may end soon. The child then calls die_with_parent() and
// reset_signal_state() before anything else.
//
//     pid_t pid = fork_process(&child_main, &context);   // child_main must end the process
#pragma once

#include <sys/types.h>  // pid_t

#include <cstddef>  // std::size_t

namespace tandem::detail {

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

/// PR_SET_PDEATHSIG(SIGKILL), then _exit(1) unless getppid() is
/// `expected_parent` (the parent died before the prctl took effect).
/// Async-signal-safe: usable between fork() and exec().
void die_with_parent(pid_t expected_parent) noexcept;

/// Gives this process the default action for every signal and an empty
/// signal mask (a fork() keeps the forking thread's; exec keeps the mask and
/// ignored signals). Async-signal-safe: usable between fork() and exec().
void reset_signal_state() noexcept;

}  // namespace tandem::detail
