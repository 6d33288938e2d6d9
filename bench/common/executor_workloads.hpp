// The workloads every executor benchmark runs the same way, on any executor
// with submit() and map() (ProcessPoolExecutor, ThreadPoolExecutor,
// mpi::PoolExecutor), so that figures of different executors compare:
// sequential round trips, a burst of submits, large payloads, chunked maps.
// Each returns a median over its repetitions and checks its results.
#pragma once

#include <cstddef>  // std::byte, std::size_t
#include <cstdlib>  // std::abort: a wrong result
#include <ranges>   // std::views::iota
#include <utility>  // std::move
#include <vector>   // samples, futures, payloads

#include "report.hpp"       // median, micros_since, Clock
#include "tandem/wait.hpp"  // wait

namespace tandem_bench {

/// The tasks: plain functions, so that they travel to other processes.
namespace tasks {
inline int square(int x) { return x * x; }
inline std::vector<std::byte> echo(std::vector<std::byte> bytes) { return bytes; }
}  // namespace tasks

/// Python's default chunksize for map: ceil(n / (4 * workers)).
inline std::size_t default_chunksize(std::size_t inputs, std::size_t workers) {
    return (inputs + 4 * workers - 1) / (4 * workers);
}

/// submit -> result, one at a time: median microseconds of `trips`.
template <class Executor>
double round_trip_us(Executor& pool, std::size_t trips) {
    std::vector<double> samples(trips);
    for (std::size_t i = 0; i < trips; ++i) {
        const auto start = Clock::now();
        if (pool.submit(&tasks::square, static_cast<int>(i)).result() != static_cast<int>(i * i)) std::abort();
        samples[i] = micros_since(start);
    }
    return median(std::move(samples));
}

/// `submits` tiny tasks submitted at once, then waited for: tasks/s.
template <class Executor>
double submits_tasks_per_s(Executor& pool, std::size_t submits, int reps) {
    std::vector<double> samples;
    for (int rep = 0; rep < reps; ++rep) {
        std::vector<tandem::Future<int>> futures;
        futures.reserve(submits);
        const auto start = Clock::now();
        for (std::size_t i = 0; i < submits; ++i) futures.push_back(pool.submit(&tasks::square, static_cast<int>(i)));
        tandem::wait(futures);
        samples.push_back(static_cast<double>(submits) / (micros_since(start) / 1e6));
        if (futures[7].result() != 49) std::abort();
    }
    return median(std::move(samples));
}

/// A `bytes` argument and a result as large: MiB/s of argument per round
/// trip, after one warm-up trip (buffers both sides keep are made then).
template <class Executor>
double big_round_trip_mib_per_s(Executor& pool, std::size_t bytes, int reps) {
    const std::vector<std::byte> payload(bytes, std::byte{7});
    pool.submit(&tasks::echo, payload).result();
    std::vector<double> samples;
    for (int rep = 0; rep < reps; ++rep) {
        const auto start = Clock::now();
        const std::vector<std::byte> back = pool.submit(&tasks::echo, payload).result();
        const double seconds = micros_since(start) / 1e6;
        if (back.size() != payload.size() || back[back.size() / 2] != std::byte{7}) std::abort();
        samples.push_back(static_cast<double>(bytes) / (1024.0 * 1024.0) / seconds);
    }
    return median(std::move(samples));
}

/// map() of `inputs` tiny tasks in chunks of `chunksize`: tasks/s.
template <class Executor>
double map_tasks_per_s(Executor& pool, std::size_t inputs, std::size_t chunksize, int reps) {
    std::vector<double> samples;
    for (int rep = 0; rep < reps; ++rep) {
        const auto start = Clock::now();
        long long sum = 0;
        for (int value : pool.map(&tasks::square, std::views::iota(0, static_cast<int>(inputs)), {.chunksize = chunksize}))
            sum += value;
        samples.push_back(static_cast<double>(inputs) / (micros_since(start) / 1e6));
        if (sum == 0) std::abort();
    }
    return median(std::move(samples));
}

}  // namespace tandem_bench
