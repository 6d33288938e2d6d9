// Internal: the shared part of an imap: the input, the chunks in flight and,
// for imap_unordered, the chunks that finished and were not yet taken.
//
// multiprocessing::IMapIterator (tandem/multiprocessing/imap_iterator.hpp)
// is the consumer's handle on one IMapFeed; the pool keeps a weak pointer to
// it so that join() can read and submit the rest of the input, and the
// chunks' done-callbacks hold it while they run.
//
//     auto feed = std::make_shared<IMapFeed<int>>(core, submit_next, /*ordered=*/true, window);
//     feed->start(feed);                       // submits the first `window` chunks
//     IMapIterator<int> results(feed);
//
// Locking: an input mutex (reading input, submitting) and a completion mutex
// (what finished). Done-callbacks take only a completion mutex or the core's,
// never the input mutex, because a callback may run synchronously inside
// add_done_callback() while the input mutex is held.
#pragma once

#include <algorithm>           // std::min
#include <atomic>              // "input done", read while waiting
#include <condition_variable>  // imap_unordered waiting for a chunk
#include <cstddef>             // std::size_t
#include <deque>               // chunks in flight, in submission order
#include <exception>           // failures carried to the consumer
#include <functional>          // SubmitNext
#include <memory>              // shared with the pool and the callbacks
#include <mutex>               // the two locks above
#include <optional>            // "no more results", deadlines
#include <utility>             // std::move
#include <vector>              // chunk results

#include "tandem/detail/os/futex.hpp"            // Deadline
#include "tandem/detail/pool_api/pool_core.hpp"  // PoolCore, Drainable, track
#include "tandem/errors.hpp"                     // TimeoutError, CancelledError
#include "tandem/future.hpp"                     // Future<std::vector<R>>: one chunk

namespace tandem::detail {

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
