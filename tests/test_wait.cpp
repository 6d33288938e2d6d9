// Tests for tandem/wait.hpp: wait() and as_completed(), ported from CPython's
// test_concurrent_futures (WaitTests, AsCompletedTests). Futures are completed
// by plain threads here; the executor suites repeat the key cases with pools.
#include "tandem/wait.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using tandem::AnyFuture;
using tandem::Future;
using tandem::ReturnWhen;

namespace {

Future<int> successful() {
    auto f = Future<int>::create();
    f.set_result(42);
    return f;
}
Future<int> failed() {
    auto f = Future<int>::create();
    f.set_exception(std::runtime_error("failed"));
    return f;
}
Future<int> cancelled() {
    auto f = Future<int>::create();
    f.cancel();
    return f;
}
Future<int> cancelled_and_notified() {
    Future<int> f = cancelled();
    f.set_running_or_notify_cancel();
    return f;
}
Future<int> running() {
    auto f = Future<int>::create();
    f.set_running_or_notify_cancel();
    return f;
}
std::vector<Future<int>> pending(std::size_t count) {
    std::vector<Future<int>> futures;
    for (std::size_t i = 0; i < count; ++i) futures.push_back(Future<int>::create());
    return futures;
}

template <class F>
bool contains(const std::vector<F>& v, const F& f) {
    return std::find(v.begin(), v.end(), f) != v.end();
}

/// Completes `f` from another thread once the waiter is set up; joined by the destructor.
class LateSetter {
public:
    explicit LateSetter(Future<int> f, bool fail = false)
        : thread_([f, fail]() mutable {
              if (fail)
                  f.set_exception(std::runtime_error("late failure"));
              else
                  f.set_result(1);
          }) {}
    ~LateSetter() { thread_.join(); }

private:
    std::thread thread_;
};

}  // namespace

// concurrent.futures: wait(FIRST_COMPLETED) returns as soon as one future finishes.
TEST(Wait, FirstCompleted) {
    auto f1 = Future<int>::create();
    Future<int> f2 = running();
    LateSetter setter(f1);
    auto [done, not_done] = tandem::wait(std::vector{f1, f2}, 30s, ReturnWhen::FirstCompleted);
    EXPECT_EQ(done, std::vector{f1});
    EXPECT_EQ(not_done, std::vector{f2});
    f2.set_result(0);
}

// concurrent.futures: FIRST_COMPLETED with some already completed returns at once.
TEST(Wait, FirstCompletedSomeAlreadyCompleted) {
    Future<int> a = cancelled_and_notified(), b = successful(), c = running();
    auto result = tandem::wait(std::vector{a, b, c}, 30s, ReturnWhen::FirstCompleted);
    EXPECT_EQ(result.done.size(), 2u);
    EXPECT_TRUE(contains(result.done, a));
    EXPECT_TRUE(contains(result.done, b));
    EXPECT_EQ(result.not_done, std::vector{c});
}

// concurrent.futures: wait(FIRST_EXCEPTION) returns on the first failure.
TEST(Wait, FirstException) {
    Future<int> ok = successful(), pending_a = Future<int>::create(), pending_b = running();
    LateSetter setter(pending_a, /*fail=*/true);
    auto result = tandem::wait(std::vector{ok, pending_a, pending_b}, 30s, ReturnWhen::FirstException);
    EXPECT_TRUE(contains(result.done, ok));
    EXPECT_TRUE(contains(result.done, pending_a));
    EXPECT_EQ(result.not_done, std::vector{pending_b});
    pending_b.set_result(0);
}

// concurrent.futures: FIRST_EXCEPTION with an exception already present returns at once.
TEST(Wait, FirstExceptionAlreadyFailed) {
    Future<int> a = failed(), b = running();
    auto result = tandem::wait(std::vector{a, b}, 30s, ReturnWhen::FirstException);
    EXPECT_EQ(result.done, std::vector{a});
    EXPECT_EQ(result.not_done, std::vector{b});
}

