// Tests for tandem/future.hpp: the Future state machine of concurrent.futures,
// ported from CPython's test_concurrent_futures (FutureTests).
#include "tandem/future.hpp"

#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using tandem::Future;

namespace {

Future<int> finished_with(int value) {
    auto f = Future<int>::create();
    f.set_result(value);
    return f;
}

Future<int> failed_with(const std::string& message) {
    auto f = Future<int>::create();
    f.set_exception(std::make_exception_ptr(std::runtime_error(message)));
    return f;
}

Future<int> cancelled_future() {
    auto f = Future<int>::create();
    EXPECT_TRUE(f.cancel());
    return f;
}

}  // namespace

// std::future: a default-constructed Future is empty: no state, valid() false.
TEST(Future, DefaultConstructedIsEmpty) {
    Future<int> f;
    EXPECT_FALSE(f.valid());
    EXPECT_EQ(f.state(), nullptr);
    EXPECT_EQ(f, Future<int>());  // two empty futures compare equal
    Future<void> v;
    EXPECT_FALSE(v.valid());
}

// tandem: every operation on an empty future throws InvalidStateError, none crashes.
TEST(Future, EmptyFutureOperationsThrowInvalidStateError) {
    Future<int> f;
    EXPECT_THROW(f.done(), tandem::InvalidStateError);
    EXPECT_THROW(f.running(), tandem::InvalidStateError);
    EXPECT_THROW(f.cancelled(), tandem::InvalidStateError);
    EXPECT_THROW(f.cancel(), tandem::InvalidStateError);
    EXPECT_THROW(f.result(), tandem::InvalidStateError);
    EXPECT_THROW(f.result(1ms), tandem::InvalidStateError);
    EXPECT_THROW(Future<int>().result(), tandem::InvalidStateError);
    EXPECT_THROW(f.exception(), tandem::InvalidStateError);
    EXPECT_THROW(f.set_result(1), tandem::InvalidStateError);
    EXPECT_THROW(f.set_exception(std::runtime_error("x")), tandem::InvalidStateError);
    EXPECT_THROW(f.set_running_or_notify_cancel(), tandem::InvalidStateError);
    EXPECT_THROW(f.add_done_callback([] {}), tandem::InvalidStateError);
    EXPECT_THROW(tandem::AnyFuture{f}, tandem::InvalidStateError);
}

// tandem: an array of empty futures is filled in later, slot by slot (fork-join children).
TEST(Future, EmptyFutureTakesAStateByAssignment) {
    std::array<Future<int>, 3> slots;
    slots[1] = Future<int>::create();
    EXPECT_FALSE(slots[0].valid());
    ASSERT_TRUE(slots[1].valid());
    slots[1].set_result(7);
    EXPECT_EQ(slots[1].result(), 7);
    slots[1] = Future<int>();  // back to empty: the state goes with the last reference
    EXPECT_FALSE(slots[1].valid());
}

// concurrent.futures: a new Future (Python's Future(), create() here) is pending: not running, not done, not cancelled.
TEST(Future, NewFutureIsPending) {
    auto f = Future<int>::create();
    EXPECT_FALSE(f.done());
    EXPECT_FALSE(f.running());
    EXPECT_FALSE(f.cancelled());
}

// concurrent.futures: cancel() on a pending future succeeds; done() and cancelled() become true.
TEST(Future, CancelPending) {
    auto f = Future<int>::create();
    EXPECT_TRUE(f.cancel());
    EXPECT_TRUE(f.cancelled());
    EXPECT_TRUE(f.done());
    EXPECT_TRUE(f.cancel());  // cancelling twice still reports true
}

// concurrent.futures: a running or finished future cannot be cancelled.
TEST(Future, CannotCancelRunningOrFinished) {
    auto running = Future<int>::create();
    ASSERT_TRUE(running.set_running_or_notify_cancel());
    EXPECT_TRUE(running.running());
    EXPECT_FALSE(running.cancel());
    EXPECT_FALSE(running.cancelled());

    Future<int> finished = finished_with(1);
    EXPECT_FALSE(finished.cancel());
    EXPECT_FALSE(finished.cancelled());
}

// concurrent.futures: result() returns the value; exception() is None for a success.
TEST(Future, ResultOfFinished) {
    Future<int> f = finished_with(42);
    EXPECT_EQ(f.result(), 42);
    EXPECT_EQ(f.result(0s), 42);
    EXPECT_EQ(f.exception(), nullptr);
    EXPECT_TRUE(f.done());
    EXPECT_FALSE(f.running());
}

