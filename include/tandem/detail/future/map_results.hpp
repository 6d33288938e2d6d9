// Internal: Executor.map() for every executor — in order, eager by default,
// lazy and bounded with buffersize.
//
// Without buffersize (Python's default) the constructor reads the whole input
// and submits every chunk, so the results do not depend on the executor
// living on: each chunk's future holds its results. With buffersize, at most
// that many chunks are in flight, and one more is submitted each time a
// chunk's results have been handed out, so mapping over 100 million inputs
// holds a few chunks in memory, not 100 million futures; a submission that
// fails (the executor shut down or gone) ends the input, and its exception is
// thrown after the results already submitted (MapOptions::buffersize).
// Results come back in input order. A chunk that failed yields the results
// computed before the failure, then throws it. The timeout counts from the
// map() call, as in Python. Destroying the results before the end cancels
// the chunks still queued (Python's result iterator does the same when
// closed). Once the input is exhausted it is never touched again, so an
// input passed by reference may go once map() has read it all.
#pragma once

#include <chrono>     // the timeout
#include <cstddef>    // std::size_t
#include <deque>      // chunks in flight
#include <exception>  // a chunk's failure
#include <iterator>   // std::default_sentinel_t
#include <optional>   // the current result
#include <ranges>     // the input
#include <utility>    // std::move
#include <vector>     // chunk inputs and results

#include "tandem/detail/future/pull_iterator.hpp"  // the range's iterator
#include "tandem/errors.hpp"                       // ValueError, TimeoutError, CancelledError
#include "tandem/executor.hpp"                     // MapOptions
#include "tandem/future.hpp"                       // Future, FutureState

namespace tandem {

namespace detail {

/// What one chunk produced: the values in order, and the exception that
/// stopped it, if any.
template <class R>
struct ChunkResult {
    std::vector<R> values;
    std::exception_ptr error;
};

/// Runs `fn` over a chunk, stopping at the first exception.
template <class R, class Fn, class Input>
ChunkResult<R> run_chunk(Fn& fn, std::vector<Input>& chunk) {
    ChunkResult<R> out;
    out.values.reserve(chunk.size());
    try {
        for (Input& input : chunk) out.values.push_back(fn(std::move(input)));
    } catch (...) {
        out.error = std::current_exception();
    }
    return out;
}

inline void check_map_options(const MapOptions& options) {
    if (options.chunksize < 1) throw ValueError("chunksize must be >= 1.");
    if (options.buffersize && *options.buffersize < 1) throw ValueError("buffersize must be None or > 0");
}

/// `SubmitChunk` is called with a std::vector<Input> and returns a
/// Future<ChunkResult<R>>; it throws when the executor cannot take the chunk.
template <class R, std::ranges::input_range Inputs, class SubmitChunk>
class MapResults {
    using Input = std::ranges::range_value_t<Inputs>;

public:
    /// Submits every chunk (no buffersize) or the first `buffersize` ones.
    /// Throws what submitting throws: without buffersize, map() fails as
    /// Python's does when a submit() inside it raises.
    MapResults(Inputs inputs, SubmitChunk submit_chunk, const MapOptions& options)
        : inputs_(std::move(inputs)),
          next_input_(std::ranges::begin(inputs_)),
          submit_chunk_(std::move(submit_chunk)),
          chunksize_(options.chunksize),
          buffersize_(options.buffersize) {
        if (options.timeout) deadline_ = deadline_after(*options.timeout);
        while ((!buffersize_ || in_flight_.size() < *buffersize_) && submit_next()) {
        }
    }
    // Not movable: iterators of some views point into the view itself.
    // map() returns a prvalue, so `auto results = pool.map(...)` still works.
    MapResults(MapResults&&) = delete;
    MapResults& operator=(MapResults&&) = delete;
    ~MapResults() {
        for (auto& chunk : in_flight_) chunk.cancel();
    }

    using iterator = PullIterator<MapResults, R>;

    /// Waits for the first result; throws what the first input's call threw,
    /// or TimeoutError.
    iterator begin() { return iterator::first(this); }
    std::default_sentinel_t end() const noexcept { return {}; }

    /// Collects every remaining result (a convenience; the same errors).
    std::vector<R> to_vector() {
        std::vector<R> all;
        for (R& value : *this) all.push_back(std::move(value));
        return all;
    }

private:
    friend iterator;

    // Reads and submits one more chunk; false once the input is exhausted.
    bool submit_next() {
        if (input_done_) return false;
        std::vector<Input> chunk;
        chunk.reserve(chunksize_);
        for (; chunk.size() < chunksize_ && next_input_ != std::ranges::end(inputs_); ++next_input_)
            chunk.push_back(*next_input_);
        if (chunk.size() < chunksize_) input_done_ = true;
        if (chunk.empty()) return false;
        in_flight_.push_back(submit_chunk_(std::move(chunk)));
        return true;
    }

    // With buffersize: one more chunk for the one just taken. A failure ends
    // the input; it is thrown once the chunks already submitted are read.
    void refill() noexcept {
        if (!buffersize_ || submit_error_) return;
        try {
            submit_next();
        } catch (...) {
            submit_error_ = std::current_exception();
            input_done_ = true;
        }
    }

    bool advance() {
        while (position_ == current_chunk_.values.size()) {
            if (current_chunk_.error) std::rethrow_exception(std::exchange(current_chunk_.error, nullptr));
            if (in_flight_.empty()) {
                if (submit_error_) std::rethrow_exception(std::exchange(submit_error_, nullptr));
                return false;
            }
            Future<ChunkResult<R>> next = std::move(in_flight_.front());
            in_flight_.pop_front();
            auto& state = static_cast<FutureState<ChunkResult<R>>&>(*next.state());
            if (!state.wait(deadline_)) {
                next.cancel();
                throw TimeoutError();
            }
            if (state.cancelled()) throw CancelledError();
            if (auto error = state.stored_exception()) std::rethrow_exception(error);
            current_chunk_ = std::move(state.value());  // we hold the only reader
            position_ = 0;
            refill();
        }
        current_.emplace(std::move(current_chunk_.values[position_++]));
        return true;
    }

    Inputs inputs_;
    std::ranges::iterator_t<Inputs> next_input_;
    bool input_done_ = false;  // the input is never touched again
    SubmitChunk submit_chunk_;
    std::size_t chunksize_;
    std::optional<std::size_t> buffersize_;
    std::exception_ptr submit_error_;
    Deadline deadline_;
    std::deque<Future<ChunkResult<R>>> in_flight_;
    ChunkResult<R> current_chunk_;
    std::size_t position_ = 0;
    std::optional<R> current_;
};

}  // namespace detail
}  // namespace tandem
