// Internal: Python's multiprocessing.pool API (apply, map, imap, close/join,
// ...) written once over any executor.
//
// multiprocessing::ThreadPool and multiprocessing::Pool (pool.hpp) are this
// PoolFace over two backends. A backend is a small struct that says how to
// run one call and one chunk of a map on its executor:
//
//     struct SomeBackend {
//         using Executor = ...;
//         template <class Fn, class... Args> using result_t = ...;          // what fn(args...) gives back
//         template <class Fn, class Input> using star_result_t = ...;       // what std::apply(fn, input) gives
//         static auto submit(Executor&, Fn&, Args&&...) -> Future<result_t<Fn, Args...>>;
//         template <bool Star, class R, class Fn, class Input>
//         static Future<std::vector<R>> submit_chunk(Executor&, const std::shared_ptr<Fn>&, std::vector<Input>);
//         static std::size_t workers(const Executor&);
//         static void terminate(Executor&);   // cancel queued work, stop what can be stopped
//         static void shutdown(Executor&);    // wait for everything, release the workers
//     };
//
// The face does the bookkeeping Python's Pool does in its handler threads,
// without those threads: it counts every submitted task (join() waits for
// them), turns chunk futures into AsyncResults and IMapIterators, and keeps
// the close/terminate/join state machine. A chunk is one task whose result
// is the vector of its inputs' results; if one input's call throws, the whole
// chunk fails with that exception, as Python's mapstar does.
//
// Locking: PoolCore::mutex guards the job count and the state; a MapJob has
// its own mutex; an imap's locks are described in imap_feed.hpp.
#pragma once

#include <algorithm>    // std::move of chunk results
#include <chrono>       // timeouts
#include <cstddef>      // std::size_t
#include <exception>    // failures carried to callbacks
#include <functional>   // std::function, std::invoke
#include <iterator>     // std::back_inserter
#include <memory>       // shared state between the pool, its results and callbacks
#include <mutex>        // MapJob's lock, the core's
#include <optional>     // chunksize, timeouts
#include <ranges>       // inputs of map and imap
#include <type_traits>  // result types, sized inputs
#include <utility>      // std::move, std::forward
#include <vector>       // chunks and map results

#include "tandem/detail/future/future_state.hpp"     // FutureState<T>::value() for moving results out
#include "tandem/detail/pool_api/imap_feed.hpp"      // IMapFeed: what imap() starts
#include "tandem/detail/pool_api/pool_core.hpp"      // PoolCore, track, run_user_callback
#include "tandem/errors.hpp"                         // ValueError, CancelledError
#include "tandem/future.hpp"                         // Future<T>, what backends return
#include "tandem/multiprocessing/async_result.hpp"   // AsyncResult, AsyncCallbacks: what apply_async() gives
#include "tandem/multiprocessing/imap_iterator.hpp"  // IMapIterator: what imap() gives

namespace tandem::detail {

using multiprocessing::AsyncCallbacks;
using multiprocessing::AsyncResult;
using multiprocessing::IMapIterator;

/// Completes `outer` from the finished `inner`, running the matching user
/// callback first (Python sets the result after calling the callback, so
/// that get() returning means the callback has run). Moves the value out of
/// `inner`: the pool holds the only reference to it.
template <class R>
void complete_job(const Future<R>& inner, Future<R>& outer, const AsyncCallbacks<R>& callbacks) noexcept {
    std::exception_ptr error;
    if (inner.cancelled()) {
        error = std::make_exception_ptr(CancelledError("the pool was terminated before the job ran"));
    } else {
        error = inner.state()->stored_exception();
    }
    if (error) {
        run_user_callback(callbacks.error_callback, error);
        outer.state()->try_set_exception(error);
        return;
    }
    auto& finished = static_cast<FutureState<R>&>(*inner.state());
    if constexpr (std::is_void_v<R>) {
        static_cast<void>(finished);
        run_user_callback(callbacks.callback);
        static_cast<FutureState<void>&>(*outer.state()).try_set_result();
    } else {
        run_user_callback(callbacks.callback, std::as_const(finished.value()));
        static_cast<FutureState<R>&>(*outer.state()).try_set_result(std::move(finished.value()));
    }
}

/// Python's map chunksize: divmod(len, 4 * processes), plus one if there is
/// a remainder; at least 1 here, since an empty map submits nothing anyway.
inline std::size_t default_map_chunksize(std::size_t length, std::size_t processes) noexcept {
    const std::size_t per = 4 * processes;
    std::size_t chunksize = length / per;
    if (length % per != 0) ++chunksize;
    return chunksize == 0 ? 1 : chunksize;
}

inline void check_chunksize(std::size_t chunksize) {
    if (chunksize < 1) throw ValueError("Chunksize must be 1+, not 0");
}

/// map_async's bookkeeping: chunk results by position, until every chunk
/// ended or one failed.
template <class R>
struct MapJob {
    std::mutex mutex;
    std::vector<std::vector<R>> chunks;
    std::size_t remaining = 0;
    bool failed = false;
    Future<std::vector<R>> outer = Future<std::vector<R>>::create();
    AsyncCallbacks<std::vector<R>> callbacks;

