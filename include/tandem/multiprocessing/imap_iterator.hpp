// tandem/multiprocessing/imap_iterator.hpp — multiprocessing.pool.IMapIterator.
//
// What Pool.imap() and imap_unordered() return (Pool and ThreadPool alike,
// tandem/multiprocessing/pool.hpp): the results of a lazy map, read as a
// range or with Python's next(timeout).
//
//     tandem::multiprocessing::Pool pool(4);
//     for (int squared : pool.imap(square, std::views::iota(0, 1'000'000), 1000)) use(squared);
//     auto results = pool.imap_unordered(square, inputs);
//     while (std::optional<int> r = results.next(std::chrono::seconds(5))) use(*r);   // TimeoutError after 5 s
#pragma once

#include <chrono>    // next(timeout)
#include <iterator>  // std::default_sentinel_t
#include <memory>    // the shared feed
#include <optional>  // next(): nullopt at the end
#include <utility>   // std::move
#include <vector>    // next_batch()

#include "tandem/detail/future/pull_iterator.hpp"  // the range's iterator
#include "tandem/detail/os/futex.hpp"              // deadline_after
#include "tandem/detail/pool_api/imap_feed.hpp"    // IMapFeed: what the iterator reads

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
