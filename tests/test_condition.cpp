// Tests for tandem/threading/condition.hpp: Condition over Lock and RLock,
// ported from CPython's Lib/test/lock_tests.py (ConditionTests).
#include "tandem/threading/condition.hpp"

#include <gtest/gtest.h>  // TEST, EXPECT_*

#include <atomic>    // flags shared with helper threads
#include <chrono>    // timeouts and elapsed times
#include <deque>     // the producer/consumer queue
#include <mutex>     // std::lock_guard, std::unique_lock over a Condition
#include <optional>  // a predicate with a non-bool result
#include <string>    // exception messages
#include <thread>    // helper threads
#include <vector>    // groups of threads and results

#include "tandem/errors.hpp"          // RuntimeError
#include "tandem/threading/lock.hpp"  // Lock, RLock

using namespace std::chrono_literals;
using tandem::threading::Condition;
using tandem::threading::Lock;
using tandem::threading::RLock;
using Clock = std::chrono::steady_clock;

namespace {

template <class Body>
std::string runtime_error_of(Body body) {
    try {
        body();
    } catch (const tandem::RuntimeError& error) {
        return error.what();
    }
    return "no RuntimeError";
}

// `waiters` threads wait on one condition; `arrived` (same lock) tells the
// main thread how many are queued and how many were woken. A thread counts as
// waiting only once it is queued, because it holds the lock from the increment
// until wait() has queued it.
struct WaitingRoom {
    Lock lock;
    Condition condition{lock};
    Condition arrived{lock};
    int waiting = 0;
    int woken = 0;
    std::vector<int> wake_order;
    std::vector<bool> results;
    std::vector<std::thread> threads;

    void add_waiter(int id) {
        threads.emplace_back([this, id] {
            std::lock_guard hold(condition);
            ++waiting;
            arrived.notify_all();
            const bool notified = condition.wait(10s);
            ++woken;
            wake_order.push_back(id);
            results.push_back(notified);
            arrived.notify_all();
        });
    }
    // Adds waiters one at a time, each queued before the next starts.
    void add_waiters_in_order(int count) {
        for (int id = 0; id < count; ++id) {
            add_waiter(id);
            std::unique_lock hold(condition);
            EXPECT_TRUE(arrived.wait_for([&] { return waiting == id + 1; }, 10s));
        }
    }
    bool woken_reaches(int count) {
        std::unique_lock hold(condition);
        return arrived.wait_for([&] { return woken >= count; }, 10s);
    }
    int woken_now() {
        std::lock_guard hold(condition);
        return woken;
    }
    void join() {
        for (auto& thread : threads) thread.join();
    }
};

}  // namespace

// threading: wait() without holding the lock raises RuntimeError (test_unacquired_wait).
TEST(Condition, WaitWithoutLockRaises) {
    Condition condition;
    EXPECT_EQ(runtime_error_of([&] { condition.wait(); }), "cannot wait on un-acquired lock");
    EXPECT_EQ(runtime_error_of([&] { condition.wait(1ms); }), "cannot wait on un-acquired lock");
    Lock lock;
    Condition over_lock(lock);
    EXPECT_EQ(runtime_error_of([&] { over_lock.wait(1ms); }), "cannot wait on un-acquired lock");
}

// threading: notify() without holding the lock raises RuntimeError (test_unacquired_notify).
TEST(Condition, NotifyWithoutLockRaises) {
    Condition condition;
    EXPECT_EQ(runtime_error_of([&] { condition.notify(); }), "cannot notify on un-acquired lock");
    EXPECT_EQ(runtime_error_of([&] { condition.notify_all(); }), "cannot notify on un-acquired lock");
    RLock lock;
    Condition over_rlock(lock);
    std::thread([&] { lock.acquire(); }).join();  // held, but by another thread
    EXPECT_EQ(runtime_error_of([&] { over_rlock.notify(); }), "cannot notify on un-acquired lock");
}