// concurrent.futures: result() re-raises the stored exception with its own type.
TEST(Future, ResultRethrowsException) {
    Future<int> f = failed_with("boom");
    EXPECT_THROW(f.result(), std::runtime_error);
    EXPECT_NE(f.exception(), nullptr);
    try {
        f.result();
    } catch (const std::runtime_error& e) {
        EXPECT_STREQ(e.what(), "boom");
    }
}

// concurrent.futures: result() and exception() of a cancelled future raise CancelledError.
TEST(Future, CancelledRaisesCancelledError) {
    Future<int> f = cancelled_future();
    EXPECT_THROW(f.result(), tandem::CancelledError);
    EXPECT_THROW(f.result(10ms), tandem::CancelledError);
    EXPECT_THROW(f.exception(), tandem::CancelledError);
}

// concurrent.futures: result(timeout) raises TimeoutError when the future stays pending.
TEST(Future, ResultTimesOut) {
    auto f = Future<int>::create();
    const auto start = std::chrono::steady_clock::now();
    EXPECT_THROW(f.result(20ms), tandem::TimeoutError);
    EXPECT_GE(std::chrono::steady_clock::now() - start, 20ms);
    EXPECT_THROW(f.exception(0ms), tandem::TimeoutError);
}

// concurrent.futures: result() blocks until another thread sets the result.
TEST(Future, ResultWaitsForOtherThread) {
    auto f = Future<int>::create();
    std::thread setter([f]() mutable { f.set_result(7); });
    EXPECT_EQ(f.result(10s), 7);
    setter.join();
}

// concurrent.futures: a thread blocked in result() is woken by cancel() with CancelledError.
TEST(Future, CancelWakesBlockedResult) {
    auto f = Future<int>::create();
    std::atomic<bool> raised{false};
    std::thread waiter([f, &raised] {
        try {
            f.result(30s);
        } catch (const tandem::CancelledError&) {
            raised = true;
        }
    });
    // Whether the waiter is already asleep or not, cancel() must reach it.
    EXPECT_TRUE(f.cancel());
    waiter.join();
    EXPECT_TRUE(raised);
}

// concurrent.futures: set_result / set_exception on a done future raise InvalidStateError.
TEST(Future, SetOnDoneFutureIsInvalidState) {
    Future<int> f = finished_with(1);
    EXPECT_THROW(f.set_result(2), tandem::InvalidStateError);
    EXPECT_THROW(f.set_exception(std::runtime_error("x")), tandem::InvalidStateError);
    EXPECT_EQ(f.result(), 1);

    Future<int> c = cancelled_future();
    EXPECT_THROW(c.set_result(2), tandem::InvalidStateError);
}

// concurrent.futures: set_running_or_notify_cancel returns False once cancelled, raises RuntimeError after.
TEST(Future, SetRunningOrNotifyCancel) {
    Future<int> f = cancelled_future();
    EXPECT_FALSE(f.set_running_or_notify_cancel());
    EXPECT_TRUE(f.cancelled());
    EXPECT_THROW(f.set_running_or_notify_cancel(), tandem::RuntimeError);

    Future<int> done = finished_with(3);
    EXPECT_THROW(done.set_running_or_notify_cancel(), tandem::RuntimeError);
}

// concurrent.futures: add_done_callback runs the callback with the future when it completes.
TEST(Future, DoneCallbackRunsOnCompletion) {
    auto f = Future<int>::create();
    int seen = 0;
    f.add_done_callback([&](const Future<int>& done) { seen = done.result(); });
    EXPECT_EQ(seen, 0);
    f.set_result(5);
    EXPECT_EQ(seen, 5);
}

// concurrent.futures: a callback added to a done future runs immediately.
TEST(Future, DoneCallbackOnDoneFutureRunsImmediately) {
    Future<int> f = finished_with(9);
    int seen = 0;
    f.add_done_callback([&](const Future<int>& done) { seen = done.result(); });
    EXPECT_EQ(seen, 9);
}

// concurrent.futures: callbacks run in the order added, also on cancel().
TEST(Future, DoneCallbacksInOrderOnCancel) {
    auto f = Future<int>::create();
    std::vector<int> order;
    f.add_done_callback([&] { order.push_back(1); });
    f.add_done_callback([&](const Future<int>& done) {
        EXPECT_TRUE(done.cancelled());
        order.push_back(2);
    });
    f.cancel();
    EXPECT_EQ(order, (std::vector<int>{1, 2}));
}

// concurrent.futures: an exception raised by a callback is logged, the other callbacks still run.
TEST(Future, RaisingCallbackIsReportedNotFatal) {
    std::vector<std::string> reported;
    auto previous = tandem::set_callback_exception_handler([&](std::exception_ptr e) {
        try {
            std::rethrow_exception(e);
        } catch (const std::exception& ex) {
            reported.push_back(ex.what());
        }
    });
    auto f = Future<int>::create();
    bool second_ran = false;
    f.add_done_callback([] { throw std::logic_error("callback failed"); });
    f.add_done_callback([&] { second_ran = true; });
    f.set_result(1);
    tandem::set_callback_exception_handler(previous);
    ASSERT_EQ(reported.size(), 1u);
    EXPECT_EQ(reported[0], "callback failed");
    EXPECT_TRUE(second_ran);
    EXPECT_EQ(f.result(), 1);
}

