// Tests for tandem/threading/timer.hpp: Timer, ported from CPython's
// Lib/test/test_threading.py (TimerTests).
#include "tandem/threading/timer.hpp"

#include <gtest/gtest.h>  // TEST, EXPECT_*

#include <atomic>  // flags set by timer functions
#include <chrono>  // intervals and elapsed times
#include <memory>  // move-only arguments, shared events
#include <string>  // names and arguments

#include "tandem/threading/event.hpp"  // Event, to observe the function running

using namespace std::chrono_literals;
using tandem::threading::Event;
using tandem::threading::Timer;
using Clock = std::chrono::steady_clock;

// threading: a Timer calls its function after the interval (test_init_immutable_default_args, TimerTests).
TEST(Timer, FiresAfterInterval) {
    Event fired;
    Timer timer(50ms, [&] { fired.set(); });
    const auto start = Clock::now();
    timer.start();
    ASSERT_TRUE(fired.wait(10s));
    EXPECT_GE(Clock::now() - start, 50ms);
    EXPECT_TRUE(timer.join(10s));
}

// threading: Timer(interval, function, args) passes the arguments (test_init_immutable_default_args).
TEST(Timer, PassesArguments) {
    int number = 0;
    std::string text;
    Timer timer(
        std::chrono::duration<double>(0.001),
        [&](int n, std::unique_ptr<std::string> s) {
            number = n;
            text = *s;
        },
        7, std::make_unique<std::string>("seven"));
    timer.start();
    ASSERT_TRUE(timer.join(10s));
    EXPECT_EQ(number, 7);
    EXPECT_EQ(text, "seven");
}

// threading: cancel() stops a waiting Timer at once, without calling the function (test_cancel).
TEST(Timer, CancelWakesTheTimerAtOnce) {
    std::atomic<bool> called{false};
    Timer timer(std::chrono::hours(1), [&] { called = true; });
    timer.start();
    EXPECT_TRUE(timer.is_alive());
    timer.cancel();
    EXPECT_TRUE(timer.join(10s));  // not an hour
    EXPECT_FALSE(timer.is_alive());
    EXPECT_FALSE(called);
}

// threading: a Timer cancelled before start() ends without calling the function (Timer.run checks finished).
TEST(Timer, CancelBeforeStart) {
    std::atomic<bool> called{false};
    Timer timer(1ms, [&] { called = true; });
    timer.cancel();
    timer.start();
    EXPECT_TRUE(timer.join(10s));
    EXPECT_FALSE(called);
}

// threading: cancel() after the function ran changes nothing (test_cancel).
TEST(Timer, CancelAfterFiring) {
    std::atomic<int> calls{0};
    Timer timer(0s, [&] { ++calls; });
    timer.start();
    ASSERT_TRUE(timer.join(10s));
    timer.cancel();
    EXPECT_EQ(calls, 1);
}

// threading: a Timer is a Thread: "Thread-N" name, daemon settable before start, start once.
TEST(Timer, IsAThread) {
    Timer timer(std::chrono::hours(1), [] {});
    EXPECT_EQ(timer.name().rfind("Thread-", 0), 0U) << timer.name();
    EXPECT_FALSE(timer.daemon());
    timer.set_daemon(true);
    EXPECT_TRUE(timer.daemon());
    timer.start();
    EXPECT_THROW(timer.start(), tandem::RuntimeError);
    timer.cancel();
    EXPECT_TRUE(timer.join(10s));
}

// C++ lifetime rule: a daemon Timer destroyed before firing is detached and still fires.
TEST(Timer, DetachedDaemonTimerStillFires) {
    auto fired = std::make_shared<Event>();
    {
        Timer timer(20ms, [fired] { fired->set(); });
        timer.set_daemon(true);
        timer.start();
    }
    EXPECT_TRUE(fired->wait(10s));
}
