// bench/thread_pool/peer.hpp — the workloads of the thread-pool comparison, as
// every peer implements them.
//
// One file per peer (tandem.cpp, tbb.cpp, asio.cpp, textbook.cpp) writes each
// workload the way a user of that library would; main.cpp times them side by
// side in one process. A peer owns one pool of `threads` workers for its whole
// life, so the timings exclude starting pool threads (not the submitter
// threads of workload (g), started the same way for every peer).
//
//     std::unique_ptr<Peer> peer = make_tandem_peer(2);
//     peer->run_tasks(1'000'000, 0);   // (a): a million empty tasks, all awaited
//
// The fork-join workloads (f), (h), (i), (j) share their serial parts
// (fork_join.hpp); only peers whose tasks can wait on other tasks offer them.
#pragma once

#include <cstddef>   // std::size_t
#include <cstdint>   // std::uint64_t
#include <latch>     // threads that start together
#include <memory>    // std::unique_ptr
#include <optional>  // fork-join is not offered by every peer
#include <span>      // map output, round-trip samples
#include <thread>    // submitter threads
#include <vector>    // submitter threads

#include "fork_join.hpp"  // the serial parts of the fork-join workloads

namespace tandem_bench {

/// Busy work the optimizer cannot remove: `iterations` turns of an empty loop.
/// The driver calibrates how many turns make one microsecond. One copy of the
/// code, out of line (main.cpp): inlined into each peer's file, the same loop
/// ran up to twice as fast or slow as the calibration's, depending only on
/// where the linker happened to put it.
void spin(std::uint64_t iterations) noexcept;

/// The function mapped in workload (d): splitmix64's finaliser, a few ns.
constexpr std::uint64_t mix(std::uint64_t x) noexcept {
    x += 0x9E3779B97F4A7C15ULL;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}

/// Runs `body(index)` on `count` new threads released together, and returns
/// once every one has finished.
template <class Body>
void on_threads_at_once(std::size_t count, Body body) {
    std::latch start(static_cast<std::ptrdiff_t>(count));
    std::vector<std::jthread> threads;
    threads.reserve(count);
    for (std::size_t i = 0; i < count; ++i) {
        threads.emplace_back([&start, &body, i] {
            start.arrive_and_wait();
            body(i);
        });
    }
}

/// The share of `total` that submitter `index` of `count` takes.
constexpr std::size_t share(std::size_t total, std::size_t count, std::size_t index) noexcept {
    return total / count + (index < total % count ? 1 : 0);
}

/// One library's pool and its version of each workload.
class Peer {
public:
    virtual ~Peer() = default;

    /// How this peer's workloads wait for "all tasks" (printed with the results).
    virtual const char* await_style() const = 0;

    /// (a), (b): submits `count` tasks of spin(iterations) from the calling
    /// thread, then waits until all have run.
    virtual void run_tasks(std::size_t count, std::uint64_t iterations) = 0;

    /// (g): `submitters` threads, started together, submit `count` empty tasks
    /// between them; returns once all have run.
    virtual void run_tasks_from_threads(std::size_t submitters, std::size_t count) = 0;

    /// (c): one task at a time, submitted and its result awaited, once per
    /// element of `samples_ns`, which receives each round trip's time. Task i
    /// returns i; returns the sum of the results (the driver checks it).
    virtual std::uint64_t round_trips(std::span<double> samples_ns) = 0;

    /// (d): out[i] = mix(i) for every i, in tasks of `chunksize` elements.
    virtual void map(std::span<std::uint64_t> out, std::size_t chunksize) = 0;

    /// (f): Fibonacci of `n` with a task per call at or above `cutoff`, each
    /// parent waiting for its child inside the pool. Empty for peers whose
    /// tasks cannot wait on other tasks without blocking a worker.
    virtual std::optional<std::uint64_t> fib(int /*n*/, int /*cutoff*/) { return std::nullopt; }

    /// (h): the solutions of n-queens, a task per valid partial placement
    /// (queen_fits), each parent waiting for its children. Empty as for fib.
    virtual std::optional<std::uint64_t> nqueens(int /*n*/) { return std::nullopt; }

    /// (i): skynet: the sum of the leaf numbers 0 .. leaves-1 (a power of
    /// ten), each node a task that fans out to kSkynetFanOut children and
    /// waits for them. Empty as for fib.
    virtual std::optional<std::uint64_t> skynet(std::uint64_t /*leaves*/) { return std::nullopt; }

    /// (j): c = a x b for n x n row-major matrices (n a power of two), by
    /// quadrant_round() in two rounds of four products, three of them tasks,
    /// down to kMatmulBlock. Returns false for peers that do not offer it.
    virtual bool matmul(MatrixBlock /*a*/, MatrixBlock /*b*/, MatrixBlock /*c*/) { return false; }
};

std::unique_ptr<Peer> make_tandem_peer(std::size_t threads);
std::unique_ptr<Peer> make_tbb_peer(std::size_t threads);
std::unique_ptr<Peer> make_asio_peer(std::size_t threads);
std::unique_ptr<Peer> make_textbook_peer(std::size_t threads);

}  // namespace tandem_bench