    /// A chunk ended. The first failure ends the job at once (Python's
    /// MapResult does the same); the last success assembles the result.
    void chunk_done(std::size_t index, const Future<std::vector<R>>& chunk) noexcept {
        std::exception_ptr error;
        if (chunk.cancelled()) {
            error = std::make_exception_ptr(CancelledError("the pool was terminated before the job ran"));
        } else {
            error = chunk.state()->stored_exception();
        }
        std::vector<R> all;
        {
            std::lock_guard lock(mutex);
            if (failed) return;
            if (error) {
                failed = true;
            } else {
                chunks[index] = std::move(static_cast<FutureState<std::vector<R>>&>(*chunk.state()).value());
                if (--remaining != 0) return;
                try {
                    std::size_t total = 0;
                    for (const auto& part : chunks) total += part.size();
                    all.reserve(total);
                    for (auto& part : chunks) std::move(part.begin(), part.end(), std::back_inserter(all));
                } catch (...) {
                    error = std::current_exception();
                    failed = true;
                }
            }
        }
        if (error) {
            run_user_callback(callbacks.error_callback, error);
            outer.state()->try_set_exception(error);
        } else {
            run_user_callback(callbacks.callback, std::as_const(all));
            static_cast<FutureState<std::vector<R>>&>(*outer.state()).try_set_result(std::move(all));
        }
    }
};

/// What map (Star false) or starmap (Star true) gives for one input; a
/// trait, so that only the one asked for is formed.
template <class Backend, bool Star, class Fn, class Input>
struct MapResultOf {
    using type = typename Backend::template result_t<Fn, Input>;
};
template <class Backend, class Fn, class Input>
struct MapResultOf<Backend, true, Fn, Input> {
    using type = typename Backend::template star_result_t<Fn, Input>;
};

/// Pool's API over a backend (see the file comment).
template <class Backend>
class PoolFace {
public:
    using Executor = typename Backend::Executor;

    PoolFace(const PoolFace&) = delete;
    PoolFace& operator=(const PoolFace&) = delete;

    /// Drains: close() then join(), unlike Python's `with Pool()`, which
    /// terminates (see pool.hpp).
    ~PoolFace() {
        close();
        join();
    }

    /// Python's apply: runs fn(args...) in a worker and returns its result;
    /// rethrows its exception. ValueError("Pool not running") after close()
    /// or terminate().
    template <class Fn, class... Args>
    auto apply(Fn&& fn, Args&&... args) -> typename Backend::template result_t<Fn, Args...> {
        // A fresh handle on a temporary: result() moves the value out.
        return Future(apply_async(std::forward<Fn>(fn), std::forward<Args>(args)...).future()).result();
    }

    /// Python's apply_async: schedules fn(args...) and returns its
    /// AsyncResult at once. ValueError("Pool not running") after close() or
    /// terminate().
    template <class Fn, class... Args>
    auto apply_async(Fn&& fn, Args&&... args) -> AsyncResult<typename Backend::template result_t<Fn, Args...>> {
        using R = typename Backend::template result_t<Fn, Args...>;
        return apply_async(AsyncCallbacks<R>{}, std::forward<Fn>(fn), std::forward<Args>(args)...);
    }
    /// As apply_async(fn, args...), with Python's callback and
    /// error_callback: pool.apply_async({.callback = ..., .error_callback =
    /// ...}, fn, args...).
    template <class Fn, class... Args>
    auto apply_async(AsyncCallbacks<typename Backend::template result_t<Fn, Args...>> callbacks, Fn&& fn,
                     Args&&... args) -> AsyncResult<typename Backend::template result_t<Fn, Args...>> {
        using R = typename Backend::template result_t<Fn, Args...>;
        check_running();
        Future<R> inner = Backend::submit(*executor_, std::forward<Fn>(fn), std::forward<Args>(args)...);
        auto outer = Future<R>::create();
        track(core_, outer);
        inner.add_done_callback([outer, callbacks = std::move(callbacks)](const Future<R>& done) mutable {
            complete_job(done, outer, callbacks);
        });
        return AsyncResult<R>(std::move(outer));
    }