// The default handler prints to stderr and does not terminate the process.
TEST(Future, RaisingCallbackDefaultPrints) {
    auto f = Future<int>::create();
    f.add_done_callback([] { throw std::runtime_error("printed, not fatal"); });
    testing::internal::CaptureStderr();
    f.set_result(1);
    const std::string err = testing::internal::GetCapturedStderr();
    EXPECT_NE(err.find("exception calling callback"), std::string::npos);
    EXPECT_NE(err.find("printed, not fatal"), std::string::npos);
}

// Future<void> carries completion and exceptions only.
TEST(Future, VoidFuture) {
    auto f = Future<void>::create();
    EXPECT_FALSE(f.done());
    f.set_result();
    EXPECT_NO_THROW(f.result());
    auto g = Future<void>::create();
    g.set_exception(std::out_of_range("range"));
    EXPECT_THROW(g.result(), std::out_of_range);
}

// A move-only result moves out of a temporary future.
TEST(Future, MoveOnlyResult) {
    auto f = Future<std::unique_ptr<int>>::create();
    f.set_result(std::make_unique<int>(4));
    EXPECT_EQ(*f.result(), 4);  // by reference from an lvalue
    std::unique_ptr<int> owned = Future<std::unique_ptr<int>>(f).result();
    EXPECT_EQ(*owned, 4);
}

// Counts its copies (a large result that must not be copied twice).
struct CopyCounter {
    static inline std::atomic<int> copies{0};
    std::vector<int> values;
    explicit CopyCounter(std::vector<int> v) : values(std::move(v)) {}
    CopyCounter(const CopyCounter& other) : values(other.values) { ++copies; }
    CopyCounter(CopyCounter&&) noexcept = default;
    CopyCounter& operator=(const CopyCounter&) = delete;
};

// tandem: result() on a temporary moves the value out when no other handle can see it
// (as std::future::get does), and copies it while another copy of the Future, a callback
// or another thread may still read it.
TEST(Future, ResultOfATemporaryMovesTheValueOutWhenNothingElseCanSeeIt) {
    CopyCounter::copies = 0;
    auto alone = Future<CopyCounter>::create();
    alone.set_result(CopyCounter({1, 2, 3}));
    const CopyCounter moved = std::move(alone).result();
    EXPECT_EQ(moved.values, (std::vector<int>{1, 2, 3}));
    EXPECT_EQ(CopyCounter::copies.load(), 0);

    auto shared = Future<CopyCounter>::create();
    const Future<CopyCounter> other = shared;
    shared.set_result(CopyCounter({4, 5}));
    const CopyCounter copied = std::move(shared).result();
    EXPECT_EQ(CopyCounter::copies.load(), 1);
    EXPECT_EQ(copied.values, (std::vector<int>{4, 5}));
    EXPECT_EQ(other.result().values, (std::vector<int>{4, 5}));  // still there for the other handle
}

// Copies share one state, like references to one Python object.
TEST(Future, CopiesShareState) {
    auto a = Future<int>::create();
    Future<int> b = a;
    EXPECT_EQ(a, b);
    a.set_result(3);
    EXPECT_TRUE(b.done());
    EXPECT_EQ(b.result(), 3);
    EXPECT_NE(a, Future<int>());
}

// Concurrent setters: exactly one wins, the others get InvalidStateError.
TEST(Future, ConcurrentSettersOneWins) {
    for (int round = 0; round < 200; ++round) {
        auto f = Future<int>::create();
        std::atomic<int> winners{0};
        std::vector<std::thread> setters;
        for (int i = 0; i < 4; ++i) {
            setters.emplace_back([f, i, &winners]() mutable {
                try {
                    f.set_result(i);
                    ++winners;
                } catch (const tandem::InvalidStateError&) {
                }
            });
        }
        for (auto& t : setters) t.join();
        EXPECT_EQ(winners.load(), 1);
        EXPECT_TRUE(f.done());
    }
}

// A moved-from future reports the misuse instead of crashing.
TEST(Future, MovedFromFutureThrows) {
    auto a = Future<int>::create();
    Future<int> b = std::move(a);
    EXPECT_FALSE(a.valid());  // NOLINT(bugprone-use-after-move): that is the point
    EXPECT_THROW(a.done(), tandem::InvalidStateError);
    EXPECT_TRUE(b.valid());
}
