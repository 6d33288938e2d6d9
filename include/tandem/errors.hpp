// tandem/errors.hpp — every exception tandem throws, in one place.
//
// The names are Python's (concurrent.futures, queue, threading, multiprocessing)
// plus the few that exist because tandem does more than Python does
// (WorkerCrashed, RemoteError, FrameError). All derive from tandem::Error, which
// derives from std::runtime_error, so `catch (const std::exception&)` still works.
//
//     try {
//         auto value = future.result(std::chrono::milliseconds(100));
//     } catch (const tandem::TimeoutError&) {
//         // not done yet
//     } catch (const tandem::CancelledError&) {
//         // someone called cancel()
//     }
#pragma once

#include <cstddef>      // std::byte in BufferTooShort
#include <memory>       // std::shared_ptr: BufferTooShort's message, copied without throwing
#include <stdexcept>    // std::runtime_error, the base of tandem::Error
#include <string>       // messages and remote type names
#include <sys/types.h>  // pid_t in WorkerCrashed
#include <utility>      // std::move
#include <vector>       // BufferTooShort's message

namespace tandem {

/// Base of every tandem exception.
class Error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// --- concurrent.futures -----------------------------------------------------

/// The future was cancelled (Python: concurrent.futures.CancelledError).
class CancelledError : public Error {
public:
    CancelledError() : Error("future was cancelled") {}
    using Error::Error;
};

/// A bounded wait ran out of time (Python: TimeoutError).
class TimeoutError : public Error {
public:
    TimeoutError() : Error("timed out") {}
    using Error::Error;
};

/// An operation is not valid in the future's current state, such as setting the
/// result of a future that is already done (Python: InvalidStateError).
class InvalidStateError : public Error {
public:
    using Error::Error;
};

/// The executor can no longer run work: a worker failed to initialize, or the
/// workers keep dying at start-up (Python: BrokenExecutor).
class BrokenExecutor : public Error {
public:
    using Error::Error;
};

/// A ThreadPoolExecutor whose initializer failed (Python: BrokenThreadPool).
class BrokenThreadPool : public BrokenExecutor {
public:
    using BrokenExecutor::BrokenExecutor;
};

/// A process pool that cannot start workers (Python: BrokenProcessPool). Unlike
/// Python, a single crashed worker does not raise this: see WorkerCrashed.
class BrokenProcessPool : public BrokenExecutor {
public:
    using BrokenExecutor::BrokenExecutor;
};

// --- Python built-ins that tandem's API raises -------------------------------

/// Python's RuntimeError: misuse such as releasing an unlocked lock, starting a
/// thread twice or joining the current thread.
class RuntimeError : public Error {
public:
    using Error::Error;
};

/// Python's MemoryError: a process-pool task that went past its worker's
/// memory_limit_per_child (the message names the limit).
class MemoryError : public Error {
public:
    using Error::Error;
};

/// Python's ValueError: an argument out of range, a semaphore released too many
/// times, task_done() called too many times.
class ValueError : public Error {
public:
    using Error::Error;
};

// --- queue ------------------------------------------------------------------

/// get() on an empty queue without blocking, or after its timeout (queue.Empty).
class Empty : public Error {
public:
    Empty() : Error("queue is empty") {}
    using Error::Error;
};

/// put() on a full queue without blocking, or after its timeout (queue.Full).
class Full : public Error {
public:
    Full() : Error("queue is full") {}
    using Error::Error;
};

/// put() or get() on a queue that has been shut down (queue.ShutDown, 3.13).
class ShutDown : public Error {
public:
    ShutDown() : Error("queue has been shut down") {}
    using Error::Error;
};

// --- threading --------------------------------------------------------------

/// A Barrier was aborted or reset, or a wait on it timed out
/// (threading.BrokenBarrierError).
class BrokenBarrierError : public Error {
public:
    BrokenBarrierError() : Error("barrier is broken") {}
    using Error::Error;
};

// --- multiprocessing --------------------------------------------------------

/// Base of process-related failures (multiprocessing.ProcessError).
class ProcessError : public Error {
public:
    using Error::Error;
};

/// The other end of a Connection or Queue was closed and nothing is left to
/// receive (Python's built-in EOFError, raised by Connection.recv).
class EOFError : public Error {
public:
    EOFError() : Error("connection closed") {}
    using Error::Error;
};

/// Connection.recv_bytes_into() was given a buffer too small for the message
/// (multiprocessing.BufferTooShort). The whole message was received and is
/// kept here, as Python keeps it in args[0]; the connection stays usable.
class BufferTooShort : public ProcessError {
public:
    explicit BufferTooShort(std::vector<std::byte> message)
        : ProcessError("buffer too short for a message of " + std::to_string(message.size()) + " bytes"),
          message_(std::make_shared<const std::vector<std::byte>>(std::move(message))) {}
    /// The message that did not fit.
    const std::vector<std::byte>& message() const noexcept { return *message_; }

private:
    std::shared_ptr<const std::vector<std::byte>> message_;
};

/// The worker process running a task died before finishing it: a signal
/// (segfault, abort, SIGKILL, OOM kill) or an exit() inside the task. Only that
/// task fails; the pool replaces the worker. Python has no equivalent: its
/// BrokenProcessPool poisons the whole pool.
class WorkerCrashed : public ProcessError {
public:
    /// `signal_number` is the killing signal, or 0 if the worker exited with
    /// `exit_code`. `stack` and `last_stderr` are what stack() and
    /// last_stderr() return; what() is `message` followed by both.
    WorkerCrashed(pid_t pid, int signal_number, int exit_code, const std::string& message, std::string stack = {},
                  std::string last_stderr = {})
        : ProcessError(describe(message, stack, last_stderr)), pid_(pid), signal_(signal_number), exit_code_(exit_code),
          details_(std::make_shared<const Details>(Details{std::move(stack), std::move(last_stderr)})) {}
    pid_t pid() const noexcept { return pid_; }
    /// The signal that killed the worker, 0 if it exited.
    int signal_number() const noexcept { return signal_; }
    /// The worker's exit status if it exited, 0 if it was killed by a signal.
    int exit_code() const noexcept { return exit_code_; }
    /// The worker's stack when a fatal signal (SIGSEGV, SIGBUS, SIGILL,
    /// SIGFPE, SIGABRT) struck it, symbolized, innermost first; empty for
    /// other deaths (SIGKILL, exit()).
    const std::string& stack() const noexcept { return details_->stack; }
    /// The last lines (at most 8) the worker wrote to stderr, oldest first.
    const std::string& last_stderr() const noexcept { return details_->last_stderr; }

private:
    struct Details {
        std::string stack;
        std::string last_stderr;
    };
    static std::string describe(const std::string& message, const std::string& stack, const std::string& last_stderr) {
        std::string text = message;
        if (!stack.empty()) text += "\n" + stack;
        if (!last_stderr.empty()) text += "\nlast lines on its stderr:\n" + last_stderr;
        return text;
    }

