// Tests for tandem/threading/queue.hpp: Python's queue module, ported from
// CPython's Lib/test/test_queue.py (BaseQueueTestMixin, FailingQueueTest,
// SimpleQueueTest and the 3.13 shutdown tests), plus move-only items, throwing
// moves and comparators, and many-thread checks under timeouts and shutdown.
#include "tandem/threading/queue.hpp"

#include <gtest/gtest.h>  // TEST, TYPED_TEST, EXPECT_*

#include <algorithm>    // std::sort, std::shuffle, std::count
#include <atomic>       // failure switches shared with worker threads
#include <chrono>       // timeouts and elapsed-time checks
#include <cmath>        // NAN
#include <cstdint>      // std::uint64_t checksums
#include <cstdlib>      // std::abs
#include <functional>   // std::function for operations under test
#include <future>       // std::async: a bounded wait on a blocked thread
#include <memory>       // std::unique_ptr items
#include <random>       // a seeded shuffle
#include <stdexcept>    // std::runtime_error for the failing types
#include <string>       // items and outcome names
#include <thread>       // producers and consumers
#include <type_traits>  // std::is_same_v on the typed-test kind
#include <utility>      // std::pair, std::move
#include <vector>       // results

using namespace std::chrono_literals;
using tandem::threading::LifoQueue;
using tandem::threading::PriorityQueue;
using tandem::threading::Queue;
using tandem::threading::SimpleQueue;