    /// Python's map: fn(x) for each x of `inputs`, results in input order.
    /// `chunksize` unset: Python's (len / (4 * processes), rounded up).
    /// Every chunk is queued at once, as Python's map (map_async().get())
    /// does. Rethrows the first failure in input order.
    template <class Fn, std::ranges::input_range Inputs>
    auto map(Fn fn, Inputs&& inputs, std::optional<std::size_t> chunksize = std::nullopt) {
        return collect(imap_for_map<false>(std::move(fn), std::forward<Inputs>(inputs), chunksize));
    }
    /// Python's starmap: fn(a, b, ...) for each tuple (a, b, ...) of `inputs`.
    template <class Fn, std::ranges::input_range Inputs>
    auto starmap(Fn fn, Inputs&& inputs, std::optional<std::size_t> chunksize = std::nullopt) {
        return collect(imap_for_map<true>(std::move(fn), std::forward<Inputs>(inputs), chunksize));
    }

    /// Python's map_async: as map(), but returns an AsyncResult of the whole
    /// vector at once. The input is read completely and every chunk is
    /// queued now (nothing else could feed them later), as in Python. The
    /// first failing chunk, in completion order, ends the job.
    template <class Fn, std::ranges::input_range Inputs>
    auto map_async(Fn fn, Inputs&& inputs, std::optional<std::size_t> chunksize = std::nullopt,
                   AsyncCallbacks<std::vector<typename Backend::template result_t<Fn, std::ranges::range_value_t<Inputs>>>>
                       callbacks = {}) {
        using R = typename Backend::template result_t<Fn, std::ranges::range_value_t<Inputs>>;
        return map_async_impl<false, R>(std::move(fn), std::forward<Inputs>(inputs), chunksize, std::move(callbacks));
    }
    /// Python's starmap_async.
    template <class Fn, std::ranges::input_range Inputs>
    auto starmap_async(
        Fn fn, Inputs&& inputs, std::optional<std::size_t> chunksize = std::nullopt,
        AsyncCallbacks<std::vector<typename Backend::template star_result_t<Fn, std::ranges::range_value_t<Inputs>>>>
            callbacks = {}) {
        using R = typename Backend::template star_result_t<Fn, std::ranges::range_value_t<Inputs>>;
        return map_async_impl<true, R>(std::move(fn), std::forward<Inputs>(inputs), chunksize, std::move(callbacks));
    }

    /// Python's imap: results in input order, read lazily. `chunksize`
    /// inputs per task (default 1, ValueError if 0); at most `buffersize`
    /// chunks (default 4 * processes) in flight, so the input is read only
    /// that far ahead of the consumer: an endless input is fine (Python's
    /// task thread reads all of it at once). join() submits the rest, so
    /// the results outlive the pool.
    template <class Fn, std::ranges::input_range Inputs>
    auto imap(Fn fn, Inputs&& inputs, std::size_t chunksize = 1, std::optional<std::size_t> buffersize = std::nullopt) {
        using R = typename Backend::template result_t<Fn, std::ranges::range_value_t<Inputs>>;
        return make_imap<false, R>(std::move(fn), std::forward<Inputs>(inputs), chunksize, buffersize, true);
    }
    /// Python's imap_unordered: as imap(), results in the order they complete.
    template <class Fn, std::ranges::input_range Inputs>
    auto imap_unordered(Fn fn, Inputs&& inputs, std::size_t chunksize = 1,
                        std::optional<std::size_t> buffersize = std::nullopt) {
        using R = typename Backend::template result_t<Fn, std::ranges::range_value_t<Inputs>>;
        return make_imap<false, R>(std::move(fn), std::forward<Inputs>(inputs), chunksize, buffersize, false);
    }

    /// Python's close: no new work; what was submitted still runs. Harmless
    /// to repeat, and after terminate().
    void close() {
        std::lock_guard lock(core_->mutex);
        if (core_->state == PoolCore::State::run) core_->state = PoolCore::State::close;
    }