// concurrent.futures: FIRST_EXCEPTION without any failure waits for all.
TEST(Wait, FirstExceptionNoneFailedWaitsForAll) {
    Future<int> a = successful(), b = Future<int>::create();
    LateSetter setter(b);
    auto result = tandem::wait(std::vector{a, b}, 30s, ReturnWhen::FirstException);
    EXPECT_EQ(result.done.size(), 2u);
    EXPECT_TRUE(result.not_done.empty());
}

// concurrent.futures: ALL_COMPLETED waits for every future.
TEST(Wait, AllCompleted) {
    Future<int> a = successful(), b = cancelled_and_notified(), c = failed(), d = Future<int>::create();
    LateSetter setter(d);
    auto result = tandem::wait(std::vector{a, b, c, d}, 30s);
    EXPECT_EQ(result.done.size(), 4u);
    EXPECT_TRUE(result.not_done.empty());
}

// concurrent.futures: a timeout returns what is done; the rest stays in not_done.
TEST(Wait, Timeout) {
    Future<int> a = successful(), b = failed(), c = running();
    const auto start = std::chrono::steady_clock::now();
    auto result = tandem::wait(std::vector{a, b, c}, 50ms, ReturnWhen::AllCompleted);
    EXPECT_GE(std::chrono::steady_clock::now() - start, 50ms);
    EXPECT_EQ(result.done.size(), 2u);
    EXPECT_EQ(result.not_done, std::vector{c});
}

// concurrent.futures: a cancelled future is done for wait() only once the executor noticed it.
TEST(Wait, CancelledButNotNotifiedIsNotDone) {
    Future<int> c = cancelled();
    auto result = tandem::wait(std::vector{c}, 0ms);
    EXPECT_TRUE(result.done.empty());
    EXPECT_EQ(result.not_done, std::vector{c});
    // The executor's set_running_or_notify_cancel() wakes the waiter.
    std::thread notifier([c]() mutable { c.set_running_or_notify_cancel(); });
    result = tandem::wait(std::vector{c}, 30s);
    notifier.join();
    EXPECT_EQ(result.done, std::vector{c});
}

// concurrent.futures: duplicates in the input count once.
TEST(Wait, DuplicatesCountOnce) {
    Future<int> a = successful();
    auto result = tandem::wait(std::vector{a, a, a});
    EXPECT_EQ(result.done.size(), 1u);
}

// Futures of different result types are waited on together through AnyFuture.
TEST(Wait, MixedTypes) {
    auto i = Future<int>::create();
    auto s = Future<std::string>::create();
    s.set_result("x");
    auto result = tandem::wait(std::vector<AnyFuture>{i, s}, 0ms);
    ASSERT_EQ(result.done.size(), 1u);
    EXPECT_EQ(result.done[0], AnyFuture(s));
    i.set_result(1);
}

// concurrent.futures: as_completed yields done futures first, then each as it completes.
TEST(AsCompleted, YieldsAsTheyComplete) {
    Future<int> done_first = successful();
    auto late = Future<int>::create();
    std::vector<Future<int>> seen;
    std::thread setter;
    for (const Future<int>& f : tandem::as_completed(std::vector{late, done_first}, 30s)) {
        seen.push_back(f);
        if (seen.size() == 1) setter = std::thread([late]() mutable { late.set_result(2); });
    }
    setter.join();
    EXPECT_EQ(seen, (std::vector{done_first, late}));
}

// concurrent.futures: as_completed with a zero timeout yields the done ones, then raises TimeoutError.
TEST(AsCompleted, ZeroTimeout) {
    Future<int> a = cancelled(), b = cancelled_and_notified(), c = failed(), d = successful(), e = running();
    std::vector<Future<int>> seen;
    try {
        for (const Future<int>& f : tandem::as_completed(std::vector{a, b, c, d, e}, 0ms)) seen.push_back(f);
        FAIL() << "expected TimeoutError";
    } catch (const tandem::TimeoutError& error) {
        EXPECT_EQ(std::string(error.what()), "2 (of 5) futures unfinished");
    }
    EXPECT_EQ(seen.size(), 3u);
    EXPECT_TRUE(contains(seen, b));
    EXPECT_TRUE(contains(seen, c));
    EXPECT_TRUE(contains(seen, d));
}

