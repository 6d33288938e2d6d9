// Tests for tandem/interpreter_lock.hpp: the emulated GIL behaves as
// CPython's "new GIL" (Python/ceval_gil.c): one holder at a time, a waiter
// gets the lock after one switch interval through a drop request, and a
// thread blocked in a call under Py_BEGIN_ALLOW_THREADS lets the others run.
#include "tandem/interpreter_lock.hpp"

#include <gtest/gtest.h>  // TEST, EXPECT_*
#include <unistd.h>       // pipe, read, write, close

#include <algorithm>  // std::max
#include <atomic>     // counters shared with the threads
#include <chrono>     // switch intervals, latencies
#include <thread>     // the competing threads

#include "support/gate.hpp"   // eventually
#include "tandem/errors.hpp"  // RuntimeError, ValueError

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using tandem::InterpreterLock;
using tandem_test::eventually;

namespace {

// A little CPU work per "bytecode", so that each thread runs for a while.
unsigned spin(unsigned seed) {
    for (int i = 0; i < 1000; ++i) seed = seed * 1664525u + 1013904223u;
    return seed;
}

}  // namespace

// sys.setswitchinterval: the default is 5 ms; zero or negative raise ValueError.
TEST(InterpreterLock, SwitchInterval) {
    InterpreterLock gil;
    EXPECT_EQ(gil.switch_interval(), 5ms);
    gil.set_switch_interval(1ms);
    EXPECT_EQ(gil.switch_interval(), 1ms);
    EXPECT_THROW(gil.set_switch_interval(0ms), tandem::ValueError);
    EXPECT_THROW(InterpreterLock(-1ms), tandem::ValueError);
    EXPECT_EQ(gil.switch_interval(), 1ms);
}

// Acquiring the lock twice in one thread is a deadlock in CPython; here an
// error. Only the holder may release it.
TEST(InterpreterLock, MisuseIsAnError) {
    InterpreterLock gil;
    EXPECT_FALSE(gil.locked());
    EXPECT_THROW(gil.release(), tandem::RuntimeError);
    gil.acquire();
    EXPECT_TRUE(gil.locked());
    EXPECT_TRUE(gil.held());
    EXPECT_THROW(gil.acquire(), tandem::RuntimeError);
    std::thread other([&] {
        EXPECT_FALSE(gil.held());
        EXPECT_THROW(gil.release(), tandem::RuntimeError);
    });
    other.join();
    gil.release();
    EXPECT_FALSE(gil.locked());
    EXPECT_FALSE(gil.held());
}

// With nobody waiting, checkpoint() keeps the lock (no drop request).
TEST(InterpreterLock, CheckpointWithoutWaitersKeepsTheLock) {
    InterpreterLock gil(1ms);
    InterpreterLock::Holder held(gil);
    const auto switches = gil.switch_count();
    const auto until = Clock::now() + 5ms;  // several switch intervals
    while (Clock::now() < until) gil.checkpoint();
    EXPECT_TRUE(gil.held());
    EXPECT_EQ(gil.switch_count(), switches);
    EXPECT_EQ(gil.drop_request_count(), 0u);
}

// The GIL's defining property: two CPU-bound threads under it never run
// "bytecode" at the same time, yet both progress, taking turns through drop
// requests (forced switching), so the second starts long before the first ends.
TEST(InterpreterLock, CpuBoundThreadsTakeTurnsWithoutParallelProgress) {
    InterpreterLock gil(1ms);
    constexpr long kSteps = 20000;
    std::atomic<int> inside{0};
    std::atomic<int> most_inside{0};
    std::atomic<long> steps[2] = {0, 0};
    std::atomic<long> first_steps_when_second_started{-1};
    std::atomic<unsigned> sink{0};
    auto run = [&](int me) {
        InterpreterLock::Holder held(gil);
        unsigned seed = static_cast<unsigned>(me);
        for (long i = 0; i < kSteps; ++i) {
            const int now = inside.fetch_add(1) + 1;
            int seen = most_inside.load();
            while (now > seen && !most_inside.compare_exchange_weak(seen, now)) {
            }
            if (me == 1 && i == 0) first_steps_when_second_started = steps[0].load();
            seed = spin(seed);
            steps[me].fetch_add(1);
            inside.fetch_sub(1);
            gil.checkpoint();
        }
        sink += seed;
    };
    std::thread first(run, 0);
    ASSERT_TRUE(eventually([&] { return steps[0].load() > 0; }));  // the first holds the lock
    std::thread second(run, 1);
    first.join();
    second.join();
    EXPECT_EQ(most_inside.load(), 1);
    EXPECT_EQ(steps[0].load(), kSteps);
    EXPECT_EQ(steps[1].load(), kSteps);
    EXPECT_GE(first_steps_when_second_started.load(), 1);
    EXPECT_LT(first_steps_when_second_started.load(), kSteps);
    EXPECT_GE(gil.drop_request_count(), 1u);
    EXPECT_GE(gil.switch_count(), 3u);  // first, second, and back at least once
}