    pid_t pid_;
    int signal_;
    int exit_code_;
    // Shared: copying an exception must not throw.
    std::shared_ptr<const Details> details_;
};

/// An exception thrown in another process whose type is not registered with
/// tandem: it keeps the remote type's name and message.
class RemoteError : public Error {
public:
    RemoteError(std::string type_name, std::string message)
        : Error(type_name + ": " + message), type_name_(std::move(type_name)),
          message_(std::move(message)) {}
    const std::string& type_name() const noexcept { return type_name_; }
    const std::string& message() const noexcept { return message_; }

private:
    std::string type_name_;
    std::string message_;
};

/// Where an exception was thrown in a process-pool worker (Python's
/// _RemoteTraceback, the __cause__ of a re-raised exception): one line per
/// frame, innermost first. A process pool rethrows a task's exception with
/// this one nested in it (std::nested_exception); tandem::remote_traceback()
/// (serialization.hpp) reads it.
class RemoteTraceback : public Error {
public:
    using Error::Error;
};

/// A message from another process that is truncated, oversized, corrupted or of
/// the wrong version, whose counts claim more than it holds or more memory
/// than its decoding budget, or that names code tandem did not generate. It is
/// rejected before any of its contents is decoded or called.
class FrameError : public Error {
public:
    using Error::Error;
};

}  // namespace tandem