// concurrent.futures: as_completed yields duplicates once.
TEST(AsCompleted, Duplicates) {
    Future<int> a = successful(), b = Future<int>::create();
    LateSetter setter(b);
    int count = 0;
    for (const Future<int>& f : tandem::as_completed(std::vector{a, a, b, b})) {
        (void)f;
        ++count;
    }
    EXPECT_EQ(count, 2);
}

// concurrent.futures: the timeout is measured from the call, not per future.
TEST(AsCompleted, TimeoutFromCall) {
    auto never = Future<int>::create();
    const auto start = std::chrono::steady_clock::now();
    auto range = tandem::as_completed(std::vector{never}, 40ms);
    EXPECT_THROW(range.begin(), tandem::TimeoutError);
    EXPECT_GE(std::chrono::steady_clock::now() - start, 40ms);
}

// Leaving the loop early unregisters the waiter: completing later is harmless.
TEST(AsCompleted, EarlyExitUnregisters) {
    Future<int> a = successful(), b = Future<int>::create();
    {
        auto range = tandem::as_completed(std::vector{a, b});
        auto it = range.begin();
        EXPECT_EQ(*it, a);
    }
    b.set_result(1);
    EXPECT_EQ(b.result(), 1);
}

// Many completions racing with one consumer: every future is yielded exactly once.
TEST(AsCompleted, ManyConcurrentCompletions) {
    std::vector<Future<int>> futures = pending(500);
    std::thread setter([futures]() mutable {
        for (std::size_t i = 0; i < futures.size(); ++i) futures[i].set_result(static_cast<int>(i));
    });
    long sum = 0;
    int count = 0;
    for (const Future<int>& f : tandem::as_completed(futures, 30s)) {
        sum += f.result();
        ++count;
    }
    setter.join();
    EXPECT_EQ(count, 500);
    EXPECT_EQ(sum, 499L * 500 / 2);
}

// concurrent.futures: as_completed holds its own references (a set of the
// futures), so the caller may drop every future it passed in, and each one
// once yielded, while iterating. Regression: the range kept raw pointers to
// the futures it watched and unregistered from them at the end, after the
// last reference to the yielded ones had gone (heap-use-after-free).
TEST(AsCompleted, CallerDropsTheFuturesWhileIterating) {
    std::vector<Future<int>> futures = pending(4);
    auto range = tandem::as_completed(futures, 30s);
    // The caller keeps a future only until it has completed it.
    const auto complete_next = [&futures](int value) {
        if (futures.empty()) return;
        futures.front().set_result(value);
        futures.erase(futures.begin());
    };
    complete_next(0);
    int expected = 0;
    for (auto it = range.begin(); it != range.end(); ++it) {
        EXPECT_EQ(it->result(), expected);
        ++expected;
        complete_next(expected);  // the next ++ drops the range's copy of this one
    }
    EXPECT_EQ(expected, 4);
}

// The range dropped half-way, after the caller dropped every future: the
// ones it still watches stay alive until it has unregistered from them; the
// ones it yielded may already be gone.
TEST(AsCompleted, RangeDroppedHalfWayAfterTheCallerDroppedEverything) {
    std::vector<Future<int>> futures = pending(4);
    {
        auto range = tandem::as_completed(futures, 30s);
        futures[0].set_result(0);
        futures[1].set_result(1);
        Future<int> third = futures[2];
        futures.clear();
        auto it = range.begin();
        EXPECT_EQ(it->result(), 0);
        ++it;
        EXPECT_EQ(it->result(), 1);
        third.set_result(2);  // completed, collected, never yielded
        third = successful();
    }
}

// tandem: wait() and as_completed() over an empty future throw InvalidStateError up front.
TEST(Wait, EmptyFutureIsInvalidState) {
    std::vector<Future<int>> futures{successful(), Future<int>()};
    EXPECT_THROW(tandem::wait(futures, 1s), tandem::InvalidStateError);
    EXPECT_THROW(tandem::as_completed(futures, 1s), tandem::InvalidStateError);
}
