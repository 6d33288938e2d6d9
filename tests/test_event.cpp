// Tests for tandem/threading/event.hpp: Event, ported from CPython's
// Lib/test/lock_tests.py (EventTests).
#include "tandem/threading/event.hpp"

#include <gtest/gtest.h>  // TEST, EXPECT_*

#include <atomic>       // results shared with helper threads
#include <chrono>       // timeouts and elapsed times
#include <fstream>      // /proc/self/task/TID/stat
#include <string>       // parsing the stat line
#include <sys/types.h>  // pid_t
#include <thread>       // helper threads
#include <unistd.h>     // gettid
#include <vector>       // groups of threads

using namespace std::chrono_literals;
using tandem::threading::Event;
using Clock = std::chrono::steady_clock;

namespace {

// True once thread `tid` of this process is asleep in the kernel (state S),
// polled for at most 10 seconds.
bool becomes_asleep(pid_t tid) {
    const auto deadline = Clock::now() + 10s;
    const std::string path = "/proc/self/task/" + std::to_string(tid) + "/stat";
    while (Clock::now() < deadline) {
        std::ifstream stat(path);
        std::string line;
        std::getline(stat, line);
        // "tid (comm) S ...": the state follows the last ')'.
        const auto close = line.rfind(')');
        if (close != std::string::npos && close + 2 < line.size() && line[close + 2] == 'S') return true;
        std::this_thread::sleep_for(1ms);
    }
    return false;
}

}  // namespace

// threading: a new Event is clear; wait(timeout) on it returns False after the timeout (test_isSet, test_timeout).
TEST(Event, InitiallyClear) {
    Event event;
    EXPECT_FALSE(event.is_set());
    EXPECT_FALSE(event.wait(0s));
    const auto start = Clock::now();
    EXPECT_FALSE(event.wait(50ms));
    EXPECT_GE(Clock::now() - start, 50ms);
    EXPECT_FALSE(event.wait(-1s));
}

// threading: set() and clear() move the flag; wait() on a set Event returns True at once (test_isSet).
TEST(Event, SetAndClear) {
    Event event;
    event.set();
    EXPECT_TRUE(event.is_set());
    EXPECT_TRUE(event.wait());
    EXPECT_TRUE(event.wait(0s));
    event.set();  // setting twice is harmless
    EXPECT_TRUE(event.is_set());
    event.clear();
    EXPECT_FALSE(event.is_set());
    EXPECT_FALSE(event.wait(1ms));
    event.clear();
    EXPECT_FALSE(event.is_set());
}

// threading: set() wakes every waiting thread, and wait() returns True in each (test_notify).
TEST(Event, SetWakesAllWaiters) {
    Event event;
    std::atomic<int> woken{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < 5; ++i) {
        threads.emplace_back([&] {
            if (event.wait(10s)) ++woken;
            if (event.wait()) ++woken;  // still set: returns at once
        });
    }
    event.set();
    for (auto& thread : threads) thread.join();
    EXPECT_EQ(woken, 10);
}

// threading: a thread waiting when set() is called returns True even if clear() follows at once (gh-57711).
TEST(Event, SetThenClearStillWakesWaiters) {
    Event event;
    constexpr int count = 3;
    std::atomic<pid_t> tids[count] = {};
    std::atomic<int> woken{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < count; ++i) {
        threads.emplace_back([&, i] {
            tids[i] = gettid();
            if (event.wait(10s)) ++woken;
        });
    }
    for (auto& tid : tids) {
        while (tid == 0) std::this_thread::yield();
        ASSERT_TRUE(becomes_asleep(tid));
    }
    event.set();
    event.clear();
    for (auto& thread : threads) thread.join();
    EXPECT_EQ(woken, count);
    EXPECT_FALSE(event.is_set());
}

// threading: wait(timeout) returns True when set() comes before the timeout (test_timeout).
TEST(Event, TimedWaitSeesSet) {
    Event event;
    std::atomic<bool> result{false};
    std::thread waiter([&] { result = event.wait(10s); });
    event.set();
    waiter.join();
    EXPECT_TRUE(result);
}

// threading: an Event can be set and cleared over and over, handing control back and forth (test_reset_internal_locks).
TEST(Event, PingPong) {
    Event ping;
    Event pong;
    constexpr int rounds = 500;
    std::thread partner([&] {
        for (int i = 0; i < rounds; ++i) {
            ASSERT_TRUE(ping.wait(10s));
            ping.clear();
            pong.set();
        }
    });
    for (int i = 0; i < rounds; ++i) {
        ping.set();
        ASSERT_TRUE(pong.wait(10s));
        pong.clear();
    }
    partner.join();
    EXPECT_FALSE(ping.is_set());
    EXPECT_FALSE(pong.is_set());
}
