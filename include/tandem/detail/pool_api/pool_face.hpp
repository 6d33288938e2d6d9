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
// Locking: PoolCore::mutex guards the job count and the state; an imap feed
// has an input mutex (reading input, submitting) and a completion mutex
// (what finished). Done-callbacks take only the core mutex or a completion
// mutex, never the input mutex, because a callback may run synchronously
// inside add_done_callback() while the input mutex is held.
#pragma once

#include <algorithm>           // std::min, std::move of chunk results
#include <atomic>              // an imap's "input done" flag, read while waiting
#include <chrono>              // timeouts
#include <condition_variable>  // join() waiting for tasks; imap_unordered waiting for a chunk
#include <cstddef>             // std::size_t
#include <deque>               // chunks in flight, in submission order
#include <exception>           // failures carried to the consumer
#include <functional>          // std::function callbacks, std::invoke
#include <iterator>            // std::default_sentinel_t
#include <memory>              // shared state between the pool, its results and callbacks
#include <mutex>               // the locks described above
#include <optional>            // chunksize, timeouts, imap's "no more results"
#include <ranges>              // inputs of map and imap
#include <type_traits>         // result types, sized inputs
#include <utility>             // std::move, std::forward
#include <vector>              // chunks and map results

#include "tandem/detail/os/futex.hpp"         // detail::Deadline, detail::deadline_after, Clock
#include "tandem/detail/future/future_state.hpp"  // FutureState<T>::value() for moving results out, report_callback_exception
#include "tandem/detail/future/pull_iterator.hpp"  // the imap range's iterator
#include "tandem/errors.hpp"               // ValueError, TimeoutError, CancelledError
#include "tandem/future.hpp"               // Future<T>, what backends return and AsyncResult wraps

namespace tandem::multiprocessing {

/// Python's callback / error_callback arguments of apply_async, map_async and
/// starmap_async. `callback` receives the result, `error_callback` the
/// exception; exactly one of them runs, once, when the job ends, before
/// get() returns, as in Python. They run in the thread that completes the
/// job (a pool thread for ThreadPool, the pool's result collector for Pool),
/// or, if the job (the last chunk, for map_async) already ended when the
/// pool registers them, inside the apply_async/map_async call itself. Keep
/// them short: they hold up that thread. An exception a callback throws goes
/// to the callback-exception handler (tandem::set_callback_exception_handler)
/// and does not change the job's result.
template <class R>
struct AsyncCallbacks {
    /// Called with the result when the job succeeds; may be empty.
    std::function<void(const R&)> callback;
    /// Called with the exception when the job fails (CancelledError if the
    /// pool was terminated first); may be empty.
    std::function<void(std::exception_ptr)> error_callback;
};
/// A job without a result: `callback` takes nothing.
template <>
struct AsyncCallbacks<void> {
    /// Called when the job succeeds; may be empty.
    std::function<void()> callback;
    /// Called with the exception when the job fails; may be empty.
    std::function<void(std::exception_ptr)> error_callback;
};

/// Python's AsyncResult (ApplyResult, MapResult): the result of
/// apply_async(), map_async() or starmap_async(). Copies share one result.
template <class R>
class AsyncResult {
public:
    /// Wraps a future (pools make these; a test can too).
    explicit AsyncResult(Future<R> future) noexcept : future_(std::move(future)) {}

    /// Waits for the job and returns its result (a reference into the shared
    /// result, valid while a copy of this AsyncResult lives), or rethrows the
    /// job's exception. CancelledError if the pool was terminated before the
    /// job ran.
    typename tandem::detail::ResultTypes<R>::const_reference get() const { return future_.result(); }
    /// As get(), but throws TimeoutError (multiprocessing.TimeoutError) if the
    /// result is not ready within `timeout`.
    template <class Rep, class Period>
    typename tandem::detail::ResultTypes<R>::const_reference get(std::chrono::duration<Rep, Period> timeout) const {
        return future_.result(timeout);
    }
    /// Waits until the job ended. Returns true (Python returns None).
    bool wait() const {
        future_.state()->wait(std::nullopt);
        return true;
    }
    /// Waits at most `timeout`; returns ready() (Python returns None: test
    /// ready() there).
    template <class Rep, class Period>
    bool wait(std::chrono::duration<Rep, Period> timeout) const {
        return future_.state()->wait(tandem::detail::deadline_after(timeout));
    }
    /// Whether the job has ended.
    bool ready() const { return future_.done(); }
    /// Whether the job ended without an exception. Throws ValueError if it has
    /// not ended yet, as Python does.
    bool successful() const {
        if (!ready()) throw ValueError("AsyncResult not ready");
        return !future_.cancelled() && future_.exception() == nullptr;
    }
    /// The underlying future, for tandem::wait() and as_completed() (beyond
    /// Python: pool results mix with executor futures there).
    const Future<R>& future() const noexcept { return future_; }

private:
    Future<R> future_;
};

/// Python's multiprocessing.pool.ApplyResult and MapResult are AsyncResults.
template <class R>
using ApplyResult = AsyncResult<R>;
template <class R>
using MapResult = AsyncResult<std::vector<R>>;

}  // namespace tandem::multiprocessing