// A thread blocked in a system call inside AllowThreads (Py_BEGIN_ALLOW_THREADS)
// lets another thread take the lock and run: here the other thread is the one
// that unblocks it, so without the release both would wait forever.
TEST(InterpreterLock, BlockedThreadUnderAllowThreadsLetsOthersRun) {
    InterpreterLock gil;
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    std::atomic<bool> reader_blocking{false};
    std::atomic<bool> other_ran{false};
    char received = 0;
    std::thread reader([&] {
        InterpreterLock::Holder held(gil);
        {
            InterpreterLock::AllowThreads io(gil);
            reader_blocking = true;
            EXPECT_EQ(::read(fds[0], &received, 1), 1);
        }
        EXPECT_TRUE(gil.held());
    });
    ASSERT_TRUE(eventually([&] { return reader_blocking.load(); }));
    std::thread other([&] {
        InterpreterLock::Holder held(gil);
        other_ran = true;
        EXPECT_EQ(::write(fds[1], "x", 1), 1);
    });
    const bool ran = eventually([&] { return other_ran.load(); });
    if (!ran) {
        EXPECT_EQ(::write(fds[1], "y", 1), 1);  // unblock the reader so the test can end
    }
    other.join();
    reader.join();
    EXPECT_TRUE(ran);
    EXPECT_EQ(received, 'x');
    ::close(fds[0]);
    ::close(fds[1]);
}

// A waiter gets the lock from a CPU-bound holder after about one switch
// interval, never sooner (it must time out before it may ask): the delay that
// makes an I/O thread beside a CPU-bound one slow in CPython (the convoy
// effect). Bounds are generous above, exact below.
TEST(InterpreterLock, WaiterGetsTheLockAfterAboutOneSwitchInterval) {
    for (const auto interval : {10ms, 40ms}) {
        InterpreterLock gil(interval);
        std::atomic<bool> stop{false};
        std::atomic<bool> holding{false};
        std::thread cpu([&] {
            InterpreterLock::Holder held(gil);
            holding = true;
            unsigned seed = 1;
            while (!stop.load()) {
                seed = spin(seed);
                gil.checkpoint();
            }
            EXPECT_NE(seed, 0u);
        });
        ASSERT_TRUE(eventually([&] { return holding.load(); }));
        Clock::duration longest{};
        Clock::duration shortest = Clock::duration::max();
        for (int i = 0; i < 3; ++i) {
            const auto start = Clock::now();
            gil.acquire();
            const auto waited = Clock::now() - start;
            gil.release();  // a drop request is no longer pending: returns at once
            longest = std::max(longest, waited);
            shortest = std::min(shortest, waited);
            // The holder takes the lock back before the next round: wait for
            // the switch, so each round starts against a holder.
            ASSERT_TRUE(eventually([&] { return gil.locked() && !gil.held(); }));
        }
        stop = true;
        cpu.join();
        EXPECT_GE(shortest, interval) << "interval " << interval.count() << " ms";
        EXPECT_LT(longest, interval + 2s) << "interval " << interval.count() << " ms";
        EXPECT_GE(gil.drop_request_count(), 3u);
    }
}