// threading: Condition() uses an RLock; acquire/release reach the lock given to it (test_acquire).
TEST(Condition, DelegatesToItsLock) {
    Condition own;
    EXPECT_TRUE(own.acquire());
    EXPECT_TRUE(own.acquire(false));  // reentrant: an RLock
    own.release();
    own.release();
    EXPECT_EQ(runtime_error_of([&] { own.release(); }), "cannot release un-acquired lock");

    Lock lock;
    Condition over_lock(lock);
    EXPECT_TRUE(over_lock.acquire(1s));
    EXPECT_TRUE(lock.locked());
    EXPECT_FALSE(over_lock.acquire(false));  // a Lock is not reentrant
    over_lock.release();
    EXPECT_FALSE(lock.locked());
    EXPECT_THROW(over_lock.acquire(-1s), tandem::ValueError);
}

// threading: wait(timeout) returns False after the timeout, holding the lock again (test_timeout).
TEST(Condition, WaitTimesOutAndReacquires) {
    Condition condition;
    std::lock_guard hold(condition);
    const auto start = Clock::now();
    EXPECT_FALSE(condition.wait(50ms));
    EXPECT_GE(Clock::now() - start, 50ms);
    EXPECT_FALSE(condition.wait(-1s));  // negative: no wait at all, as Python
    condition.notify();                 // would throw if the lock were not held again
}

// threading: notify(n) wakes at most n waiters, notify_all() the rest (test_notify).
TEST(Condition, NotifyWakesAtMostN) {
    WaitingRoom room;
    room.add_waiters_in_order(5);
    {
        std::lock_guard hold(room.condition);
        room.condition.notify(0);
        room.condition.notify(-3);
        room.condition.notify(2);
    }
    ASSERT_TRUE(room.woken_reaches(2));
    std::this_thread::sleep_for(50ms);  // a third, wrongly woken waiter would show up now
    EXPECT_EQ(room.woken_now(), 2);
    {
        std::lock_guard hold(room.condition);
        room.condition.notify_all();
    }
    ASSERT_TRUE(room.woken_reaches(5));
    room.join();
    EXPECT_EQ(room.results, std::vector<bool>(5, true));
}

// threading: notify(n) with n above the number of waiters wakes them all, once (test_notify).
TEST(Condition, NotifyMoreThanWaiting) {
    WaitingRoom room;
    room.add_waiters_in_order(3);
    {
        std::lock_guard hold(room.condition);
        room.condition.notify(10);
    }
    ASSERT_TRUE(room.woken_reaches(3));
    room.join();
    EXPECT_EQ(room.results, std::vector<bool>(3, true));
}

// threading: waiters are woken in the order they started waiting (CPython's deque of waiters).
TEST(Condition, WakesLongestWaitingFirst) {
    WaitingRoom room;
    room.add_waiters_in_order(4);
    for (int count = 1; count <= 4; ++count) {
        {
            std::lock_guard hold(room.condition);
            room.condition.notify();
        }
        ASSERT_TRUE(room.woken_reaches(count));
    }
    room.join();
    EXPECT_EQ(room.wake_order, (std::vector<int>{0, 1, 2, 3}));
}

// threading: a waiter that timed out leaves the queue, so notify() reaches the next one (gh-92530).
TEST(Condition, TimedOutWaiterDoesNotSwallowNotify) {
    Condition condition;
    std::thread([&] {
        std::lock_guard hold(condition);
        EXPECT_FALSE(condition.wait(10ms));
    }).join();
    WaitingRoom room;
    room.add_waiters_in_order(1);
    {
        std::lock_guard hold(room.condition);
        room.condition.notify();
    }
    ASSERT_TRUE(room.woken_reaches(1));
    room.join();
    EXPECT_EQ(room.results, std::vector<bool>{true});
}

// threading: wait_for(predicate) waits until the predicate holds and returns its value (test_waitfor).
TEST(Condition, WaitForPredicate) {
    Condition condition;
    int state = 0;
    std::thread waiter([&] {
        std::unique_lock hold(condition);
        EXPECT_TRUE(condition.wait_for([&] { return state == 4; }, 10s));
        EXPECT_EQ(state, 4);
    });
    for (int i = 0; i < 4; ++i) {
        std::lock_guard hold(condition);
        ++state;
        condition.notify();
    }
    waiter.join();

    std::unique_lock hold(condition);
    EXPECT_TRUE(condition.wait_for([&] { return state == 4; }));  // already true: no wait
}