namespace tandem::detail {

using multiprocessing::AsyncCallbacks;
using multiprocessing::AsyncResult;

/// Used by join(): an imap whose input is not all read yet.
class Drainable {
public:
    /// Reads and submits the rest of the input.
    virtual void drain() noexcept = 0;

protected:
    ~Drainable() = default;
};

/// What the pool and everything it hands out share: its state, the number
/// of tasks not yet ended, and the imaps still reading input.
struct PoolCore {
    enum class State { run, close, terminate };

    std::mutex mutex;
    std::condition_variable idle;  // outstanding reached 0
    State state = State::run;
    std::size_t outstanding = 0;
    std::vector<std::weak_ptr<Drainable>> feeds;

    bool terminated() {
        std::lock_guard lock(mutex);
        return state == State::terminate;
    }
};

/// Counts `future` as outstanding until it ends (or is cancelled).
template <class T>
void track(const std::shared_ptr<PoolCore>& core, Future<T>& future) {
    {
        std::lock_guard lock(core->mutex);
        ++core->outstanding;
    }
    future.add_done_callback([core] {
        std::lock_guard lock(core->mutex);
        if (--core->outstanding == 0) core->idle.notify_all();
    });
}

/// Runs a user callback, sending what it throws to the callback-exception
/// handler: a callback must not change the job's result nor kill the thread
/// that completes jobs.
template <class Callback, class... Args>
void run_user_callback(const Callback& callback, Args&&... args) noexcept {
    if (!callback) return;
    try {
        callback(std::forward<Args>(args)...);
    } catch (...) {
        report_callback_exception(std::current_exception());
    }
}

/// Completes `outer` from the finished `inner`, running the matching user
/// callback first (Python sets the result after calling the callback, so
/// that get() returning means the callback has run). Moves the value out of
/// `inner`: the pool holds the only reference to it.
template <class R>
void deliver(const Future<R>& inner, Future<R>& outer, const AsyncCallbacks<R>& callbacks) noexcept {
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

/// The shared part of an IMapIterator: the input, the chunks in flight and,
/// for imap_unordered, the chunks that finished and were not yet taken.
template <class R>
class IMapFeed final : public Drainable {
public:
    /// Reads up to one chunk and submits it; nullopt when the input is done.
    using SubmitNext = std::function<std::optional<Future<std::vector<R>>>()>;

    IMapFeed(std::shared_ptr<PoolCore> core, SubmitNext submit_next, bool ordered, std::size_t window)
        : core_(std::move(core)), submit_next_(std::move(submit_next)), ordered_(ordered), window_(window) {}

    IMapFeed(const IMapFeed&) = delete;
    IMapFeed& operator=(const IMapFeed&) = delete;

    ~IMapFeed() {
        // Chunks no one will read: those not started are cancelled. Their
        // callbacks touch only the core, which outlives this, and a weak
        // pointer to this feed, already expired.
        for (auto& chunk : in_flight_) chunk.cancel();
    }

    /// Fills the window with the first chunks (at imap()).
    void start(const std::shared_ptr<IMapFeed>& self) {
        self_ = self;
        std::lock_guard lock(input_mutex_);
        fill_locked(window_);
    }

    void drain() noexcept override {
        std::lock_guard lock(input_mutex_);
        fill_locked(static_cast<std::size_t>(-1));
    }

    /// The consumer is gone: the input is never read again (it may be gone
    /// too, even while a done-callback still holds this feed) and the chunks
    /// not started are cancelled.
    void abandon() noexcept {
        std::vector<Future<std::vector<R>>> unread;
        {
            std::lock_guard lock(input_mutex_);
            input_done_.store(true, std::memory_order_release);
            submit_next_ = nullptr;
            std::lock_guard completion_lock(completion_mutex_);
            unread.assign(in_flight_.begin(), in_flight_.end());
        }
        // Outside the locks: cancel() runs done-callbacks, which take them.
        for (auto& chunk : unread) chunk.cancel();
    }

    /// The next result: nullopt at the end, TimeoutError past `deadline`.
    std::optional<R> next(Deadline deadline) {
        if (position_ == current_.size() && !load_next_chunk(deadline)) return std::nullopt;
        return std::optional<R>(std::move(current_[position_++]));
    }

    /// The results left of the current chunk, or the next chunk's, at once
    /// (map() collects whole chunks instead of one result at a time);
    /// nullopt at the end. Throws as next() does.
    std::optional<std::vector<R>> next_batch(Deadline deadline) {
        if (position_ == current_.size() && !load_next_chunk(deadline)) return std::nullopt;
        std::vector<R> batch;
        if (position_ == 0) {
            batch = std::move(current_);
        } else {
            batch.assign(std::make_move_iterator(current_.begin() + static_cast<std::ptrdiff_t>(position_)),
                         std::make_move_iterator(current_.end()));
        }
        current_.clear();
        position_ = 0;
        return batch;
    }

private:
    static Future<std::vector<R>> no_chunk() { return {}; }  // empty: valid() is false

    // Makes the next non-empty chunk current; false at the end.
    bool load_next_chunk(Deadline deadline) {
        while (position_ == current_.size()) {
            Future<std::vector<R>> chunk = ordered_ ? take_in_order(deadline) : take_completed(deadline);
            if (!chunk.valid()) return false;
            if (chunk.cancelled()) throw CancelledError("the pool was terminated before the task ran");
            if (auto error = chunk.state()->stored_exception()) std::rethrow_exception(error);
            current_ = std::move(static_cast<FutureState<std::vector<R>>&>(*chunk.state()).value());
            position_ = 0;
        }
        return true;
    }

    // Submits chunks while fewer than `limit` are unread; input_mutex_ held.
    // What goes wrong (the input's iterator throws, the pool was terminated
    // or broke) ends the input and is kept for the consumer, who meets it
    // after the chunks already submitted: at its place, as Python delivers
    // an exception raised by the input iterable.
    void fill_locked(std::size_t limit) noexcept {
        try {
            while (!input_done_ && unread_count() < limit) {
                if (core_->terminated()) throw CancelledError("the pool was terminated");
                std::optional<Future<std::vector<R>>> chunk = submit_next_();
                if (!chunk) {
                    mark_input_done();
                    return;
                }
                track(core_, *chunk);
                {
                    std::lock_guard lock(completion_mutex_);
                    in_flight_.push_back(*chunk);
                }
                if (!ordered_) {
                    chunk->add_done_callback([weak = self_](const Future<std::vector<R>>& done) {
                        if (auto self = weak.lock()) self->completed(done);
                    });
                }
            }
        } catch (...) {
            input_error_ = std::current_exception();
            mark_input_done();
        }
    }

    void mark_input_done() noexcept {
        input_done_.store(true, std::memory_order_release);
        std::lock_guard lock(completion_mutex_);
        completion_.notify_all();  // an imap_unordered consumer may wait for the end
    }

    // Chunks submitted and not yet taken by the consumer.
    std::size_t unread_count() {
        std::lock_guard lock(completion_mutex_);
        return in_flight_.size() + finished_.size();
    }

    // imap_unordered: a chunk ended; it moves to the finished list.
    void completed(const Future<std::vector<R>>& done) {
        std::lock_guard lock(completion_mutex_);
        for (auto it = in_flight_.begin(); it != in_flight_.end(); ++it) {
            if (it->state() == done.state()) {
                in_flight_.erase(it);
                finished_.push_back(done);
                completion_.notify_all();
                return;
            }
        }
    }

    // imap: the oldest chunk, once it ended; no_chunk() at the end.
    Future<std::vector<R>> take_in_order(Deadline deadline) {
        Future<std::vector<R>> front;
        {
            std::lock_guard input_lock(input_mutex_);
            std::lock_guard lock(completion_mutex_);
            if (in_flight_.empty()) {
                if (input_error_) std::rethrow_exception(std::exchange(input_error_, nullptr));
                return no_chunk();
            }
            front = in_flight_.front();
        }
        // Waiting without locks: join() may be submitting the rest meanwhile.
        // Left in place on a timeout, so that next() can be called again.
        if (!front.state()->wait(deadline)) throw TimeoutError();
        std::lock_guard input_lock(input_mutex_);
        {
            std::lock_guard lock(completion_mutex_);
            in_flight_.pop_front();
        }
        fill_locked(window_);
        return front;
    }

    // imap_unordered: any chunk that ended; no_chunk() at the end.
    Future<std::vector<R>> take_completed(Deadline deadline) {
        Future<std::vector<R>> chunk = no_chunk();
        {
            std::unique_lock lock(completion_mutex_);
            const auto ready = [this] {
                return !finished_.empty() || (in_flight_.empty() && input_done_.load(std::memory_order_acquire));
            };
            if (deadline) {
                if (!completion_.wait_until(lock, *deadline, ready)) throw TimeoutError();
            } else {
                completion_.wait(lock, ready);
            }
            if (!finished_.empty()) {
                chunk = std::move(finished_.front());
                finished_.pop_front();
            }
        }
        std::lock_guard input_lock(input_mutex_);
        if (!chunk.valid()) {
            if (input_error_) std::rethrow_exception(std::exchange(input_error_, nullptr));
            return chunk;
        }
        fill_locked(window_);
        return chunk;
    }

    std::shared_ptr<PoolCore> core_;
    std::weak_ptr<IMapFeed> self_;

    std::mutex input_mutex_;  // guards submit_next_ (the input), input_error_; writes of input_done_
    SubmitNext submit_next_;
    std::atomic<bool> input_done_{false};  // also read by the unordered consumer's wait
    std::exception_ptr input_error_;

    std::mutex completion_mutex_;  // guards in_flight_, finished_
    std::condition_variable completion_;
    std::deque<Future<std::vector<R>>> in_flight_;  // imap: not yet taken; imap_unordered: not yet ended
    std::deque<Future<std::vector<R>>> finished_;   // imap_unordered: ended, not yet taken

    const bool ordered_;
    const std::size_t window_;

    // The consumer's own: the chunk being handed out.
    std::vector<R> current_;
    std::size_t position_ = 0;
};

}  // namespace tandem::detail

namespace tandem::multiprocessing {

/// Python's IMapIterator / IMapUnorderedIterator: the lazy results of
/// imap() (input order) or imap_unordered() (completion order). An input
/// range (for-range works) and Python's next(timeout). One consumer at a
/// time; movable, not copyable. Destroying it before the end stops reading
/// the input and cancels the chunks not yet started. It may outlive its
/// pool: joining the pool (or destroying it, which joins) reads and submits
/// the rest of the input first, so every result stays readable. An input
/// passed as an lvalue must live until then.
template <class R>
class IMapIterator {
public:
    /// Wraps the feed a pool's imap() made.
    explicit IMapIterator(std::shared_ptr<tandem::detail::IMapFeed<R>> feed) noexcept : feed_(std::move(feed)) {}
    IMapIterator(const IMapIterator&) = delete;
    IMapIterator& operator=(const IMapIterator&) = delete;
    /// Movable; the moved-from iterator is empty and may only be destroyed.
    IMapIterator(IMapIterator&&) noexcept = default;
    IMapIterator& operator=(IMapIterator&& other) noexcept {
        if (this != &other) {
            if (feed_) feed_->abandon();
            feed_ = std::move(other.feed_);
            current_ = std::move(other.current_);
        }
        return *this;
    }
    /// Stops reading the input and cancels the chunks not yet started
    /// (those running finish; join() waits for them).
    ~IMapIterator() {
        if (feed_) feed_->abandon();
    }

