// Internal: the main loop of a process-pool worker, and what it is handed.
//
// A worker is an ordinary multiprocessing::Process whose target is
// worker_main(WorkerChannel). The channel names the worker's own region (one
// WorkerArea, task_ring.hpp), the event fd that wakes the parent's collector
// for it, the worker's end of its control socket and the initializer's
// encoded call: nothing of any other worker. WorkerChannel is handed off
// (handoff.hpp), so under spawn and forkserver its descriptors travel with
// SCM_RIGHTS, and under fork the child simply inherits them: one code path
// for all three start methods. (What else a forked child would inherit from
// the pool is kept from it: private_fds.hpp.)
//
// The loop: make the output pipes its stdout and stderr (line-buffered), put
// in its crash handler and throw-site recording (crash_report.hpp,
// throw_site.hpp), ignore SIGINT (a Ctrl-C at the terminal reaches the whole
// process group; the parent decides what happens to the pool), run the
// initializer (on failure: record it in the area and exit with status 3),
// mark the area ready, then take requests in order: write the task's id and
// start time into the area, run the call (remote_call.hpp), publish the
// reply, clear the id. A stop request ends the loop with status 0, and so
// does a task that leaves the worker over its memory bounds
// (memory_limits.hpp).
//
//     multiprocessing::Process worker(options, &worker_main, channel);
//     worker.start();
#pragma once

#include <cstddef>  // std::size_t, std::byte
#include <memory>   // received descriptors, shared by copies
#include <vector>   // initializer bytes and descriptors

#include "tandem/detail/os/unique_fd.hpp"  // UniqueFd for received descriptors
#include "tandem/detail/wire/handoff.hpp"  // HandoffWriter / HandoffReader, Handoff<T>

namespace tandem::detail::process_pool {

/// Everything a worker is given. In the parent (and a forked child) the
/// descriptors are the parent's, not owned here; in a spawned or forkserver
/// child they were received and `owned` keeps them open.
struct WorkerChannel {
    /// The worker's region: a sealed memfd of sizeof(WorkerArea) bytes.
    int region_fd = -1;
    std::size_t region_size = 0;
    int event_fd = -1;
    int socket_fd = -1;
    /// The write ends of the pipes that become its stdout and stderr
    /// (output_relay.hpp).
    int stdout_fd = -1;
    int stderr_fd = -1;
    /// Exit after a task when resident memory is above this (0: never), and
    /// the most its private memory may grow (0: unbounded); memory_limits.hpp.
    std::size_t max_memory = 0;
    std::size_t memory_limit = 0;
    /// The initializer's encoded call; empty for none.
    std::vector<std::byte> initializer;
    std::vector<int> initializer_fds;
    std::shared_ptr<std::vector<UniqueFd>> owned;
};

/// The worker's body (see the file comment). Returns when told to stop;
/// exits the process with status 3 if the initializer throws.
void worker_main(WorkerChannel channel);

/// Exit status of a worker whose initializer threw.
inline constexpr int kInitializerFailedStatus = 3;
/// Exit status of a worker that found its rings scribbled over (a memory
/// bug in a task wrote over its area).
inline constexpr int kCorruptRingStatus = 4;

}  // namespace tandem::detail::process_pool

namespace tandem::detail {

template <>
struct Handoff<process_pool::WorkerChannel> {
    static void send(HandoffWriter& out, const process_pool::WorkerChannel& channel) {
        out.write_fd(channel.region_fd);
        out.write_fd(channel.event_fd);
        out.write_fd(channel.socket_fd);
        out.write_fd(channel.stdout_fd);
        out.write_fd(channel.stderr_fd);
        out.write(channel.region_size);
        out.write(channel.max_memory);
        out.write(channel.memory_limit);
        out.write_bytes(channel.initializer);
        out.write(channel.initializer_fds.size());
        for (int fd : channel.initializer_fds) out.write_fd(fd);
    }
    static process_pool::WorkerChannel receive(HandoffReader& in) {
        process_pool::WorkerChannel channel;
        channel.owned = std::make_shared<std::vector<UniqueFd>>();
        auto keep = [&](UniqueFd fd) {
            const int raw = fd.get();
            channel.owned->push_back(std::move(fd));
            return raw;
        };
        channel.region_fd = keep(in.take_fd());
        channel.event_fd = keep(in.take_fd());
        channel.socket_fd = keep(in.take_fd());
        channel.stdout_fd = keep(in.take_fd());
        channel.stderr_fd = keep(in.take_fd());
        channel.region_size = in.read<std::size_t>();
        channel.max_memory = in.read<std::size_t>();
        channel.memory_limit = in.read<std::size_t>();
        const auto initializer = in.read_bytes();
        channel.initializer.assign(initializer.begin(), initializer.end());
        const auto count = in.read<std::size_t>();
        if (count > 250) throw FrameError("pool worker: too many initializer descriptors");
        for (std::size_t i = 0; i < count; ++i) channel.initializer_fds.push_back(keep(in.take_fd()));
        return channel;
    }
};

}  // namespace tandem::detail
