// Internal: where an exception was thrown, for exceptions that leave a
// process-pool task (Python's remote traceback).
//
// By the time a catch block runs, the stack that threw is gone. So the
// program's throws go through a hook (the linker's --wrap=__cxa_throw, set
// by the tandem target on every program that links it, src/os/throw_hook.cpp)
// that, only in a process that called enable_throw_capture() — a pool
// worker —, records the throwing thread's program counters beside the thrown
// object's address. When a task's exception reaches the worker's catch,
// throw_site_stack() turns the record into text if it belongs to that very
// exception object. Elsewhere a throw pays one relaxed load.
//
// Exceptions thrown inside shared libraries built without the hook (the
// standard library's own std::out_of_range from vector::at, for one) have no
// record: they come back without a stack.
//
//     enable_throw_capture();                    // in the worker, once
//     try { task(); } catch (...) { text = throw_site_stack(std::current_exception()); }
#pragma once

#include <atomic>     // the switch
#include <exception>  // std::exception_ptr
#include <string>     // the stack as text

namespace tandem::detail {

/// Set in processes that record throw sites (pool workers).
extern std::atomic<bool> throw_capture_enabled;

/// Records this process's throws from now on (stack capture is warmed up first).
void enable_throw_capture() noexcept;

/// Called by the hook for each throw while capture is enabled.
void record_throw(void* thrown_object) noexcept;

/// The symbolized stack where `error` was thrown on this thread, or "" if
/// capture is off or the last throw recorded here was another exception.
std::string throw_site_stack(const std::exception_ptr& error);

}  // namespace tandem::detail