// threading: wait_for(predicate, timeout) returns the false predicate value after the timeout (test_waitfor_timeout).
TEST(Condition, WaitForTimeout) {
    Condition condition;
    int calls = 0;
    std::unique_lock hold(condition);
    const auto start = Clock::now();
    const bool result = condition.wait_for(
        [&] {
            ++calls;
            return false;
        },
        50ms);
    EXPECT_FALSE(result);
    EXPECT_GE(Clock::now() - start, 50ms);
    EXPECT_GE(calls, 2);  // checked before and after waiting
}

// threading: wait_for() returns the predicate's last value, whatever its type.
TEST(Condition, WaitForReturnsPredicateValue) {
    Condition condition;
    std::optional<int> item;
    std::thread producer([&] {
        std::lock_guard hold(condition);
        item = 42;
        condition.notify_all();
    });
    {
        std::unique_lock hold(condition);
        const std::optional<int> got = condition.wait_for([&] { return item; }, 10s);
        ASSERT_TRUE(got.has_value());
        EXPECT_EQ(*got, 42);
    }
    producer.join();
    std::unique_lock hold(condition);
    EXPECT_EQ(condition.wait_for([] { return 0; }, 1ms), 0);
}

// threading: wait() on an RLock held recursively releases every level and restores them (_release_save).
TEST(Condition, RLockWaitReleasesAllLevels) {
    RLock lock;
    Condition condition(lock);
    lock.acquire();
    lock.acquire();
    condition.acquire();
    std::atomic<bool> other_got_lock{false};
    std::thread other([&] {
        ASSERT_TRUE(lock.acquire(10s));  // possible only while the main thread waits
        other_got_lock = true;
        condition.notify();
        lock.release();
    });
    EXPECT_TRUE(condition.wait(10s));
    other.join();
    EXPECT_TRUE(other_got_lock);
    bool taken_by_other = true;
    std::thread([&] { taken_by_other = lock.acquire(false); }).join();
    EXPECT_FALSE(taken_by_other);  // held again after wait()
    lock.release();
    lock.release();
    lock.release();
    EXPECT_EQ(runtime_error_of([&] { lock.release(); }), "cannot release un-acquired lock");
}

// threading: Condition(Lock) releases the Lock while waiting (test_wait with a Lock).
TEST(Condition, LockReleasedWhileWaiting) {
    Lock lock;
    Condition condition(lock);
    std::unique_lock hold(condition);
    std::thread other([&] {
        ASSERT_TRUE(lock.acquire(10s));
        condition.notify();
        lock.release();
    });
    EXPECT_TRUE(condition.wait(10s));
    EXPECT_TRUE(lock.locked());
    hold.unlock();
    other.join();
    EXPECT_FALSE(lock.locked());
}

// threading: producers and consumers over one Condition lose and duplicate nothing.
TEST(Condition, ProducersAndConsumers) {
    Condition condition;
    std::deque<int> items;
    constexpr int per_producer = 500;
    constexpr int producers = 3;
    int consumed = 0;
    long sum = 0;
    std::vector<std::thread> threads;
    for (int p = 0; p < producers; ++p) {
        threads.emplace_back([&] {
            for (int i = 1; i <= per_producer; ++i) {
                std::lock_guard hold(condition);
                items.push_back(i);
                condition.notify();
            }
        });
    }
    for (int c = 0; c < 3; ++c) {
        threads.emplace_back([&] {
            for (;;) {
                std::unique_lock hold(condition);
                if (!condition.wait_for([&] { return !items.empty() || consumed == producers * per_producer; },
                                        10s)) {
                    ADD_FAILURE() << "consumer starved";
                    return;
                }
                if (items.empty()) return;
                sum += items.front();
                items.pop_front();
                if (++consumed == producers * per_producer) condition.notify_all();
            }
        });
    }
    for (auto& thread : threads) thread.join();
    EXPECT_EQ(consumed, producers * per_producer);
    EXPECT_EQ(sum, producers * (per_producer * (per_producer + 1) / 2));
}