    /// Python's terminate: no new work, and work not yet started is
    /// cancelled (its results raise CancelledError). What is running ends as
    /// the backend allows (see pool.hpp). Harmless to repeat.
    void terminate() {
        {
            std::lock_guard lock(core_->mutex);
            core_->state = PoolCore::State::terminate;
        }
        Backend::terminate(*executor_);
    }

    /// Python's join: waits until every submitted task has ended, then
    /// releases the workers. ValueError("Pool is still running") before
    /// close() or terminate(). After close(), an imap whose input is not all
    /// read yet has the rest read and submitted now, so that its results are
    /// all computed when join() returns, as in Python (do not close() and
    /// join() with an endless imap alive). Do not call it from a pool task.
    void join() {
        std::vector<std::shared_ptr<Drainable>> feeds;
        {
            std::lock_guard lock(core_->mutex);
            if (core_->state == PoolCore::State::run) throw ValueError("Pool is still running");
            if (core_->state == PoolCore::State::close) {
                for (auto& weak : core_->feeds) {
                    if (auto feed = weak.lock()) feeds.push_back(std::move(feed));
                }
            }
            core_->feeds.clear();
        }
        for (auto& feed : feeds) feed->drain();
        feeds.clear();
        {
            std::unique_lock lock(core_->mutex);
            core_->idle.wait(lock, [this] { return core_->outstanding == 0; });
        }
        Backend::shutdown(*executor_);
    }

    /// The number of workers (Python's private _processes).
    std::size_t processes() const noexcept { return processes_; }

protected:
    explicit PoolFace(std::unique_ptr<Executor> executor)
        : executor_(std::move(executor)),
          core_(std::make_shared<PoolCore>()),
          processes_(Backend::workers(*executor_)) {}

private:
    void check_running() {
        std::lock_guard lock(core_->mutex);
        if (core_->state != PoolCore::State::run) throw ValueError("Pool not running");
    }

    template <class R>
    static std::vector<R> collect(IMapIterator<R> results) {
        std::vector<R> all;
        while (auto batch = results.next_batch()) {
            if (all.empty()) {
                all = std::move(*batch);
            } else {
                all.insert(all.end(), std::make_move_iterator(batch->begin()), std::make_move_iterator(batch->end()));
            }
        }
        return all;
    }

    // map and starmap: imap with Python's map chunksize (the input's size is
    // needed for it; an unsized input is read into a vector first, as
    // Python's list(iterable)) and no bound on the chunks in flight, so that
    // every chunk is queued at once, as Python's map_async does.
    template <bool Star, class Fn, class Inputs>
    auto imap_for_map(Fn fn, Inputs&& inputs, std::optional<std::size_t> chunksize) {
        using Input = std::ranges::range_value_t<Inputs>;
        using R = typename MapResultOf<Backend, Star, Fn, Input>::type;
        if constexpr (std::ranges::sized_range<Inputs>) {
            const auto size = static_cast<std::size_t>(std::ranges::size(inputs));
            const std::size_t chunk = chunksize.value_or(default_map_chunksize(size, processes_));
            return make_imap<Star, R>(std::move(fn), std::forward<Inputs>(inputs), chunk, kUnbounded, true);
        } else {
            check_running();
            std::vector<Input> all;
            for (auto&& input : inputs) all.push_back(std::forward<decltype(input)>(input));
            const std::size_t chunk = chunksize.value_or(default_map_chunksize(all.size(), processes_));
            return make_imap<Star, R>(std::move(fn), std::move(all), chunk, kUnbounded, true);
        }
    }
    static constexpr std::size_t kUnbounded = static_cast<std::size_t>(-1);

