// Tests for tandem/threading/semaphore.hpp: Semaphore and BoundedSemaphore,
// ported from CPython's Lib/test/lock_tests.py (BaseSemaphoreTests,
// SemaphoreTests, BoundedSemaphoreTests).
#include "tandem/threading/semaphore.hpp"

#include <gtest/gtest.h>  // TEST, EXPECT_*

#include <algorithm>  // std::max
#include <atomic>     // counters shared with helper threads
#include <chrono>     // timeouts and elapsed times
#include <mutex>      // std::lock_guard over a semaphore
#include <string>     // exception messages
#include <thread>     // helper threads
#include <vector>     // groups of threads

#include "support/gate.hpp"   // eventually
#include "tandem/errors.hpp"  // ValueError

using namespace std::chrono_literals;
using tandem::threading::BoundedSemaphore;
using tandem::threading::Semaphore;
using Clock = std::chrono::steady_clock;

namespace {

template <class Body>
std::string value_error_of(Body body) {
    try {
        body();
    } catch (const tandem::ValueError& error) {
        return error.what();
    }
    return "no ValueError";
}

using tandem_test::eventually;

// Takes permits without waiting until none is left; returns how many it took.
int drain(Semaphore& semaphore) {
    int taken = 0;
    while (semaphore.acquire(false)) ++taken;
    return taken;
}

}  // namespace

// threading: a negative initial value raises ValueError (test_constructor).
TEST(Semaphore, NegativeInitialValueRaises) {
    EXPECT_EQ(value_error_of([] { Semaphore s(-1); }), "semaphore initial value must be >= 0");
    EXPECT_EQ(value_error_of([] { BoundedSemaphore s(-1); }), "semaphore initial value must be >= 0");
    Semaphore zero(0);
    EXPECT_FALSE(zero.acquire(false));
}

// threading: release(n) with n < 1 raises ValueError (test_release_n).
TEST(Semaphore, ReleaseRequiresPositiveCount) {
    Semaphore semaphore(0);
    EXPECT_EQ(value_error_of([&] { semaphore.release(0); }), "n must be one or more");
    EXPECT_EQ(value_error_of([&] { semaphore.release(-2); }), "n must be one or more");
    EXPECT_EQ(drain(semaphore), 0);
}

// threading: the semaphore counts permits; release(n) adds n (test_acquire, test_release_n).
TEST(Semaphore, Counting) {
    Semaphore one;
    EXPECT_EQ(drain(one), 1);

    Semaphore semaphore(3);
    EXPECT_EQ(drain(semaphore), 3);
    semaphore.release();
    EXPECT_EQ(drain(semaphore), 1);
    semaphore.release(3);
    EXPECT_TRUE(semaphore.acquire());
    EXPECT_TRUE(semaphore.acquire(1s));
    EXPECT_EQ(drain(semaphore), 1);
    semaphore.release(5);  // an unbounded semaphore may exceed its initial value
    EXPECT_EQ(drain(semaphore), 5);
}

// threading: acquire(timeout) gives up after the timeout; a negative one does not wait (test_acquire_timeout).
TEST(Semaphore, AcquireTimeout) {
    Semaphore semaphore(0);
    const auto start = Clock::now();
    EXPECT_FALSE(semaphore.acquire(50ms));
    EXPECT_GE(Clock::now() - start, 50ms);
    EXPECT_FALSE(semaphore.acquire(0s));
    EXPECT_FALSE(semaphore.acquire(-1s));  // Python: no ValueError for semaphores
    semaphore.release();
    EXPECT_TRUE(semaphore.acquire(0s));
}

// threading: release(n) lets exactly n blocked acquirers through (test_acquire_contended, test_multirelease).
TEST(Semaphore, ReleaseWakesThatManyWaiters) {
    Semaphore semaphore(0);
    std::atomic<int> started{0};
    std::atomic<int> acquired{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < 5; ++i) {
        threads.emplace_back([&] {
            ++started;
            if (semaphore.acquire(10s)) ++acquired;
        });
    }
    ASSERT_TRUE(eventually([&] { return started == 5; }));
    semaphore.release(2);
    ASSERT_TRUE(eventually([&] { return acquired == 2; }));
    std::this_thread::sleep_for(50ms);  // a third acquirer let through wrongly would show up now
    EXPECT_EQ(acquired, 2);
    semaphore.release(3);
    for (auto& thread : threads) thread.join();
    EXPECT_EQ(acquired, 5);
    EXPECT_EQ(drain(semaphore), 0);
}

// threading: at most `value` threads hold the semaphore at once (test_acquire_contended).
TEST(Semaphore, LimitsConcurrency) {
    Semaphore semaphore(3);
    std::atomic<int> inside{0};
    std::atomic<int> most{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
        threads.emplace_back([&] {
            for (int i = 0; i < 300; ++i) {
                std::lock_guard permit(semaphore);
                const int now = ++inside;
                int seen = most.load();
                while (now > seen && !most.compare_exchange_weak(seen, now)) {
                }
                --inside;
            }
        });
    }
    for (auto& thread : threads) thread.join();
    EXPECT_LE(most, 3);
    EXPECT_GE(most, 1);
    EXPECT_EQ(drain(semaphore), 3);
}

// threading: BoundedSemaphore.release() beyond the initial value raises ValueError (test_release_unacquired).
TEST(BoundedSemaphore, ReleaseTooManyRaises) {
    BoundedSemaphore semaphore(2);
    EXPECT_EQ(value_error_of([&] { semaphore.release(); }), "Semaphore released too many times");
    EXPECT_TRUE(semaphore.acquire());
    semaphore.release();
    EXPECT_EQ(value_error_of([&] { semaphore.release(); }), "Semaphore released too many times");
}

// threading: a release(n) that would overflow the bound changes nothing (BoundedSemaphore.release).
TEST(BoundedSemaphore, FailedMultiReleaseChangesNothing) {
    BoundedSemaphore semaphore(3);
    EXPECT_EQ(drain(semaphore), 3);
    semaphore.release();
    EXPECT_EQ(value_error_of([&] { semaphore.release(3); }), "Semaphore released too many times");
    EXPECT_EQ(drain(semaphore), 1);
    semaphore.release(3);
    EXPECT_EQ(drain(semaphore), 3);
}

// threading: a BoundedSemaphore used through its Semaphore base keeps its bound.
TEST(BoundedSemaphore, BoundHoldsThroughBase) {
    BoundedSemaphore bounded(1);
    Semaphore& base = bounded;
    EXPECT_THROW(base.release(), tandem::ValueError);
    EXPECT_TRUE(base.acquire(false));
    EXPECT_FALSE(base.acquire(false));
    base.release();
}

// threading: blocked acquirers of a BoundedSemaphore proceed as permits return (test_acquire_contended).
TEST(BoundedSemaphore, HandsPermitsToWaiters) {
    BoundedSemaphore semaphore(1);
    semaphore.acquire();
    std::atomic<int> done{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < 4; ++i) {
        threads.emplace_back([&] {
            EXPECT_TRUE(semaphore.acquire(10s));
            ++done;
            semaphore.release();
        });
    }
    semaphore.release();
    for (auto& thread : threads) thread.join();
    EXPECT_EQ(done, 4);
    EXPECT_EQ(drain(semaphore), 1);
}
