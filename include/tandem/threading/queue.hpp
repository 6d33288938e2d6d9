// tandem/threading/queue.hpp — Python's queue module: Queue, LifoQueue,
// PriorityQueue and SimpleQueue, for passing work between threads.
//
// A queue hands items from producer threads to consumer threads. Queue gives
// them out oldest first, LifoQueue newest first, PriorityQueue lowest first
// (like heapq; any comparator). A positive maxsize bounds the queue: put()
// then waits for room, which holds back producers that outrun consumers.
// task_done()/join() let a producer wait until every item has been handled,
// and shutdown() (Python 3.13) stops a queue: puts fail at once, gets drain
// what is left and then fail, and every blocked thread wakes with ShutDown.
// SimpleQueue is the unbounded FIFO without task tracking or shutdown.
//
//     tandem::threading::Queue<std::string> jobs(100);      // at most 100 waiting
//     std::thread worker([&] {
//         try {
//             for (;;) {
//                 handle(jobs.get());
//                 jobs.task_done();
//             }
//         } catch (const tandem::ShutDown&) {}               // drained and shut down
//     });
//     jobs.put("a");
//     jobs.put("b", std::chrono::seconds(1));                // tandem::Full if no room by then
//     jobs.join();                                           // both handled
//     jobs.shutdown();
//     worker.join();
//
// Items are values: put() copies or moves its argument in, get() moves the item
// out, so move-only types such as std::unique_ptr work. Every operation is
// all-or-nothing: when put() throws (Full, ShutDown, ValueError, or T's own
// constructor), its argument has not been moved from and the queue is
// unchanged; when get() throws, the item is still in the queue.
//
// Deliberate differences from Python:
// - join(timeout) -> bool is an extension: Python's join() cannot time out.
// - A negative (or NaN) timeout raises ValueError on every call that takes one.
//   Python checks it only when the call might wait: not for put() on an
//   unbounded queue, and not for get() on a shut-down, empty queue.
// - maxsize is fixed at construction; Python lets code assign q.maxsize.
// - SimpleQueue is an ordinary mutex-based queue. Python's C SimpleQueue is
//   reentrant so that __del__ methods and signal handlers may call put(); C++
//   has no such callers, and a signal handler must not lock a mutex at all.
#pragma once

#include <algorithm>           // std::min in shutdown
#include <chrono>              // timeouts
#include <concepts>            // std::constructible_from, std::move_constructible
#include <condition_variable>  // waiting for room, items and finished tasks
#include <cstddef>             // std::size_t, std::ptrdiff_t
#include <functional>          // std::less, PriorityQueue's default order
#include <mutex>               // the queue's lock
#include <optional>            // std::nullopt: no deadline
#include <type_traits>         // checks on T
#include <utility>             // std::forward, std::move

#include "tandem/detail/os/futex.hpp"               // detail::Clock, detail::Deadline, detail::deadline_after
#include "tandem/detail/threading/queue_store.hpp"  // the FIFO, LIFO and heap stores
#include "tandem/errors.hpp"                        // Empty, Full, ShutDown, ValueError

namespace tandem::threading {

/// The implementation shared by Queue, LifoQueue and PriorityQueue, which
/// differ only in `Store`, the container that decides which item leaves first
/// (Python's _put/_get). Use those three; this class has no public constructor.
///
/// Thread-safe: any number of threads may call any member at once. Blocked
/// threads are woken one at a time (a put wakes one getter, a get wakes one
/// putter); shutdown() wakes them all.
template <class T, class Store>
class BasicQueue {
    static_assert(std::is_object_v<T> && !std::is_const_v<T> && !std::is_array_v<T>,
                  "queue items are values: not references, arrays or const");
    static_assert(std::move_constructible<T>, "get() returns items by value, so T must be movable");

public:
    using value_type = T;

    BasicQueue(const BasicQueue&) = delete;
    BasicQueue& operator=(const BasicQueue&) = delete;

    /// Adds `item`, waiting as long as it takes for room in a full bounded
    /// queue. Throws ShutDown if the queue is or gets shut down.
    template <class U = T>
        requires std::constructible_from<T, U>
    void put(U&& item) {
        put_until(std::forward<U>(item), true, std::nullopt);
    }
    /// As put(item) if `block`; otherwise throws Full at once when there is no room.
    template <class U = T>
        requires std::constructible_from<T, U>
    void put(U&& item, bool block) {
        put_until(std::forward<U>(item), block, std::nullopt);
    }
    /// As put(item), but throws Full if no room appeared within `timeout`.
    /// ValueError if `timeout` is negative.
    template <class U = T, class Rep, class Period>
        requires std::constructible_from<T, U>
    void put(U&& item, std::chrono::duration<Rep, Period> timeout) {
        put_until(std::forward<U>(item), true, checked_deadline(timeout));
    }
    /// put(item, false): adds `item` or throws Full (or ShutDown) without waiting.
    template <class U = T>
        requires std::constructible_from<T, U>
    void put_nowait(U&& item) {
        put_until(std::forward<U>(item), false, std::nullopt);
    }

