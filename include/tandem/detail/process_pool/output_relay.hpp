// Internal: what pool workers write to stdout and stderr, passed on to the
// parent's streams one whole line at a time.
//
// Each worker's stdout and stderr are pipes (its ends made here and handed to
// it as descriptors 1 and 2; C stdio in the worker is line-buffered). One
// relay thread per pool reads every worker's pipes and writes each complete
// line to the parent's descriptor 1 or 2 with a single write(), under one
// lock, so lines of different workers never interleave mid-line — where
// workers sharing a terminal (Python's default) tear each other's lines. A
// line is prefixed with "[<worker name>] " when the pool was asked to; one
// longer than kMaxLine is passed on in kMaxLine pieces. The last few lines
// of each worker's stderr are kept for its crash report (WorkerCrashed).
//
//     OutputRelay relay(/*prefix=*/true);
//     auto [id, ends] = relay.open();        // ends.out, ends.err: the worker's 1 and 2
//     relay.set_name(id, "ForkProcess-3");   // once it started
//     std::string last = relay.close(id);    // after its death: its last stderr lines
#pragma once

#include <cstddef>  // std::size_t
#include <cstdint>  // stream ids
#include <deque>    // the last stderr lines
#include <map>      // streams by id
#include <mutex>    // one writer of the parent's streams at a time
#include <string>   // lines, names
#include <thread>   // the relay thread
#include <utility>  // std::pair

#include "tandem/detail/os/unique_fd.hpp"              // the worker's ends
#include "tandem/detail/process_pool/private_fds.hpp"  // PrivateFd: the relay's ends, kept from forked workers

namespace tandem::detail::process_pool {

class OutputRelay {
public:
    /// A line longer than this is passed on in pieces of this size.
    static constexpr std::size_t kMaxLine = 64 * 1024;
    /// Lines of stderr kept per worker for its crash report, and bytes of each.
    static constexpr std::size_t kTailLines = 8;
    static constexpr std::size_t kTailLineBytes = 1024;

    /// The worker's ends of its two pipes.
    struct WorkerEnds {
        UniqueFd out;
        UniqueFd err;
    };

    /// Starts the relay thread; with `prefix`, lines start with the
    /// worker's name. Throws std::system_error.
    explicit OutputRelay(bool prefix);
    OutputRelay(const OutputRelay&) = delete;
    OutputRelay& operator=(const OutputRelay&) = delete;
    /// Passes on what is left of every open worker's output and stops.
    ~OutputRelay();

    /// New pipes for a worker about to start: an id for them and the ends
    /// it gets (call under hold_worker_starts(), and close the ends before
    /// releasing it). Throws std::system_error.
    std::pair<std::uint64_t, WorkerEnds> open();
    /// The name its lines are prefixed with.
    void set_name(std::uint64_t id, std::string name);
    /// After the worker died: passes on what it wrote and was not read yet
    /// (without waiting: a process it started may still hold its pipes),
    /// ends its last partial line, and forgets it. Returns its last stderr
    /// lines, oldest first, each ending in '\n'.
    std::string close(std::uint64_t id);

private:
    struct Stream {
        PrivateFd fd;
        int target = 1;       // the parent's descriptor its lines go to
        std::string partial;  // bytes after the last newline
        bool watched = false;
    };
    struct Worker {
        std::string prefix;
        Stream out;
        Stream err;
        std::deque<std::string> tail;  // of stderr
    };

    void run();
    // With mutex_ held.
    void drain_locked(Worker& worker, Stream& stream);
    void emit_locked(Worker& worker, Stream& stream, std::string_view line);
    void unwatch_locked(Stream& stream) noexcept;

    const bool prefix_;
    PrivateFd epoll_fd_;
    PrivateFd wake_fd_;
    std::mutex mutex_;
    std::map<std::uint64_t, Worker> workers_;
    std::uint64_t next_id_ = 1;
    bool stopping_ = false;
    std::thread thread_;
};

}  // namespace tandem::detail::process_pool