namespace {

constexpr int kQueueSize = 5;               // CPython's QUEUE_SIZE
constexpr auto kPatience = 5s;              // how long a wait that should succeed may take
constexpr auto kLikelyBlocked = 20ms;       // lets another thread reach its wait; never relied on
constexpr auto kShortTimeout = 50ms;        // for waits that are meant to time out

// Which exception, if any, ended `operation`: a name that reads well in a failed EXPECT_EQ.
std::string outcome_of(const std::function<void()>& operation) {
    try {
        operation();
        return "returned";
    } catch (const tandem::Empty&) {
        return "Empty";
    } catch (const tandem::Full&) {
        return "Full";
    } catch (const tandem::ShutDown&) {
        return "ShutDown";
    } catch (const tandem::ValueError&) {
        return "ValueError";
    } catch (const std::exception& error) {
        return error.what();
    }
}

// Starts `operation` in another thread; its outcome comes back through the future.
std::future<std::string> start(std::function<void()> operation) {
    return std::async(std::launch::async, [operation = std::move(operation)] { return outcome_of(operation); });
}

// Waits at most kPatience for a started operation. If it is still blocked,
// `rescue` (a shutdown, which wakes everything) ends it so that the test fails
// instead of hanging.
std::string finish(std::future<std::string>& started, const std::function<void()>& rescue) {
    if (started.wait_for(kPatience) != std::future_status::ready) {
        ADD_FAILURE() << "operation still blocked after " << kPatience.count() << "s";
        rescue();
    }
    return started.get();
}

// CPython's do_blocking_test: `blocking` runs in another thread and must not
// finish before `trigger` has run here; then it must finish without error.
// `rescue` must unblock it in case the trigger failed to.
void expect_blocks_until(std::function<void()> blocking, const std::function<void()>& trigger,
                         const std::function<void()>& rescue) {
    auto started = start(std::move(blocking));
    // Cannot be ready before the trigger if the queue is right; the wait only
    // makes it likely that the thread is asleep when the trigger comes.
    EXPECT_EQ(started.wait_for(kLikelyBlocked), std::future_status::timeout) << "appeared not to block";
    trigger();
    EXPECT_EQ(finish(started, rescue), "returned");
}

// The same for a queue that has shutdown(), which wakes every blocked thread.
template <class Q>
void expect_blocks_until(Q& queue, std::function<void()> blocking, const std::function<void()>& trigger) {
    expect_blocks_until(std::move(blocking), trigger, [&queue] { queue.shutdown(true); });
}

template <class Duration>
void expect_took_at_least(std::chrono::steady_clock::time_point start, Duration least) {
    EXPECT_GE(std::chrono::steady_clock::now() - start, least);
}

// --- the three bounded kinds, tested alike ----------------------------------

template <class Q>
class BoundedQueue : public ::testing::Test {};

using BoundedKinds = ::testing::Types<Queue<int>, LifoQueue<int>, PriorityQueue<int>>;

struct KindName {
    template <class Q>
    static std::string GetName(int) {
        if constexpr (std::is_same_v<Q, Queue<int>>) return "Queue";
        if constexpr (std::is_same_v<Q, LifoQueue<int>>) return "LifoQueue";
        return "PriorityQueue";
    }
};

TYPED_TEST_SUITE(BoundedQueue, BoundedKinds, KindName);

// The order in which a kind returns 111, 333, 222 (CPython's target_order).
template <class Q>
std::vector<int> expected_order() {
    if constexpr (std::is_same_v<Q, Queue<int>>) return {111, 333, 222};
    if constexpr (std::is_same_v<Q, LifoQueue<int>>) return {222, 333, 111};
    return {111, 222, 333};
}

// CPython basic_queue_test: order, empty/full, Full and Empty without blocking
// and after a timeout, a blocked put released by a get and a blocked get
// released by a put (with and without a timeout). Run twice on one queue, as
// CPython does, to show that a queue is reusable.
TYPED_TEST(BoundedQueue, BasicQueueTest) {
    TypeParam q(kQueueSize);
    for (int round = 0; round < 2; ++round) {
        ASSERT_EQ(q.qsize(), 0u);
        EXPECT_TRUE(q.empty());
        EXPECT_FALSE(q.full());
        q.put(111);
        q.put(333);
        q.put(222);
        const std::vector<int> order{q.get(), q.get(), q.get()};
        EXPECT_EQ(order, expected_order<TypeParam>());

        for (int i = 0; i < kQueueSize - 1; ++i) {
            q.put(i);
            EXPECT_GT(q.qsize(), 0u);
        }
        EXPECT_FALSE(q.full());
        q.put(2 * kQueueSize);
        EXPECT_TRUE(q.full());
        EXPECT_FALSE(q.empty());
        EXPECT_EQ(q.qsize(), static_cast<std::size_t>(kQueueSize));
        const int full = 3 * 2 * kQueueSize;
        EXPECT_THROW(q.put(full, false), tandem::Full);
        EXPECT_THROW(q.put(full, 10ms), tandem::Full);

        expect_blocks_until(q, [&] { q.put(full); }, [&] { q.get(); });
        expect_blocks_until(q, [&] { q.put(full, kPatience); }, [&] { q.get(); });

        for (int i = 0; i < kQueueSize; ++i) q.get();
        EXPECT_EQ(q.qsize(), 0u);
        EXPECT_THROW(q.get(false), tandem::Empty);
        EXPECT_THROW(q.get(10ms), tandem::Empty);

        expect_blocks_until(q, [&] { EXPECT_EQ(q.get(), 7); }, [&] { q.put(7); });
        expect_blocks_until(q, [&] { EXPECT_EQ(q.get(kPatience), 8); }, [&] { q.put(8); });
    }
}

// queue: put_nowait() fills the queue to maxsize and then raises Full;
// get_nowait() empties it and then raises Empty (CPython test_nowait).
TYPED_TEST(BoundedQueue, Nowait) {
    TypeParam q(kQueueSize);
    for (int i = 0; i < kQueueSize; ++i) q.put_nowait(1);
    EXPECT_THROW(q.put_nowait(1), tandem::Full);
    EXPECT_EQ(q.qsize(), static_cast<std::size_t>(kQueueSize));
    for (int i = 0; i < kQueueSize; ++i) EXPECT_EQ(q.get_nowait(), 1);
    EXPECT_THROW(q.get_nowait(), tandem::Empty);
}

// queue: a negative timeout raises ValueError("'timeout' must be a non-negative
// number") (CPython test_negative_timeout_raises_exception); so does NaN.
TYPED_TEST(BoundedQueue, NegativeTimeoutRaisesValueError) {
    TypeParam q(kQueueSize);
    try {
        q.put(1, -1s);
        ADD_FAILURE() << "put with a negative timeout did not throw";
    } catch (const tandem::ValueError& error) {
        EXPECT_STREQ(error.what(), "'timeout' must be a non-negative number");
    }
    EXPECT_THROW(q.get(-1ms), tandem::ValueError);
    EXPECT_THROW(q.join(-1ms), tandem::ValueError);
    EXPECT_THROW(q.get(std::chrono::duration<double>(NAN)), tandem::ValueError);
    EXPECT_EQ(q.qsize(), 0u);
}

// queue: a timed get on an empty queue, a timed put on a full one and a timed
// join with an unfinished task each wait out their timeout before failing.
TYPED_TEST(BoundedQueue, TimeoutsWaitAtLeastTheTimeout) {
    TypeParam q(1);
    auto start = std::chrono::steady_clock::now();
    EXPECT_THROW(q.get(kShortTimeout), tandem::Empty);
    expect_took_at_least(start, kShortTimeout);

    q.put(1);
    start = std::chrono::steady_clock::now();
    EXPECT_THROW(q.put(2, kShortTimeout), tandem::Full);
    expect_took_at_least(start, kShortTimeout);

    start = std::chrono::steady_clock::now();
    EXPECT_FALSE(q.join(kShortTimeout));
    expect_took_at_least(start, kShortTimeout);
    // A zero timeout does not wait at all but still reports correctly.
    EXPECT_THROW(q.put(2, 0s), tandem::Full);
    EXPECT_EQ(q.get(0s), 1);
    EXPECT_THROW(q.get(0s), tandem::Empty);
}

// queue: a timeout too long to represent as a deadline means "wait forever"
// and still wakes up for an item.
TYPED_TEST(BoundedQueue, HugeTimeoutWaitsForItem) {
    TypeParam q(1);
    expect_blocks_until(q, [&] { EXPECT_EQ(q.get(std::chrono::hours::max()), 5); }, [&] { q.put(5); });
    q.put(6);
    expect_blocks_until(q, [&] { q.put(7, std::chrono::duration<double>(1e300)); }, [&] { EXPECT_EQ(q.get(), 6); });
    EXPECT_EQ(q.get(), 7);
}

// queue: maxsize <= 0 means unbounded: put never blocks and full() is false.
TYPED_TEST(BoundedQueue, NonPositiveMaxsizeIsUnbounded) {
    for (const std::ptrdiff_t maxsize : {0, -1}) {
        TypeParam q(maxsize);
        EXPECT_EQ(q.maxsize(), maxsize);
        for (int i = 0; i < 1000; ++i) q.put(i, false);
        EXPECT_FALSE(q.full());
        EXPECT_EQ(q.qsize(), 1000u);
    }
    EXPECT_EQ(TypeParam().maxsize(), 0);
    EXPECT_EQ(TypeParam(3).maxsize(), 3);
}

// queue: task_done() with no outstanding item raises ValueError("task_done()
// called too many times") (CPython test_queue_task_done).
TYPED_TEST(BoundedQueue, TaskDoneTooManyTimes) {
    TypeParam q;
    try {
        q.task_done();
        ADD_FAILURE() << "task_done() on a fresh queue did not throw";
    } catch (const tandem::ValueError& error) {
        EXPECT_STREQ(error.what(), "task_done() called too many times");
    }
    q.put(1);
    q.get();
    q.task_done();
    EXPECT_THROW(q.task_done(), tandem::ValueError);
    EXPECT_TRUE(q.join(0s));
}

// queue: join() blocks until every item has been marked done by the worker
// threads, and can be called twice (CPython queue_join_test / test_queue_join).
TYPED_TEST(BoundedQueue, JoinWaitsForAllTasks) {
    TypeParam q;
    for (int round = 0; round < 2; ++round) {
        std::atomic<int> sum{0};
        std::vector<std::thread> workers;
        for (int i = 0; i < 2; ++i) {
            workers.emplace_back([&] {
                for (;;) {
                    const int x = q.get(kPatience);
                    if (x >= 0) sum += x;
                    q.task_done();
                    if (x < 0) return;
                }
            });
        }
        for (int i = 0; i < 100; ++i) q.put(i);
        EXPECT_TRUE(q.join(kPatience));
        EXPECT_EQ(sum.load(), 99 * 100 / 2) << "join() did not block until all tasks were done";
        for (int i = 0; i < 2; ++i) q.put(-1);  // tell the workers to stop
        EXPECT_TRUE(q.join(kPatience));
        for (auto& worker : workers) worker.join();
    }
    EXPECT_THROW(q.task_done(), tandem::ValueError);
}

// queue: a thread blocked in join() wakes when the last task_done() comes.
TYPED_TEST(BoundedQueue, BlockedJoinReleasedByTaskDone) {
    TypeParam q;
    q.put(1);
    q.put(2);
    q.get();
    q.get();
    q.task_done();
    expect_blocks_until(q, [&] { EXPECT_TRUE(q.join(kPatience)); }, [&] { q.task_done(); });
    EXPECT_TRUE(q.join(0s));
}

// --- shutdown (Python 3.13) --------------------------------------------------

// queue: after shutdown() of an empty queue, put, put_nowait, get and
// get_nowait all raise ShutDown, not Full or Empty (CPython test_shutdown_empty).
TYPED_TEST(BoundedQueue, ShutdownEmpty) {
    TypeParam q(1);
    q.shutdown();
    EXPECT_THROW(q.put(1), tandem::ShutDown);
    EXPECT_THROW(q.put_nowait(1), tandem::ShutDown);
    EXPECT_THROW(q.put(1, 0s), tandem::ShutDown);
    EXPECT_THROW(q.get(), tandem::ShutDown);
    EXPECT_THROW(q.get_nowait(), tandem::ShutDown);
    EXPECT_THROW(q.get(kShortTimeout), tandem::ShutDown);
    EXPECT_TRUE(q.join(0s));
}

// queue: a non-immediate shutdown lets consumers drain what is queued, then get
// raises ShutDown; put raises at once even on a full queue; join still waits
// for task_done (CPython test_shutdown_nonempty, test_shutdown_get_task_done_join).
TYPED_TEST(BoundedQueue, ShutdownDrains) {
    TypeParam q(2);
    q.put(1);
    q.put(2);
    q.shutdown();
    EXPECT_THROW(q.put_nowait(3), tandem::ShutDown);
    EXPECT_EQ(q.qsize(), 2u);
    const int first = q.get();
    const int second = q.get_nowait();
    EXPECT_EQ(first + second, 3);
    EXPECT_THROW(q.get(), tandem::ShutDown);
    EXPECT_FALSE(q.join(0s));
    q.task_done();
    expect_blocks_until(q, [&] { EXPECT_TRUE(q.join(kPatience)); }, [&] { q.task_done(); });
}

// queue: shutdown(immediate=True) discards the queued items, so get raises
// ShutDown at once; the discarded items count as done, but items already taken
// still need task_done() before join() returns (CPython test_shutdown_immediate,
// test_shutdown_immediate_put_join).
TYPED_TEST(BoundedQueue, ShutdownImmediate) {
    TypeParam q;
    q.put(1);
    q.put(2);
    q.put(3);
    q.get();  // taken, not yet done
    q.shutdown(true);
    EXPECT_EQ(q.qsize(), 0u);
    EXPECT_TRUE(q.empty());
    EXPECT_THROW(q.get_nowait(), tandem::ShutDown);
    EXPECT_THROW(q.put(4), tandem::ShutDown);
    EXPECT_FALSE(q.join(0s));
    q.task_done();
    EXPECT_TRUE(q.join(0s));
    EXPECT_THROW(q.task_done(), tandem::ValueError);
}

// queue: threads blocked in join() are released by shutdown(immediate=True)
// once no taken item is outstanding.
TYPED_TEST(BoundedQueue, ShutdownImmediateReleasesJoin) {
    TypeParam q;
    q.put(1);
    q.put(2);
    auto first = start([&] { EXPECT_TRUE(q.join(kPatience)); });
    auto second = start([&] { EXPECT_TRUE(q.join(kPatience)); });
    EXPECT_EQ(first.wait_for(kLikelyBlocked), std::future_status::timeout);
    q.shutdown(true);
    EXPECT_EQ(finish(first, [] {}), "returned");
    EXPECT_EQ(finish(second, [] {}), "returned");
}

// queue: shutdown() wakes every thread blocked in get() on an empty queue with
// ShutDown, immediate or not (CPython test_shutdown_pending_get).
TYPED_TEST(BoundedQueue, ShutdownWakesBlockedGetters) {
    for (const bool immediate : {false, true}) {
        TypeParam q;
        std::vector<std::future<std::string>> getters;
        for (int i = 0; i < 3; ++i) getters.push_back(start([&] { q.get(kPatience); }));
        EXPECT_EQ(getters[0].wait_for(kLikelyBlocked), std::future_status::timeout);
        const auto start_time = std::chrono::steady_clock::now();
        q.shutdown(immediate);
        for (auto& getter : getters) EXPECT_EQ(finish(getter, [] {}), "ShutDown") << "immediate=" << immediate;
        // At their deadline they would raise ShutDown too: the time shows they were woken.
        EXPECT_LT(std::chrono::steady_clock::now() - start_time, kPatience / 2);
    }
}

// queue: shutdown() wakes every thread blocked in put() on a full queue with
// ShutDown; a non-immediate shutdown keeps the queued item for getters
// (CPython test_shutdown_put_join and the all-methods tests).
TYPED_TEST(BoundedQueue, ShutdownWakesBlockedPutters) {
    for (const bool immediate : {false, true}) {
        TypeParam q(1);
        q.put(42);
        std::vector<std::future<std::string>> putters;
        for (int i = 0; i < 3; ++i) putters.push_back(start([&q, i] { q.put(i, kPatience); }));
        EXPECT_EQ(putters[0].wait_for(kLikelyBlocked), std::future_status::timeout);
        const auto start_time = std::chrono::steady_clock::now();
        q.shutdown(immediate);
        for (auto& putter : putters) EXPECT_EQ(finish(putter, [] {}), "ShutDown") << "immediate=" << immediate;
        EXPECT_LT(std::chrono::steady_clock::now() - start_time, kPatience / 2);
        if (immediate) {
            EXPECT_THROW(q.get_nowait(), tandem::ShutDown);
        } else {
            EXPECT_EQ(q.get_nowait(), 42);
            EXPECT_THROW(q.get_nowait(), tandem::ShutDown);
        }
    }
}

// queue: shutdown() may be called again; an immediate shutdown after a plain
// one discards what was left to drain (CPython test_shutdown_allowed_transitions).
TYPED_TEST(BoundedQueue, ShutdownTransitions) {
    TypeParam q;
    q.put(1);
    q.put(2);
    q.shutdown();
    q.shutdown();
    EXPECT_EQ(q.qsize(), 2u);
    q.shutdown(true);
    EXPECT_EQ(q.qsize(), 0u);
    EXPECT_TRUE(q.join(0s));
    q.shutdown();
    q.shutdown(true);
    EXPECT_THROW(q.get_nowait(), tandem::ShutDown);
}

// --- many producers and consumers --------------------------------------------

// How one thread calls put or get: blocking, with short timeouts retried, or
// without blocking retried. Mixing them exercises the wake-up hand-offs
// between sleeping, timing-out and never-sleeping threads.
enum class Style { blocking, short_timeouts, nowait };

Style style_of(int thread) { return static_cast<Style>(thread % 3); }

template <class Q>
void put_in_style(Q& q, int item, Style style) {
    for (;;) {
        try {
            switch (style) {
                case Style::blocking: q.put(item, kPatience); return;
                case Style::short_timeouts: q.put(item, 1ms); return;
                case Style::nowait: q.put_nowait(item); return;
            }
        } catch (const tandem::Full&) {
            if (style == Style::blocking) throw;
            std::this_thread::yield();
        }
    }
}

template <class Q>
int get_in_style(Q& q, Style style) {
    for (;;) {
        try {
            switch (style) {
                case Style::blocking: return q.get(kPatience);
                case Style::short_timeouts: return q.get(1ms);
                case Style::nowait: return q.get_nowait();
            }
        } catch (const tandem::Empty&) {
            if (style == Style::blocking) throw;
            std::this_thread::yield();
        }
    }
}

// queue: many producers and many consumers on one bounded queue; every item
// arrives exactly once, consumers stop on ShutDown after draining, and join()
// returns once all are done. For FIFO, each consumer sees each producer's items
// in the order they were put.
template <class Q>
void many_producers_many_consumers(int per_producer) {
    constexpr int producers = 4;
    constexpr int consumers = 4;
    Q q(64);
    std::vector<std::vector<int>> received(consumers);
    std::vector<std::string> consumer_errors(consumers);
    std::vector<std::thread> threads;
    for (int c = 0; c < consumers; ++c) {
        threads.emplace_back([&, c] {
            try {
                for (;;) {
                    received[c].push_back(get_in_style(q, style_of(c)));
                    q.task_done();
                }
            } catch (const tandem::ShutDown&) {
                // drained
            } catch (const std::exception& error) {
                consumer_errors[c] = error.what();
            }
        });
    }
    std::vector<std::thread> producer_threads;
    for (int p = 0; p < producers; ++p) {
        producer_threads.emplace_back([&, p] {
            for (int i = 0; i < per_producer; ++i) put_in_style(q, p * per_producer + i, style_of(p));
        });
    }
    for (auto& producer : producer_threads) producer.join();
    EXPECT_TRUE(q.join(4 * kPatience));
    q.shutdown();
    for (auto& consumer : threads) consumer.join();

    const int total = producers * per_producer;
    std::vector<int> seen(static_cast<std::size_t>(total), 0);
    std::uint64_t checksum = 0;
    for (int c = 0; c < consumers; ++c) {
        EXPECT_EQ(consumer_errors[c], "") << "consumer " << c;
        std::vector<int> last_from(producers, -1);
        for (const int item : received[c]) {
            ASSERT_GE(item, 0);
            ASSERT_LT(item, total);
            ++seen[static_cast<std::size_t>(item)];
            checksum += static_cast<std::uint64_t>(item);
            if constexpr (std::is_same_v<Q, Queue<int>>) {
                const int producer = item / per_producer;
                EXPECT_GT(item, last_from[producer]) << "FIFO order broken for producer " << producer;
                last_from[producer] = item;
            }
        }
    }
    EXPECT_EQ(std::count(seen.begin(), seen.end(), 1), total) << "an item was lost or received twice";
    EXPECT_EQ(checksum, static_cast<std::uint64_t>(total) * static_cast<std::uint64_t>(total - 1) / 2);
    EXPECT_TRUE(q.empty());
}

TYPED_TEST(BoundedQueue, ManyProducersManyConsumers) {
    many_producers_many_consumers<TypeParam>(std::is_same_v<TypeParam, Queue<int>> ? 10'000 : 2'500);
}

// queue: threads blocked in put and get at the moment of an immediate
// shutdown, amid traffic, all end with ShutDown and nothing hangs
// (CPython test_shutdown_immediate_all_methods_in_many_threads).
TYPED_TEST(BoundedQueue, ImmediateShutdownAmidTraffic) {
    TypeParam q(4);
    std::atomic<int> transferred{0};
    std::atomic<int> shut_down{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 6; ++t) {
        threads.emplace_back([&, t] {
            try {
                for (int i = 0;; ++i) {
                    if (t % 2 == 0) {
                        q.put(i, kPatience);
                    } else {
                        q.get(kPatience);
                        ++transferred;
                    }
                }
            } catch (const tandem::ShutDown&) {
                ++shut_down;
            }
        });
    }
    // Shut down mid-stream; the outcome must not depend on how much has flowed.
    const auto give_up = std::chrono::steady_clock::now() + kPatience;
    while (transferred < 100 && std::chrono::steady_clock::now() < give_up) std::this_thread::yield();
    q.shutdown(true);
    for (auto& thread : threads) thread.join();
    EXPECT_EQ(shut_down.load(), 6);
    EXPECT_TRUE(q.empty());
}

// --- ordering --------------------------------------------------------------

// queue: LifoQueue returns the most recent item first, PriorityQueue the
// lowest, over many items with duplicates (heapq order).
TEST(Ordering, LifoAndPriorityOverManyItems) {
    std::vector<int> items(500);
    for (std::size_t i = 0; i < items.size(); ++i) items[i] = static_cast<int>(i % 97);
    std::shuffle(items.begin(), items.end(), std::mt19937(1234));

    LifoQueue<int> lifo;
    PriorityQueue<int> priority;
    for (const int item : items) {
        lifo.put(item);
        priority.put(item);
    }
    std::vector<int> from_lifo;
    std::vector<int> from_priority;
    while (!lifo.empty()) from_lifo.push_back(lifo.get());
    while (!priority.empty()) from_priority.push_back(priority.get());
    EXPECT_EQ(from_lifo, std::vector<int>(items.rbegin(), items.rend()));
    std::sort(items.begin(), items.end());
    EXPECT_EQ(from_priority, items);
}

// queue: PriorityQueue with (priority, data) pairs, as the Python docs suggest,
// orders by priority and then by data.
TEST(Ordering, PriorityOfPairs) {
    PriorityQueue<std::pair<int, std::string>> q;
    q.put(std::pair{2, std::string("code")});
    q.put(std::pair{1, std::string("eat")});
    q.put(std::pair{3, std::string("sleep")});
    q.put(std::pair{1, std::string("drink")});
    EXPECT_EQ(q.get().second, "drink");
    EXPECT_EQ(q.get().second, "eat");
    EXPECT_EQ(q.get().second, "code");
    EXPECT_EQ(q.get().second, "sleep");
}

// queue: PriorityQueue with a custom comparator: std::greater gives the largest
// first, and a stateful comparator is honoured.
TEST(Ordering, PriorityCustomComparator) {
    PriorityQueue<int, std::greater<int>> largest_first;
    for (const int x : {5, 1, 9, 3, 7}) largest_first.put(x);
    std::vector<int> order;
    while (!largest_first.empty()) order.push_back(largest_first.get());
    EXPECT_EQ(order, (std::vector<int>{9, 7, 5, 3, 1}));

    const int pivot = 10;
    auto nearest = [pivot](int a, int b) { return std::abs(a - pivot) < std::abs(b - pivot); };
    PriorityQueue<int, decltype(nearest)> closest_first(0, nearest);
    for (const int x : {0, 25, 11, 6, 13}) closest_first.put(x);
    order.clear();
    while (!closest_first.empty()) order.push_back(closest_first.get());
    EXPECT_EQ(order, (std::vector<int>{11, 13, 6, 0, 25}));
}

// --- values, move-only items ------------------------------------------------

// queue: put copies an lvalue and converts an argument (a string literal into
// std::string); a put that fails leaves even a moved argument untouched.
TEST(Values, PutCopiesConvertsAndKeepsArgumentOnFailure) {
    Queue<std::string> q(1);
    std::string word = "kept";
    q.put(word);
    EXPECT_EQ(word, "kept");
    EXPECT_THROW(q.put_nowait(std::move(word)), tandem::Full);
    EXPECT_EQ(word, "kept");  // NOLINT(bugprone-use-after-move): the failed put did not take it
    EXPECT_EQ(q.get(), "kept");
    q.put("literal");
    EXPECT_EQ(q.get(), "literal");
    q.shutdown();
    EXPECT_THROW(q.put(std::move(word)), tandem::ShutDown);
    EXPECT_EQ(word, "kept");  // NOLINT(bugprone-use-after-move)
}

struct DerefLess {
    bool operator()(const std::unique_ptr<int>& a, const std::unique_ptr<int>& b) const { return *a < *b; }
};

template <class Q>
std::vector<int> drain_pointers(Q& q) {
    std::vector<int> values;
    while (!q.empty()) {
        std::unique_ptr<int> item = q.get();
        values.push_back(*item);
    }
    return values;
}

// queue: move-only items (std::unique_ptr) go through every kind of queue, and
// a put_nowait that raises Full leaves the caller's pointer in place.
TEST(Values, MoveOnlyItemsInEveryKind) {
    Queue<std::unique_ptr<int>> fifo(3);
    LifoQueue<std::unique_ptr<int>> lifo(3);
    PriorityQueue<std::unique_ptr<int>, DerefLess> priority(3);
    SimpleQueue<std::unique_ptr<int>> simple;
    for (const int x : {2, 3, 1}) {
        fifo.put(std::make_unique<int>(x));
        lifo.put(std::make_unique<int>(x), kPatience);
        priority.put_nowait(std::make_unique<int>(x));
        simple.put(std::make_unique<int>(x));
    }
    auto spare = std::make_unique<int>(4);
    EXPECT_THROW(fifo.put_nowait(std::move(spare)), tandem::Full);
    EXPECT_THROW(priority.put(std::move(spare), 0s), tandem::Full);
    ASSERT_NE(spare, nullptr);  // NOLINT(bugprone-use-after-move)
    EXPECT_EQ(*spare, 4);

    EXPECT_EQ(drain_pointers(fifo), (std::vector<int>{2, 3, 1}));
    EXPECT_EQ(drain_pointers(lifo), (std::vector<int>{1, 3, 2}));
    EXPECT_EQ(drain_pointers(priority), (std::vector<int>{1, 2, 3}));
    EXPECT_EQ(drain_pointers(simple), (std::vector<int>{2, 3, 1}));
}

// --- failing items and comparators (CPython FailingQueueTest) ----------------

// A countdown shared with worker threads: -1 never fails; n >= 0 lets n more
// calls succeed and fails the one after, once.
bool fails_now(std::atomic<int>& countdown) {
    int left = countdown.load();
    while (left >= 0 && !countdown.compare_exchange_weak(left, left - 1)) {
    }
    return left == 0;
}

std::atomic<int> moves_before_failure{-1};

struct FragileError : std::runtime_error {
    FragileError() : std::runtime_error("FragileError") {}
};

// A move-only item whose move constructor throws on demand, before touching
// its source, as CPython's FailingQueue fails in _put and _get.
struct Fragile {
    int value;
    explicit Fragile(int v) : value(v) {}
    Fragile(Fragile&& other) : value(other.value) {  // NOLINT(performance-noexcept-move-constructor): throws by design
        if (fails_now(moves_before_failure)) throw FragileError();
    }
    Fragile& operator=(Fragile&&) = delete;
    friend bool operator<(const Fragile& a, const Fragile& b) { return a.value < b.value; }
};

template <class Q>
class FailingItems : public ::testing::Test {
protected:
    void SetUp() override { moves_before_failure = -1; }
    void TearDown() override { moves_before_failure = -1; }
};

using FailingKinds = ::testing::Types<Queue<Fragile>, LifoQueue<Fragile>, PriorityQueue<Fragile>>;

struct FailingKindName {
    template <class Q>
    static std::string GetName(int) {
        if constexpr (std::is_same_v<Q, Queue<Fragile>>) return "Queue";
        if constexpr (std::is_same_v<Q, LifoQueue<Fragile>>) return "LifoQueue";
        return "PriorityQueue";
    }
};

TYPED_TEST_SUITE(FailingItems, FailingKinds, FailingKindName);

// queue: an exception while storing or handing out an item propagates to the
// caller and leaves the queue intact: the failed put adds nothing, the failed
// get removes nothing, order and task count are kept (CPython failing_queue_test).
TYPED_TEST(FailingItems, FailedPutAndGetLeaveQueueIntact) {
    const std::vector<int> order = std::is_same_v<TypeParam, LifoQueue<Fragile>> ? std::vector<int>{4, 3, 2, 1}
                                                                                  : std::vector<int>{1, 2, 3, 4};
    for (const bool nowait : {false, true}) {
        TypeParam q(kQueueSize);
        for (int i = 1; i < kQueueSize; ++i) q.put(Fragile(i));
        moves_before_failure = 0;
        EXPECT_THROW(nowait ? q.put_nowait(Fragile(0)) : q.put(Fragile(0), kShortTimeout), FragileError);
        EXPECT_EQ(q.qsize(), static_cast<std::size_t>(kQueueSize - 1));
        EXPECT_FALSE(q.full());

        moves_before_failure = 0;
        EXPECT_THROW(nowait ? q.get_nowait() : q.get(), FragileError);
        EXPECT_EQ(q.qsize(), static_cast<std::size_t>(kQueueSize - 1));

        std::vector<int> out;
        while (!q.empty()) out.push_back(q.get().value);
        EXPECT_EQ(out, order);
        // Only the 4 successful puts count as tasks.
        for (int i = 1; i < kQueueSize; ++i) q.task_done();
        EXPECT_THROW(q.task_done(), tandem::ValueError);
    }
}

// queue: of two putters blocked on a full queue, the one woken by a get may
// fail to store its item; it hands the wake-up on, so the other still gets the
// free slot instead of sleeping until its timeout.
TYPED_TEST(FailingItems, FailedPutterPassesOnWakeUp) {
    TypeParam q(1);
    q.put(Fragile(1));
    auto first = start([&] { q.put(Fragile(2), kPatience); });
    auto second = start([&] { q.put(Fragile(3), kPatience); });
    EXPECT_EQ(first.wait_for(kLikelyBlocked), std::future_status::timeout);
    moves_before_failure = 1;  // the get's move succeeds, the first putter's fails
    const auto start_time = std::chrono::steady_clock::now();
    EXPECT_EQ(q.get().value, 1);
    const auto rescue = [&] { q.shutdown(true); };
    std::vector<std::string> outcomes{finish(first, rescue), finish(second, rescue)};
    std::sort(outcomes.begin(), outcomes.end());
    EXPECT_EQ(outcomes, (std::vector<std::string>{"FragileError", "returned"}));
    // Woken at its deadline, the other putter would still find the slot:
    // only the time shows whether the wake-up was handed on.
    EXPECT_LT(std::chrono::steady_clock::now() - start_time, kPatience / 2);
    EXPECT_EQ(q.qsize(), 1u);
}

// queue: of two getters blocked on an empty queue, the one woken by a put may
// fail to take the item; it hands the wake-up on, so the other one gets it.
TYPED_TEST(FailingItems, FailedGetterPassesOnWakeUp) {
    TypeParam q;
    std::atomic<int> got{0};
    auto first = start([&] { got += q.get(kPatience).value; });
    auto second = start([&] { got += q.get(kPatience).value; });
    EXPECT_EQ(first.wait_for(kLikelyBlocked), std::future_status::timeout);
    moves_before_failure = 1;  // the put's move succeeds, the first getter's fails
    const auto start_time = std::chrono::steady_clock::now();
    q.put(Fragile(7));
    const auto rescue = [&] { q.shutdown(true); };
    std::vector<std::string> outcomes{finish(first, rescue), finish(second, rescue)};
    std::sort(outcomes.begin(), outcomes.end());
    EXPECT_EQ(outcomes, (std::vector<std::string>{"FragileError", "returned"}));
    EXPECT_LT(std::chrono::steady_clock::now() - start_time, kPatience / 2);
    EXPECT_EQ(got.load(), 7);
    EXPECT_TRUE(q.empty());
}

std::atomic<int> comparisons_before_failure{-1};

struct ComparatorError : std::runtime_error {
    ComparatorError() : std::runtime_error("ComparatorError") {}
};

struct FailingLess {
    bool operator()(int a, int b) const {
        if (fails_now(comparisons_before_failure)) throw ComparatorError();
        return a < b;
    }
};

// queue: a PriorityQueue whose comparator throws part-way through sifting an
// item up (put) or down (get) is left exactly as it was: later gets still
// return every item, lowest first.
TEST(FailingComparator, HeapIntactAfterThrowAtAnyStep) {
    std::vector<int> items(31);
    for (std::size_t i = 0; i < items.size(); ++i) items[i] = static_cast<int>(i) + 1;
    std::shuffle(items.begin(), items.end(), std::mt19937(99));
    int failed_puts = 0;
    int failed_gets = 0;
    for (int step = 0; step < 16; ++step) {
        PriorityQueue<int, FailingLess> q;
        comparisons_before_failure = -1;
        for (const int item : items) q.put(item);
        std::vector<int> expected = items;

        comparisons_before_failure = step;
        try {
            q.put(0);
            expected.push_back(0);
        } catch (const ComparatorError&) {
            ++failed_puts;
        }
        comparisons_before_failure = step;
        std::vector<int> out;
        try {
            out.push_back(q.get());
        } catch (const ComparatorError&) {
            ++failed_gets;
        }
        comparisons_before_failure = -1;
        EXPECT_EQ(q.qsize() + out.size(), expected.size()) << "step " << step;
        while (!q.empty()) out.push_back(q.get());
        std::sort(expected.begin(), expected.end());
        EXPECT_EQ(out, expected) << "step " << step;
    }
    // Putting 0 into 31 items climbs 5 levels; taking sinks 4: both throw at
    // some steps and finish at others.
    EXPECT_EQ(failed_puts, 5);
    EXPECT_GT(failed_gets, 4);
    EXPECT_LT(failed_gets, 16);
}

// --- SimpleQueue ------------------------------------------------------------

// queue: SimpleQueue is FIFO, with empty() and qsize() (CPython
// BaseSimpleQueueTest.test_basic).
TEST(SimpleQueue, Basic) {
    SimpleQueue<int> q;
    EXPECT_TRUE(q.empty());
    EXPECT_EQ(q.qsize(), 0u);
    q.put(111);
    q.put(333);
    q.put(222);
    EXPECT_FALSE(q.empty());
    EXPECT_EQ(q.qsize(), 3u);
    EXPECT_EQ(q.get(), 111);
    EXPECT_EQ(q.get(true), 333);
    EXPECT_EQ(q.get(kPatience), 222);
    EXPECT_TRUE(q.empty());
    EXPECT_THROW(q.get_nowait(), tandem::Empty);
    EXPECT_THROW(q.get(false), tandem::Empty);
}

// queue: SimpleQueue.put never blocks; its block and timeout arguments are
// ignored, even a negative timeout (CPython's put docstring).
TEST(SimpleQueue, PutIgnoresBlockAndTimeout) {
    SimpleQueue<int> q;
    for (int i = 0; i < 1000; ++i) {
        q.put(i, false);
        q.put(i, -1s);
        q.put_nowait(i);
    }
    EXPECT_EQ(q.qsize(), 3000u);
}

// queue: SimpleQueue.get with a negative timeout raises ValueError (CPython
// test_negative_timeout_raises_exception); a timed get waits out its timeout.
TEST(SimpleQueue, GetTimeouts) {
    SimpleQueue<int> q;
    EXPECT_THROW(q.get(-1ms), tandem::ValueError);
    const auto start_time = std::chrono::steady_clock::now();
    EXPECT_THROW(q.get(kShortTimeout), tandem::Empty);
    expect_took_at_least(start_time, kShortTimeout);
}

// queue: a thread blocked in SimpleQueue.get is released by a put from another
// thread, with or without a timeout.
TEST(SimpleQueue, BlockedGetReleasedByPut) {
    SimpleQueue<int> q;
    const auto rescue = [&] { q.put(-1); };
    expect_blocks_until([&] { EXPECT_EQ(q.get(), 1); }, [&] { q.put(1); }, rescue);
    expect_blocks_until([&] { EXPECT_EQ(q.get(kPatience), 2); }, [&] { q.put(2); }, rescue);
    EXPECT_TRUE(q.empty());
}

// queue: SimpleQueue with feeders and consumers that get blocking, without
// blocking and with tiny timeouts: every item arrives exactly once (CPython
// test_many_threads, test_many_threads_nonblock, test_many_threads_timeout).
TEST(SimpleQueue, ManyThreads) {
    constexpr int feeders = 4;
    constexpr int consumers = 4;
    constexpr int per_feeder = 2'500;
    constexpr int sentinel = -1;
    SimpleQueue<int> q;
    std::vector<std::vector<int>> received(consumers);
    std::vector<std::thread> threads;
    for (int c = 0; c < consumers; ++c) {
        threads.emplace_back([&, c] {
            for (;;) {
                int item = sentinel;
                try {
                    item = get_in_style(q, style_of(c));
                } catch (const tandem::Empty&) {
                    ADD_FAILURE() << "consumer " << c << " waited " << kPatience.count() << "s for an item";
                    return;
                }
                if (item == sentinel) return;
                received[c].push_back(item);
            }
        });
    }
    for (int f = 0; f < feeders; ++f) {
        threads.emplace_back([&, f] {
            for (int i = 0; i < per_feeder; ++i) q.put(f * per_feeder + i);
        });
    }
    for (int f = 0; f < feeders; ++f) threads[static_cast<std::size_t>(consumers + f)].join();
    for (int c = 0; c < consumers; ++c) q.put(sentinel);
    for (int c = 0; c < consumers; ++c) threads[static_cast<std::size_t>(c)].join();

    std::vector<int> all;
    for (const auto& items : received) all.insert(all.end(), items.begin(), items.end());
    std::sort(all.begin(), all.end());
    std::vector<int> expected(feeders * per_feeder);
    for (std::size_t i = 0; i < expected.size(); ++i) expected[i] = static_cast<int>(i);
    EXPECT_EQ(all, expected);
    EXPECT_TRUE(q.empty());
}

}  // namespace