    /// The next result, or nullopt when there are no more (Python raises
    /// StopIteration). Rethrows the exception of a failed call at its place
    /// (for a chunk, every input of that chunk is lost, as in Python); the
    /// iterator stays usable after that. CancelledError after terminate().
    std::optional<R> next() { return feed_->next(std::nullopt); }
    /// The results of a whole chunk (what is left of it) at once; nullopt
    /// at the end. Throws as next() does.
    std::optional<std::vector<R>> next_batch() { return feed_->next_batch(std::nullopt); }
    /// As next(), but throws TimeoutError if no result comes within
    /// `timeout`; nothing is lost, so next() may be called again.
    template <class Rep, class Period>
    std::optional<R> next(std::chrono::duration<Rep, Period> timeout) {
        return feed_->next(tandem::detail::deadline_after(timeout));
    }

    /// The range's iterator: each ++ calls next(); equal to end() once
    /// next() returned nullopt.
    using iterator = tandem::detail::PullIterator<IMapIterator, R>;

    /// Waits for the first result (rethrowing as next() does).
    iterator begin() { return iterator::first(this); }
    /// The end of the results.
    std::default_sentinel_t end() const noexcept { return {}; }

private:
    friend iterator;
    bool advance() {
        current_ = next();
        return current_.has_value();
    }

    std::shared_ptr<tandem::detail::IMapFeed<R>> feed_;
    std::optional<R> current_;  // what the range's iterator points at
};

/// Python's IMapUnorderedIterator: the same type, fed in completion order.
template <class R>
using IMapUnorderedIterator = IMapIterator<R>;

}  // namespace tandem::multiprocessing

namespace tandem::detail {

using multiprocessing::IMapIterator;

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
            deliver(done, outer, callbacks);
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