    template <bool Star, class R, class Fn, class Inputs>
    IMapIterator<R> make_imap(Fn fn, Inputs&& inputs, std::size_t chunksize, std::optional<std::size_t> buffersize,
                              bool ordered) {
        static_assert(!std::is_void_v<R>,
                      "map/imap need a function that returns a value (for Pool: a function pointer or a lambda "
                      "without captures); use apply_async otherwise");
        using View = std::views::all_t<Inputs>;
        using Input = std::ranges::range_value_t<Inputs>;
        constexpr bool owned = std::is_same_v<View, std::ranges::owning_view<std::remove_cvref_t<Inputs>>>;
        check_chunksize(chunksize);
        if (buffersize && *buffersize < 1) throw ValueError("buffersize must be None or > 0");
        check_running();
        // The view and its position live on the heap: iterators of some
        // views point into the view itself, so neither may move.
        struct Reader {
            View view;
            std::ranges::iterator_t<View> position;
            explicit Reader(View v) : view(std::move(v)), position(std::ranges::begin(view)) {}
        };
        auto reader = std::make_shared<Reader>(std::views::all(std::forward<Inputs>(inputs)));
        auto shared_fn = std::make_shared<Fn>(std::move(fn));
        Executor* executor = executor_.get();
        auto submit_next = [reader, shared_fn, executor, chunksize]() -> std::optional<Future<std::vector<R>>> {
            std::vector<Input> chunk;
            for (; chunk.size() < chunksize && reader->position != std::ranges::end(reader->view); ++reader->position) {
                // An input the pool owns (an rvalue container) is moved from.
                if constexpr (owned) {
                    chunk.push_back(std::ranges::iter_move(reader->position));
                } else {
                    chunk.push_back(*reader->position);
                }
            }
            if (chunk.empty()) return std::nullopt;
            return Backend::template submit_chunk<Star, R>(*executor, shared_fn, std::move(chunk));
        };
        auto feed = std::make_shared<IMapFeed<R>>(core_, std::move(submit_next), ordered,
                                                  buffersize.value_or(4 * processes_));
        {
            std::lock_guard lock(core_->mutex);
            std::erase_if(core_->feeds, [](const std::weak_ptr<Drainable>& weak) { return weak.expired(); });
            core_->feeds.push_back(feed);
        }
        feed->start(feed);
        return IMapIterator<R>(std::move(feed));
    }

    template <bool Star, class R, class Fn, class Inputs>
    AsyncResult<std::vector<R>> map_async_impl(Fn fn, Inputs&& inputs, std::optional<std::size_t> chunksize,
                                               AsyncCallbacks<std::vector<R>> callbacks) {
        static_assert(!std::is_void_v<R>,
                      "map_async needs a function that returns a value (for Pool: a function pointer or a lambda "
                      "without captures); use apply_async otherwise");
        using Input = std::ranges::range_value_t<Inputs>;
        if (chunksize) check_chunksize(*chunksize);
        check_running();
        std::vector<Input> all;
        if constexpr (std::ranges::sized_range<Inputs>) all.reserve(static_cast<std::size_t>(std::ranges::size(inputs)));
        for (auto&& input : inputs) all.push_back(std::forward<decltype(input)>(input));
        const std::size_t chunk_size = chunksize.value_or(default_map_chunksize(all.size(), processes_));

        auto job = std::make_shared<MapJob<R>>();
        job->callbacks = std::move(callbacks);
        track(core_, job->outer);
        AsyncResult<std::vector<R>> result(job->outer);
        const std::size_t count = (all.size() + chunk_size - 1) / chunk_size;
        if (count == 0) {
            // Python calls the callback with [] for an empty input.
            job->remaining = 1;
            job->chunks.resize(1);
            auto empty = Future<std::vector<R>>::create();
            empty.set_result();
            job->chunk_done(0, empty);
            return result;
        }
        job->chunks.resize(count);
        job->remaining = count;
        auto shared_fn = std::make_shared<Fn>(std::move(fn));
        for (std::size_t index = 0; index < count; ++index) {
            const std::size_t first = index * chunk_size;
            const std::size_t last = std::min(all.size(), first + chunk_size);
            std::vector<Input> chunk(std::make_move_iterator(all.begin() + static_cast<std::ptrdiff_t>(first)),
                                     std::make_move_iterator(all.begin() + static_cast<std::ptrdiff_t>(last)));
            Future<std::vector<R>> future;
            try {
                future = Backend::template submit_chunk<Star, R>(*executor_, shared_fn, std::move(chunk));
            } catch (...) {
                // A pool broken or shut down under us: the job fails, not the caller.
                auto failed = Future<std::vector<R>>::create();
                failed.set_exception(std::current_exception());
                job->chunk_done(index, failed);
                break;
            }
            track(core_, future);
            future.add_done_callback([job, index](const Future<std::vector<R>>& done) { job->chunk_done(index, done); });
        }
        return result;
    }

    std::unique_ptr<Executor> executor_;
    std::shared_ptr<PoolCore> core_;
    std::size_t processes_;
};

}  // namespace tandem::detail
