// Internal: Executor.map() for every executor — lazy, in order, bounded.
//
// The input is read a chunk at a time; at most `buffersize` chunks are in
// flight, and one more is submitted each time a chunk's results have been
// handed out, so mapping over 100 million inputs holds a few chunks in memory,
// not 100 million futures. Results come back in input order. A chunk that
// failed yields the results computed before the failure, then throws it. The
// timeout counts from the map() call, as in Python. Destroying the results
// before the end cancels the chunks still queued (Python's result iterator
// does the same when closed).
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
#include "tandem/errors.hpp"
#include "tandem/future.hpp"

namespace tandem {

/// Options of Executor.map().
struct MapOptions {
    /// Inputs per task (Python's chunksize); must be >= 1.
    std::size_t chunksize = 1;
    /// Time allowed for the whole map, counted from the call (TimeoutError).
    std::optional<std::chrono::nanoseconds> timeout;
    /// Chunks in flight at most (Python 3.14's buffersize). Unset: four per
    /// worker. Unlike Python before 3.14, map() never submits everything up
    /// front; set a large value to approach that.
    std::optional<std::size_t> buffersize;
};

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
/// Future<ChunkResult<R>>.
template <class R, std::ranges::input_range Inputs, class SubmitChunk>
class MapResults {
    using Input = std::ranges::range_value_t<Inputs>;

public:
    MapResults(Inputs inputs, SubmitChunk submit_chunk, const MapOptions& options, std::size_t default_buffer)
        : inputs_(std::move(inputs)),
          next_input_(std::ranges::begin(inputs_)),
          submit_chunk_(std::move(submit_chunk)),
          chunksize_(options.chunksize),
          buffersize_(options.buffersize.value_or(default_buffer)) {
        if (options.timeout) deadline_ = deadline_after(*options.timeout);
        while (in_flight_.size() < buffersize_ && submit_next()) {
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

    bool submit_next() {
        std::vector<Input> chunk;
        chunk.reserve(chunksize_);
        for (; chunk.size() < chunksize_ && next_input_ != std::ranges::end(inputs_); ++next_input_)
            chunk.push_back(*next_input_);
        if (chunk.empty()) return false;
        in_flight_.push_back(submit_chunk_(std::move(chunk)));
        return true;
    }

    bool advance() {
        while (position_ == current_chunk_.values.size()) {
            if (current_chunk_.error) std::rethrow_exception(std::exchange(current_chunk_.error, nullptr));
            if (in_flight_.empty()) return false;
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
            submit_next();
        }
        current_.emplace(std::move(current_chunk_.values[position_++]));
        return true;
    }

    Inputs inputs_;
    std::ranges::iterator_t<Inputs> next_input_;
    SubmitChunk submit_chunk_;
    std::size_t chunksize_;
    std::size_t buffersize_;
    Deadline deadline_;
    std::deque<Future<ChunkResult<R>>> in_flight_;
    ChunkResult<R> current_chunk_;
    std::size_t position_ = 0;
    std::optional<R> current_;
};

}  // namespace detail
}  // namespace tandem
