// Tests for tandem/threading/barrier.hpp: Barrier, ported from CPython's
// Lib/test/lock_tests.py (BarrierTests).
#include "tandem/threading/barrier.hpp"

#include <gtest/gtest.h>  // TEST, EXPECT_*

#include <atomic>     // counters shared with the parties
#include <chrono>     // timeouts and elapsed times
#include <stdexcept>  // the action's exception
#include <string>     // exception messages
#include <thread>     // the parties
#include <vector>     // per-round records

#include "support/gate.hpp"   // eventually
#include "tandem/errors.hpp"  // BrokenBarrierError, ValueError

using namespace std::chrono_literals;
using tandem::BrokenBarrierError;
using tandem::threading::Barrier;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int parties = 5;

// Runs `body(i)` in `count` threads and joins them.
template <class Body>
void in_threads(int count, Body body) {
    std::vector<std::thread> threads;
    for (int i = 0; i < count; ++i) threads.emplace_back(body, i);
    for (auto& thread : threads) thread.join();
}

using tandem_test::eventually;

// Starts `count` threads that each call barrier.wait(10s) and count the
// BrokenBarrierErrors they get; returns once all of them are waiting.
struct StuckParties {
    Barrier& barrier;
    std::atomic<int> broken{0};
    std::vector<std::thread> threads;

    StuckParties(Barrier& b, int count) : barrier(b) {
        for (int i = 0; i < count; ++i) {
            threads.emplace_back([this] {
                try {
                    barrier.wait(10s);
                } catch (const BrokenBarrierError&) {
                    ++broken;
                }
            });
        }
        EXPECT_TRUE(eventually([&] { return barrier.n_waiting() == count; }));
    }
    void join() {
        for (auto& thread : threads) thread.join();
    }
};

}  // namespace

// threading: Barrier(parties < 1) raises ValueError (test_constructor).
TEST(Barrier, PartiesMustBePositive) {
    EXPECT_THROW(Barrier(0), tandem::ValueError);
    EXPECT_THROW(Barrier(-1), tandem::ValueError);
    const Barrier barrier(3);
    EXPECT_EQ(barrier.parties(), 3);
    EXPECT_EQ(barrier.n_waiting(), 0);
    EXPECT_FALSE(barrier.broken());
}

// threading: each round hands out every index 0..parties-1 once, over many rounds (test_barrier, test_wait_returns).
TEST(Barrier, ReusableOverManyRounds) {
    constexpr int rounds = 50;
    Barrier barrier(parties);
    std::vector<std::atomic<int>> arrivals(rounds);
    std::vector<std::atomic<int>> index_seen(rounds * parties);
    in_threads(parties, [&](int) {
        for (int round = 0; round < rounds; ++round) {
            ++arrivals[round];
            const int index = barrier.wait(10s);
            ASSERT_GE(index, 0);
            ASSERT_LT(index, parties);
            ++index_seen[round * parties + index];
            // Nobody leaves a round before everybody has arrived at it.
            EXPECT_EQ(arrivals[round], parties);
        }
    });
    for (auto& seen : index_seen) EXPECT_EQ(seen, 1);
    EXPECT_EQ(barrier.n_waiting(), 0);
    EXPECT_FALSE(barrier.broken());
}

// threading: the action runs once per round, before any party is released (test_action).
TEST(Barrier, ActionRunsOncePerRoundBeforeRelease) {
    constexpr int rounds = 20;
    std::atomic<int> actions{0};
    Barrier barrier(parties, [&] { ++actions; });
    in_threads(parties, [&](int) {
        for (int round = 0; round < rounds; ++round) {
            barrier.wait(10s);
            EXPECT_EQ(actions, 2 * round + 1);
            barrier.wait(10s);  // keeps the next round's action from racing the check above
        }
    });
    EXPECT_EQ(actions, 2 * rounds);
}