    /// Removes and returns the next item, waiting as long as it takes for one.
    /// Throws ShutDown once the queue is shut down and empty.
    T get() { return get_until(true, std::nullopt); }
    /// As get() if `block`; otherwise throws Empty at once when there is no item.
    T get(bool block) { return get_until(block, std::nullopt); }
    /// As get(), but throws Empty if no item arrived within `timeout`.
    /// ValueError if `timeout` is negative.
    template <class Rep, class Period>
    T get(std::chrono::duration<Rep, Period> timeout) {
        return get_until(true, checked_deadline(timeout));
    }
    /// get(false): returns an item or throws Empty (or ShutDown) without waiting.
    T get_nowait() { return get_until(false, std::nullopt); }

    /// The number of items waiting; stale as soon as it returns if other
    /// threads use the queue.
    std::size_t qsize() const {
        const std::lock_guard lock(mutex_);
        return store_.size();
    }
    /// True if no item is waiting (as stale as qsize()).
    bool empty() const {
        const std::lock_guard lock(mutex_);
        return store_.empty();
    }
    /// True if the queue is bounded and holds maxsize() items (as stale as qsize()).
    bool full() const {
        const std::lock_guard lock(mutex_);
        return full_locked();
    }
    /// The bound given at construction; zero or negative means unbounded.
    std::ptrdiff_t maxsize() const noexcept { return maxsize_; }

    /// Tells the queue that one item obtained by get() has been handled; when
    /// every item put has been, join() returns. Throws ValueError("task_done()
    /// called too many times") if no item is outstanding.
    void task_done() {
        const std::lock_guard lock(mutex_);
        if (unfinished_ == 0) throw ValueError("task_done() called too many times");
        if (--unfinished_ == 0) all_tasks_done_.notify_all();
    }
    /// Waits until task_done() has been called for every item put.
    void join() { join_until(std::nullopt); }
    /// As join(), giving up after `timeout`: true if all tasks are done, false
    /// on timeout. ValueError if `timeout` is negative. (Not in Python.)
    template <class Rep, class Period>
    bool join(std::chrono::duration<Rep, Period> timeout) {
        return join_until(checked_deadline(timeout));
    }

    /// Shuts the queue down (Python 3.13): put() throws ShutDown from now on,
    /// and get() throws ShutDown once the queue is empty. With `immediate`, the
    /// waiting items are discarded at once and count as done for join(). Every
    /// thread blocked in put() or get() wakes up and throws ShutDown (a getter
    /// gets an item instead if one is left). Calling it again is allowed; an
    /// immediate call after a plain one discards what is left.
    void shutdown(bool immediate = false) {
        const std::lock_guard lock(mutex_);
        shutdown_ = true;
        if (immediate) {
            unfinished_ -= std::min(unfinished_, store_.size());
            store_.clear();
            if (unfinished_ == 0) all_tasks_done_.notify_all();
        }
        not_empty_.notify_all();
        not_full_.notify_all();
    }

protected:
    template <class... StoreArgs>
    explicit BasicQueue(std::ptrdiff_t maxsize, StoreArgs&&... store_args)
        : maxsize_(maxsize), store_(std::forward<StoreArgs>(store_args)...) {}
    ~BasicQueue() = default;

private:
    using Lock = std::unique_lock<std::mutex>;

    template <class Rep, class Period>
    static detail::Deadline checked_deadline(std::chrono::duration<Rep, Period> timeout) {
        // Written so that a NaN timeout fails the test too.
        if (!(timeout >= std::chrono::duration<Rep, Period>::zero())) {
            throw ValueError("'timeout' must be a non-negative number");
        }
        return detail::deadline_after(timeout);
    }
    static bool expired(const detail::Deadline& deadline) {
        return deadline && detail::Clock::now() >= *deadline;
    }
    // Returns when notified, at the deadline, or spuriously: callers re-check.
    static void wait_on(std::condition_variable& condition, Lock& lock, const detail::Deadline& deadline) {
        if (deadline) {
            condition.wait_until(lock, *deadline);
        } else {
            condition.wait(lock);
        }
    }

    bool full_locked() const noexcept {
        return maxsize_ > 0 && store_.size() >= static_cast<std::size_t>(maxsize_);
    }

    // The order of the checks is Python's: shut down beats room, and room
    // beats the deadline, so a putter woken at its deadline still succeeds if
    // room appeared.
    template <class U>
    void put_until(U&& item, bool block, const detail::Deadline& deadline) {
        Lock lock(mutex_);
        for (;;) {
            if (shutdown_) throw ShutDown();
            if (!full_locked()) break;
            if (!block || expired(deadline)) throw Full();
            wait_on(not_full_, lock, deadline);
        }
        try {
            store_.push(std::forward<U>(item));
        } catch (...) {
            // This thread may have taken the wake-up meant for the free slot.
            not_full_.notify_one();
            throw;
        }
        ++unfinished_;
        not_empty_.notify_one();
    }

