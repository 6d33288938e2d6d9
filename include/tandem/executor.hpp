// tandem/executor.hpp — concurrent.futures.Executor: the shape every executor
// shares, as a C++20 concept, and the options of its map() and shutdown().
//
// Python's Executor is an abstract base class with submit(), map() and
// shutdown(); ThreadPoolExecutor and ProcessPoolExecutor derive from it, so a
// function written against Executor runs on either. Here the base is the
// concept tandem::Executor, which ThreadPoolExecutor and ProcessPoolExecutor
// model, and so does mpi::PoolExecutor, with no virtual calls:
//
//     int square(int x) { return x * x; }   // a plain function runs on every executor
//
//     long total(tandem::Executor auto& executor, const std::vector<int>& inputs) {
//         long sum = executor.submit(square, 3).result();
//         for (int y : executor.map(square, inputs, {.chunksize = 64})) sum += y;
//         executor.shutdown({.wait = true, .cancel_futures = true});
//         return sum;
//     }
//
//     tandem::ThreadPoolExecutor threads(4);
//     tandem::ProcessPoolExecutor processes({.mp_context = tandem::multiprocessing::get_context("spawn")});
//     total(threads, inputs);
//     total(processes, inputs);
//
// What an executor provides (each executor's header documents its own errors):
//   submit(fn, args...)            a Future<R> of fn(args...)
//   map(fn, inputs, MapOptions)    an input range of fn(x) for each x, in input order
//   shutdown(ShutdownOptions)      Python's shutdown(wait=True, cancel_futures=False),
//   shutdown(wait, cancel_futures) also positional; shutdown() waits
// and its destructor is shutdown(wait = true), as Python's `with` block.
// The initializer of either pool is the same type (tandem/initializer.hpp).
#pragma once

#include <chrono>    // MapOptions::timeout
#include <concepts>  // std::same_as
#include <cstddef>   // std::size_t
#include <optional>  // options left unset
#include <ranges>    // map() returns an input range
#include <vector>    // the probe input of the concept

#include "tandem/future.hpp"  // Future: what submit() returns

namespace tandem {

/// Options of Executor.map() (Python's keyword arguments).
struct MapOptions {
    /// Inputs per task (Python's chunksize; ThreadPoolExecutor ignores it in
    /// Python, tandem uses it for both); must be >= 1 (ValueError).
    std::size_t chunksize = 1;
    /// Time allowed for the whole map, counted from the call: iterating past
    /// it throws TimeoutError (Python's timeout).
    std::optional<std::chrono::nanoseconds> timeout{};
    /// Python 3.14's buffersize: at most this many tasks (chunks) submitted
    /// and not yet handed to the consumer; the input is read lazily, one
    /// chunk more each time a chunk's results have been handed out, so an
    /// endless input works. Must be >= 1 (ValueError).
    ///
    /// Unset (the default, as in Python): map() reads the whole input and
    /// submits every chunk before it returns, so every result is computed
    /// even if the executor is shut down or destroyed next, and stays
    /// readable from the returned range afterwards. An endless input never
    /// returns then.
    ///
    /// The shutdown rule with buffersize: chunks are submitted while the
    /// results are read, so those not yet submitted when the executor is
    /// shut down (or destroyed) never run. The range yields every result
    /// that was submitted, then throws RuntimeError("cannot schedule new
    /// futures after shutdown") where the first unsubmitted input would be.
    /// (Python raises at the next step, dropping the results still buffered,
    /// and stops silently once the executor is garbage-collected.)
    std::optional<std::size_t> buffersize{};
};

/// Options of Executor.shutdown() (Python's keyword arguments):
/// `executor.shutdown({.wait = false, .cancel_futures = true})`.
struct ShutdownOptions {
    /// Block until every submitted task has run and the workers have exited.
    bool wait = true;
    /// Cancel the tasks that no worker has started (their futures raise
    /// CancelledError); those running still finish.
    bool cancel_futures = false;
};

namespace detail {
/// What the Executor concept submits and maps: a function every executor can
/// run, in a thread or in another process.
using ExecutorProbe = int (*)(int);
}  // namespace detail

/// concurrent.futures.Executor: submit() returns a Future of the call, map()
/// an input range of results in input order, and shutdown() takes Python's
/// options as a struct, positionally, or none. Checked with a plain function
/// `int (*)(int)`, which every executor runs.
template <class E>
concept Executor = requires(E& executor, detail::ExecutorProbe fn, std::vector<int>& inputs,
                            const MapOptions& map_options, const ShutdownOptions& shutdown_options) {
    { executor.submit(fn, 1) } -> std::same_as<Future<int>>;
    { executor.map(fn, inputs, map_options) } -> std::ranges::input_range;
    requires std::same_as<std::ranges::range_value_t<decltype(executor.map(fn, inputs, map_options))>, int>;
    executor.shutdown();
    executor.shutdown(shutdown_options);
    executor.shutdown(true, false);
};

}  // namespace tandem