// threading: an action that raises breaks the barrier; its thread gets the exception, the others BrokenBarrierError (test_abort).
TEST(Barrier, ThrowingActionBreaksBarrier) {
    Barrier barrier(parties, [] { throw std::runtime_error("action failed"); });
    std::atomic<int> action_errors{0};
    std::atomic<int> broken_errors{0};
    in_threads(parties, [&](int) {
        try {
            barrier.wait(10s);
        } catch (const BrokenBarrierError&) {
            ++broken_errors;
        } catch (const std::runtime_error& error) {
            EXPECT_STREQ(error.what(), "action failed");
            ++action_errors;
        }
    });
    EXPECT_EQ(action_errors, 1);
    EXPECT_EQ(broken_errors, parties - 1);
    EXPECT_TRUE(barrier.broken());
    EXPECT_THROW(barrier.wait(10s), BrokenBarrierError);
}

// threading: abort() breaks the barrier for current and later waiters (test_abort).
TEST(Barrier, AbortBreaksWaiters) {
    Barrier barrier(parties);
    StuckParties stuck(barrier, parties - 1);
    barrier.abort();
    stuck.join();
    EXPECT_EQ(stuck.broken, parties - 1);
    EXPECT_TRUE(barrier.broken());
    EXPECT_EQ(barrier.n_waiting(), 0);
    EXPECT_THROW(barrier.wait(), BrokenBarrierError);
}

// threading: reset() releases waiters with BrokenBarrierError and leaves a working barrier (test_reset).
TEST(Barrier, ResetReleasesWaitersAndRearms) {
    Barrier barrier(parties);
    StuckParties stuck(barrier, parties - 1);
    barrier.reset();
    stuck.join();
    EXPECT_EQ(stuck.broken, parties - 1);
    EXPECT_FALSE(barrier.broken());
    std::atomic<int> passed{0};
    in_threads(parties, [&](int) {
        barrier.wait(10s);
        ++passed;
    });
    EXPECT_EQ(passed, parties);
}

// threading: a broken barrier works again after reset() (test_abort_and_reset).
TEST(Barrier, ResetAfterAbort) {
    Barrier barrier(parties);
    barrier.abort();
    EXPECT_TRUE(barrier.broken());
    EXPECT_THROW(barrier.wait(10s), BrokenBarrierError);
    barrier.reset();
    EXPECT_FALSE(barrier.broken());
    std::atomic<int> passed{0};
    in_threads(parties, [&](int) {
        for (int round = 0; round < 3; ++round) barrier.wait(10s);
        ++passed;
    });
    EXPECT_EQ(passed, parties);
}

// threading: a wait that times out breaks the barrier for everyone (test_timeout).
TEST(Barrier, TimeoutBreaksBarrier) {
    Barrier barrier(3);
    std::atomic<int> broken{0};
    in_threads(2, [&](int i) {
        try {
            // The short wait times out; the long one is broken by it.
            if (i == 0) {
                const auto start = Clock::now();
                try {
                    barrier.wait(50ms);
                } catch (const BrokenBarrierError&) {
                    EXPECT_GE(Clock::now() - start, 50ms);
                    throw;
                }
            } else {
                barrier.wait(10s);
            }
        } catch (const BrokenBarrierError&) {
            ++broken;
        }
    });
    EXPECT_EQ(broken, 2);
    EXPECT_TRUE(barrier.broken());
    EXPECT_THROW(barrier.wait(10s), BrokenBarrierError);
}

// threading: the constructor's timeout applies to wait() without one (test_default_timeout).
TEST(Barrier, DefaultTimeout) {
    Barrier barrier(2, {}, 30ms);
    const auto start = Clock::now();
    EXPECT_THROW(barrier.wait(), BrokenBarrierError);
    EXPECT_GE(Clock::now() - start, 30ms);
    EXPECT_TRUE(barrier.broken());
    Barrier negative(2);
    EXPECT_THROW(negative.wait(-1s), BrokenBarrierError);  // a negative timeout expires at once
}

// threading: a one-party barrier never blocks and runs its action every time (test_single_thread).
TEST(Barrier, SingleParty) {
    int actions = 0;
    Barrier barrier(1, [&] { ++actions; });
    for (int i = 0; i < 10; ++i) EXPECT_EQ(barrier.wait(), 0);
    EXPECT_EQ(actions, 10);
}