    // An item beats shut down (non-immediate shutdown lets getters drain),
    // and shut down beats Empty.
    T get_until(bool block, const detail::Deadline& deadline) {
        Lock lock(mutex_);
        while (store_.empty()) {
            if (shutdown_) throw ShutDown();
            if (!block || expired(deadline)) throw Empty();
            wait_on(not_empty_, lock, deadline);
        }
        try {
            // Notified first because take() ends with the return; the woken
            // putter needs the mutex, so it sees the queue only after take().
            not_full_.notify_one();
            return store_.take();
        } catch (...) {
            // The item is still there, and this thread may have taken the
            // wake-up meant for it: pass it on.
            not_empty_.notify_one();
            throw;
        }
    }

    bool join_until(const detail::Deadline& deadline) {
        Lock lock(mutex_);
        while (unfinished_ != 0) {
            if (expired(deadline)) return false;
            wait_on(all_tasks_done_, lock, deadline);
        }
        return true;
    }

    const std::ptrdiff_t maxsize_;
    mutable std::mutex mutex_;
    std::condition_variable not_empty_;       // getters wait here
    std::condition_variable not_full_;        // putters wait here
    std::condition_variable all_tasks_done_;  // join() waits here
    Store store_;
    std::size_t unfinished_ = 0;  // items put and not yet marked task_done()
    bool shutdown_ = false;
};

/// First in, first out (Python: queue.Queue).
template <class T>
class Queue : public BasicQueue<T, detail::DequeStore<T, detail::TakeFrom::oldest>> {
    using Base = BasicQueue<T, detail::DequeStore<T, detail::TakeFrom::oldest>>;

public:
    /// An empty queue holding at most `maxsize` items; <= 0 means no limit.
    explicit Queue(std::ptrdiff_t maxsize = 0) : Base(maxsize) {}
};

/// Last in, first out (Python: queue.LifoQueue).
template <class T>
class LifoQueue : public BasicQueue<T, detail::DequeStore<T, detail::TakeFrom::newest>> {
    using Base = BasicQueue<T, detail::DequeStore<T, detail::TakeFrom::newest>>;

public:
    /// An empty stack holding at most `maxsize` items; <= 0 means no limit.
    explicit LifoQueue(std::ptrdiff_t maxsize = 0) : Base(maxsize) {}
};

/// Lowest first (Python: queue.PriorityQueue): get() returns the item that
/// `Compare` orders before all others, the smallest with std::less, as
/// heapq does. Items that compare equal come out in no particular order; add
/// a sequence number to the item (std::pair<priority, counter>) for FIFO ties.
template <class T, class Compare = std::less<T>>
class PriorityQueue : public BasicQueue<T, detail::HeapStore<T, Compare>> {
    using Base = BasicQueue<T, detail::HeapStore<T, Compare>>;

public:
    /// An empty priority queue holding at most `maxsize` items (<= 0 means no
    /// limit), ordered by `compare`.
    explicit PriorityQueue(std::ptrdiff_t maxsize = 0, Compare compare = Compare())
        : Base(maxsize, std::move(compare)) {}
};

/// An unbounded FIFO queue without task tracking or shutdown
/// (Python: queue.SimpleQueue). put() never blocks.
template <class T>
class SimpleQueue {
public:
    /// An empty queue.
    SimpleQueue() = default;

    /// Adds `item`; never blocks.
    template <class U = T>
        requires std::constructible_from<T, U>
    void put(U&& item) {
        items_.put(std::forward<U>(item));
    }
    /// put(item): `block` exists only for compatibility with Queue, as in Python.
    template <class U = T>
        requires std::constructible_from<T, U>
    void put(U&& item, bool /*block*/) {
        items_.put(std::forward<U>(item));
    }
    /// put(item): `timeout` is ignored, even a negative one, as in Python.
    template <class U = T, class Rep, class Period>
        requires std::constructible_from<T, U>
    void put(U&& item, std::chrono::duration<Rep, Period> /*timeout*/) {
        items_.put(std::forward<U>(item));
    }
    /// put(item), for compatibility with Queue.
    template <class U = T>
        requires std::constructible_from<T, U>
    void put_nowait(U&& item) {
        items_.put(std::forward<U>(item));
    }

    /// Removes and returns the oldest item, waiting as long as it takes for one.
    T get() { return items_.get(); }
    /// As get() if `block`; otherwise throws Empty at once when there is no item.
    T get(bool block) { return items_.get(block); }
    /// As get(), but throws Empty if no item arrived within `timeout`.
    /// ValueError if `timeout` is negative.
    template <class Rep, class Period>
    T get(std::chrono::duration<Rep, Period> timeout) {
        return items_.get(timeout);
    }
    /// get(false): returns an item or throws Empty without waiting.
    T get_nowait() { return items_.get_nowait(); }

    /// True if no item is waiting (stale as soon as it returns).
    bool empty() const { return items_.empty(); }
    /// The number of items waiting (stale as soon as it returns).
    std::size_t qsize() const { return items_.qsize(); }

private:
    // An unbounded Queue that is never shut down behaves exactly as a
    // SimpleQueue; its task count is simply never read.
    Queue<T> items_;
};

}  // namespace tandem::threading
