// Tests for tandem/multiprocessing/pool.hpp: ThreadPool (and, through the
// same face, Pool), ported from CPython's test_multiprocessing _TestPool
// where it fits (apply, async timeouts, map/starmap, imap/imap_unordered,
// exceptions, close/terminate/join), plus tandem's promises: bounded
// read-ahead for imap, callbacks that never kill the pool, a destructor that
// drains.
#include "tandem/multiprocessing/pool.hpp"

#include <gtest/gtest.h>  // TEST, EXPECT_*

#include <dirent.h>    // counting /proc/self/fd
#include <sys/wait.h>  // waitid(WNOHANG | WNOWAIT): no zombie is left
#include <unistd.h>    // getpid in workers

#include <algorithm>  // std::sort, std::max
#include <atomic>     // counters shared with tasks
#include <chrono>     // timeouts
#include <csignal>    // raise(SIGKILL) in a worker
#include <cstddef>    // std::size_t
#include <exception>  // std::exception_ptr, std::rethrow_exception
#include <fstream>    // reading /proc/self/maps
#include <memory>     // std::unique_ptr results, the gate opener
#include <numeric>    // std::iota
#include <optional>   // iterators that outlive their pool
#include <ranges>     // counting inputs
#include <set>        // thread ids
#include <stdexcept>  // std::out_of_range, std::runtime_error thrown by tasks
#include <string>     // messages
#include <thread>     // std::this_thread::get_id, yield
#include <tuple>      // starmap inputs
#include <vector>     // inputs and results

#include "support/gate.hpp"                        // Gate, eventually
#include "tandem/multiprocessing/synchronize.hpp"  // Event: holds a worker's task until the test releases it
#include "tandem/wait.hpp"                         // tandem::wait over AsyncResult futures

using namespace std::chrono_literals;
using tandem::multiprocessing::AsyncCallbacks;
using tandem::multiprocessing::AsyncResult;
using tandem::multiprocessing::ThreadPool;

namespace {

int square(int x) { return x * x; }
int multiply(int a, int b) { return a * b; }

/// A task-side error type, to check it comes back as itself.
struct CustomError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

using tandem_test::eventually;
using tandem_test::Gate;

std::vector<int> range(int n) {
    std::vector<int> values(static_cast<std::size_t>(n));
    std::iota(values.begin(), values.end(), 0);
    return values;
}

std::vector<int> squares(int n) {
    std::vector<int> values;
    for (int i = 0; i < n; ++i) values.push_back(i * i);
    return values;
}

}  // namespace

// --- construction -----------------------------------------------------------------------

// Python: Pool(0) raises ValueError("Number of processes must be at least 1").
TEST(ThreadPool, ZeroProcessesIsValueError) {
    EXPECT_THROW(ThreadPool(0), tandem::ValueError);
}

// Python: Pool() has os.process_cpu_count() workers.
TEST(ThreadPool, DefaultSizeIsUsableCpus) {
    ThreadPool pool;
    EXPECT_EQ(pool.processes(), tandem::detail::process_cpu_count());
}

// Python: the initializer runs in each worker before it takes any task.
TEST(ThreadPool, InitializerRunsBeforeTasksInEachWorker) {
    static thread_local bool initialized = false;
    std::atomic<int> runs{0};
    ThreadPool pool(2, [&runs] {
        initialized = true;
        runs.fetch_add(1);
    });
    const auto seen = pool.map([](int) { return initialized; }, range(64), 1);
    for (bool flag : seen) EXPECT_TRUE(flag);
    pool.close();
    pool.join();
    EXPECT_GE(runs.load(), 1);
    EXPECT_LE(runs.load(), 2);
}

namespace {
thread_local int thread_setting = 0;
void set_thread_setting(int value, int scale) { thread_setting = value * scale; }
}  // namespace

// Python: ThreadPool(processes, initializer, initargs): initializer(*initargs) in each thread,
// the same Initializer as every other pool.
TEST(ThreadPool, InitializerWithInitargs) {
    ThreadPool pool(2, {set_thread_setting, 5, 3});
    for (int value : pool.map([](int) { return thread_setting; }, range(32), 1)) EXPECT_EQ(value, 15);
}

// concurrent.futures: a failing initializer breaks the pool; jobs fail with BrokenThreadPool.
TEST(ThreadPool, FailingInitializerBreaksThePool) {
    ThreadPool pool(1, [] { throw std::runtime_error("no"); });
    auto result = pool.apply_async(square, 3);
    EXPECT_THROW(result.get(10s), tandem::BrokenThreadPool);
}

// --- apply / apply_async ------------------------------------------------------------------

// Python _TestPool.test_apply: apply(sqr, (5,)) == 25.
TEST(ThreadPool, ApplyReturnsTheResult) {
    ThreadPool pool(2);
    EXPECT_EQ(pool.apply(square, 5), 25);
    EXPECT_EQ(pool.apply(multiply, 6, 7), 42);
    EXPECT_EQ(pool.apply([](const std::string& s) { return s + "!"; }, std::string("hi")), "hi!");
}

// Python: apply() rethrows the task's exception.
TEST(ThreadPool, ApplyRethrowsWithTheOriginalType) {
    ThreadPool pool(2);
    EXPECT_THROW(pool.apply([] { throw CustomError("custom"); }), CustomError);
    EXPECT_THROW(pool.apply([]() -> int { throw std::out_of_range("range"); }), std::out_of_range);
}

// tandem: a move-only result comes back through apply().
TEST(ThreadPool, ApplyMovesAMoveOnlyResult) {
    ThreadPool pool(1);
    std::unique_ptr<int> result = pool.apply([] { return std::make_unique<int>(7); });
    ASSERT_TRUE(result);
    EXPECT_EQ(*result, 7);
}

// Python _TestPool.test_async: apply_async(sqr, (7,)).get() == 49.
TEST(ThreadPool, ApplyAsyncGet) {
    ThreadPool pool(2);
    AsyncResult<int> result = pool.apply_async(square, 7);
    EXPECT_EQ(result.get(), 49);
    EXPECT_TRUE(result.ready());
    EXPECT_TRUE(result.successful());
}

// Python _TestPool.test_async_timeout: get(timeout) raises TimeoutError while the job runs.
TEST(ThreadPool, ApplyAsyncGetTimeout) {
    Gate gate;
    ThreadPool pool(2);
    auto opener = gate.opener();
    auto result = pool.apply_async([&gate] { return gate.wait() ? 1 : -1; });
    EXPECT_THROW(result.get(20ms), tandem::TimeoutError);
    EXPECT_FALSE(result.wait(1ms));
    EXPECT_FALSE(result.ready());
    gate.open();
    EXPECT_EQ(result.get(10s), 1);
    EXPECT_TRUE(result.wait(0ms));
    EXPECT_TRUE(result.wait());
}

// Python: AsyncResult.successful() before the job is ready raises ValueError.
TEST(ThreadPool, SuccessfulBeforeReadyIsValueError) {
    Gate gate;
    ThreadPool pool(1);
    auto opener = gate.opener();
    auto running = pool.apply_async([&gate] { return gate.wait(); });
    EXPECT_THROW(static_cast<void>(running.successful()), tandem::ValueError);
    gate.open();
    running.wait();
    EXPECT_TRUE(running.successful());
    auto failing = pool.apply_async([] { throw CustomError("x"); });
    failing.wait();
    EXPECT_FALSE(failing.successful());
    EXPECT_THROW(failing.get(), CustomError);
}

// Python: the callback receives the result and has run when get() returns.
TEST(ThreadPool, CallbackRunsBeforeGetReturns) {
    ThreadPool pool(2);
    int seen = 0;  // plain int: get() must order the callback's write before it returns
    auto result = pool.apply_async(AsyncCallbacks<int>{.callback = [&](const int& value) { seen = value; }}, square, 9);
    EXPECT_EQ(result.get(), 81);
    EXPECT_EQ(seen, 81);
}

// Python: callbacks run in a pool thread, not in the caller, when the job ends after apply_async returned.
TEST(ThreadPool, CallbackRunsInThePoolThread) {
    Gate gate;
    ThreadPool pool(1);
    auto opener = gate.opener();
    std::thread::id task_thread;
    std::thread::id callback_thread;
    auto result = pool.apply_async(AsyncCallbacks<bool>{.callback =
                                                            [&](const bool&) {
                                                                callback_thread = std::this_thread::get_id();
                                                            }},
                                   [&] {
                                       task_thread = std::this_thread::get_id();
                                       return gate.wait();
                                   });
    gate.open();  // the job cannot have ended before apply_async returned
    EXPECT_TRUE(result.get(10s));
    EXPECT_EQ(callback_thread, task_thread);
    EXPECT_NE(callback_thread, std::this_thread::get_id());
}

// Python: error_callback receives the exception; callback does not run.
TEST(ThreadPool, ErrorCallbackReceivesTheException) {
    ThreadPool pool(2);
    bool callback_ran = false;
    std::string message;
    auto result = pool.apply_async(AsyncCallbacks<int>{.callback = [&](const int&) { callback_ran = true; },
                                                       .error_callback =
                                                           [&](std::exception_ptr error) {
                                                               try {
                                                                   std::rethrow_exception(error);
                                                               } catch (const CustomError& e) {
                                                                   message = e.what();
                                                               }
                                                           }},
                                   []() -> int { throw CustomError("bad input"); });
    EXPECT_THROW(result.get(), CustomError);
    EXPECT_FALSE(callback_ran);
    EXPECT_EQ(message, "bad input");
}

// tandem: a void job's callback takes no argument.
TEST(ThreadPool, VoidJobCallback) {
    ThreadPool pool(1);
    int calls = 0;
    auto result = pool.apply_async(AsyncCallbacks<void>{.callback = [&] { ++calls; }}, [] {});
    result.get();
    EXPECT_EQ(calls, 1);
    EXPECT_TRUE(result.successful());
}

// tandem: a callback that throws reaches the callback-exception handler; the job's result stands and the pool goes on.
TEST(ThreadPool, ThrowingCallbackDoesNotBreakThePool) {
    std::atomic<int> reported{0};
    auto previous = tandem::set_callback_exception_handler([&](std::exception_ptr) { reported.fetch_add(1); });
    {
        ThreadPool pool(1);
        auto result = pool.apply_async(
            AsyncCallbacks<int>{.callback = [](const int&) { throw std::runtime_error("callback failed"); }}, square,
            4);
        EXPECT_EQ(result.get(), 16);
        EXPECT_EQ(reported.load(), 1);
        EXPECT_EQ(pool.apply(square, 5), 25);
    }
    tandem::set_callback_exception_handler(previous);
}

// tandem: an AsyncResult's future mixes with concurrent.futures.wait().
TEST(ThreadPool, AsyncResultFutureWorksWithWait) {
    ThreadPool pool(2);
    std::vector<tandem::Future<int>> futures;
    for (int i = 0; i < 8; ++i) futures.push_back(pool.apply_async(square, i).future());
    auto [done, not_done] = tandem::wait(futures, 10s);
    EXPECT_EQ(done.size(), 8u);
    EXPECT_TRUE(not_done.empty());
}

// tandem: a task may apply() on its own pool; waiting runs other tasks, so one thread suffices.
TEST(ThreadPool, NestedApplyDoesNotDeadlock) {
    ThreadPool pool(1);
    auto outer = pool.apply_async([&pool] { return pool.apply(square, 6) + 1; });
    EXPECT_EQ(outer.get(10s), 37);
}

// --- map / starmap ------------------------------------------------------------------------

// Python _TestPool.test_map: map(sqr, range(10)) and range(100) keep input order.
TEST(ThreadPool, MapKeepsInputOrder) {
    ThreadPool pool(4);
    EXPECT_EQ(pool.map(square, range(10)), squares(10));
    EXPECT_EQ(pool.map(square, range(100), 1), squares(100));
    EXPECT_EQ(pool.map(square, range(100), 7), squares(100));
    EXPECT_EQ(pool.map(square, range(100), 1000), squares(100));
}

// Python: map over an empty iterable returns [] (and map_async's callback gets []).
TEST(ThreadPool, MapOfNothing) {
    ThreadPool pool(2);
    EXPECT_TRUE(pool.map(square, std::vector<int>{}).empty());
    bool called = false;
    auto result = pool.map_async(square, std::vector<int>{}, std::nullopt,
                                 {.callback = [&](const std::vector<int>& values) { called = values.empty(); }});
    EXPECT_TRUE(result.get().empty());
    EXPECT_TRUE(called);
}

// Python: map over an iterable without len() reads it into a list first.
TEST(ThreadPool, MapOfAnUnsizedRange) {
    ThreadPool pool(2);
    auto evens = std::views::iota(0, 20) | std::views::filter([](int x) { return x % 2 == 0; });
    std::vector<int> expected;
    for (int x : evens) expected.push_back(x * x);
    EXPECT_EQ(pool.map(square, evens), expected);
}

// Python Pool._map_async: chunksize = divmod(len, 4 * processes), + 1 with a remainder.
TEST(ThreadPool, DefaultMapChunksizeIsPythons) {
    using tandem::detail::default_map_chunksize;
    EXPECT_EQ(default_map_chunksize(100, 4), 7u);  // divmod(100, 16) = (6, 4)
    EXPECT_EQ(default_map_chunksize(16, 4), 1u);
    EXPECT_EQ(default_map_chunksize(17, 4), 2u);
    EXPECT_EQ(default_map_chunksize(1, 8), 1u);
    EXPECT_EQ(default_map_chunksize(0, 8), 1u);
    EXPECT_EQ(default_map_chunksize(3200, 8), 100u);
}

// Python: a chunk is one task: its inputs run together, in order, on one worker.
TEST(ThreadPool, MapChunksRunTogether) {
    ThreadPool pool(4);
    constexpr int chunksize = 10;
    const auto threads = pool.map([](int) { return std::this_thread::get_id(); }, range(200), chunksize);
    ASSERT_EQ(threads.size(), 200u);
    for (std::size_t i = 0; i < threads.size(); ++i) {
        EXPECT_EQ(threads[i], threads[i - i % chunksize]) << "input " << i;
    }
}

// Python: chunksize 0 is a ValueError.
TEST(ThreadPool, ZeroChunksizeIsValueError) {
    ThreadPool pool(1);
    EXPECT_THROW(pool.map(square, range(3), 0), tandem::ValueError);
    EXPECT_THROW(pool.imap(square, range(3), 0), tandem::ValueError);
    EXPECT_THROW(pool.map_async(square, range(3), 0), tandem::ValueError);
    EXPECT_THROW(pool.imap(square, range(3), 1, 0), tandem::ValueError);  // buffersize
}

// Python: map() rethrows a call's exception (with its type).
TEST(ThreadPool, MapRethrowsTheFirstFailure) {
    ThreadPool pool(3);
    auto fails_at_5 = [](int x) {
        if (x == 5) throw CustomError("five");
        return x;
    };
    EXPECT_THROW(pool.map(fails_at_5, range(20)), CustomError);
    EXPECT_THROW(pool.map(fails_at_5, range(20), 1), CustomError);
    EXPECT_EQ(pool.apply(square, 3), 9);  // the pool is still fine
}

// Python _TestPool.test_starmap: starmap(mul, zip(range(10), range(10, 20))).
TEST(ThreadPool, StarmapUnpacksTuples) {
    ThreadPool pool(3);
    std::vector<std::tuple<int, int>> pairs;
    std::vector<int> expected;
    for (int i = 0; i < 10; ++i) {
        pairs.emplace_back(i, i + 10);
        expected.push_back(i * (i + 10));
    }
    EXPECT_EQ(pool.starmap(multiply, pairs), expected);
    EXPECT_EQ(pool.starmap(multiply, pairs, 3), expected);
    EXPECT_EQ(pool.starmap_async(multiply, pairs).get(), expected);
}

// Python _TestPool.test_map_async / test_map_async_callbacks.
TEST(ThreadPool, MapAsyncWithCallback) {
    ThreadPool pool(4);
    std::vector<int> delivered;
    auto result = pool.map_async(square, range(50), 3,
                                 {.callback = [&](const std::vector<int>& values) { delivered = values; }});
    EXPECT_EQ(result.get(10s), squares(50));
    EXPECT_EQ(delivered, squares(50));
    EXPECT_TRUE(result.successful());
}

// Python: map_async's first failure ends the job; error_callback gets it once.
TEST(ThreadPool, MapAsyncFailure) {
    ThreadPool pool(4);
    std::atomic<int> errors{0};
    auto result = pool.map_async(
        [](int x) {
            if (x % 10 == 3) throw CustomError("bad");
            return x;
        },
        range(100), 5, {.error_callback = [&](std::exception_ptr) { errors.fetch_add(1); }});
    EXPECT_THROW(result.get(10s), CustomError);
    EXPECT_FALSE(result.successful());
    pool.close();
    pool.join();  // every chunk has ended: a second error_callback would have run by now
    EXPECT_EQ(errors.load(), 1);
}

// --- imap / imap_unordered ----------------------------------------------------------------

// Python _TestPool.test_imap: results in input order, with chunksize 1 and larger.
TEST(ThreadPool, ImapKeepsInputOrder) {
    ThreadPool pool(4);
    for (std::size_t chunksize : {1u, 3u, 100u}) {
        std::vector<int> results;
        for (int value : pool.imap(square, range(50), chunksize)) results.push_back(value);
        EXPECT_EQ(results, squares(50)) << "chunksize " << chunksize;
    }
}

// Python: IMapIterator.next() raises StopIteration at the end; here, nullopt.
TEST(ThreadPool, ImapNextEndsWithNullopt) {
    ThreadPool pool(2);
    auto it = pool.imap(square, range(3));
    EXPECT_EQ(it.next(), 0);
    EXPECT_EQ(it.next(), 1);
    EXPECT_EQ(it.next(10s), 4);
    EXPECT_FALSE(it.next().has_value());
    EXPECT_FALSE(it.next().has_value());
}

// Python: IMapIterator.next(timeout) raises TimeoutError and the iterator stays usable.
TEST(ThreadPool, ImapNextTimeout) {
    Gate gate;
    ThreadPool pool(2);
    auto opener = gate.opener();
    auto it = pool.imap([&gate](int x) { return gate.wait() ? x : -1; }, range(4));
    EXPECT_THROW(it.next(20ms), tandem::TimeoutError);
    gate.open();
    std::vector<int> rest;
    while (auto value = it.next(10s)) rest.push_back(*value);
    EXPECT_EQ(rest, range(4));
}

// Python: imap_unordered with a timeout too.
TEST(ThreadPool, ImapUnorderedNextTimeout) {
    Gate gate;
    ThreadPool pool(2);
    auto opener = gate.opener();
    auto it = pool.imap_unordered([&gate](int x) { return gate.wait() ? x : -1; }, range(4));
    EXPECT_THROW(it.next(20ms), tandem::TimeoutError);
    gate.open();
    std::vector<int> rest;
    while (auto value = it.next(10s)) rest.push_back(*value);
    std::sort(rest.begin(), rest.end());
    EXPECT_EQ(rest, range(4));
}

// Python test_imap_unordered: every result comes, in completion order.
TEST(ThreadPool, ImapUnorderedYieldsInCompletionOrder) {
    Gate gate;
    ThreadPool pool(2);
    auto opener = gate.opener();
    auto it = pool.imap_unordered(
        [&gate](int x) {
            if (x == 0 && !gate.wait()) return -1;  // the first input finishes last
            return x;
        },
        range(10));
    auto first = it.next(10s);
    ASSERT_TRUE(first.has_value());
    EXPECT_NE(*first, 0);
    gate.open();
    std::vector<int> all{*first};
    for (int value : it) all.push_back(value);
    std::sort(all.begin(), all.end());
    EXPECT_EQ(all, range(10));
}

// Python test_imap_unordered with chunksize: all results, any order.
TEST(ThreadPool, ImapUnorderedChunked) {
    ThreadPool pool(4);
    std::vector<int> all;
    for (int value : pool.imap_unordered(square, range(100), 7)) all.push_back(value);
    std::sort(all.begin(), all.end());
    EXPECT_EQ(all, squares(100));
}

// Python test_imap_handle_iterable_exception-like: a call's exception is raised
// at its place by next(), and the iteration goes on after it.
TEST(ThreadPool, ImapRaisesAtThePositionAndContinues) {
    ThreadPool pool(3);
    auto it = pool.imap(
        [](int x) {
            if (x == 3) throw CustomError("three");
            return x;
        },
        range(6));
    for (int expected = 0; expected < 3; ++expected) EXPECT_EQ(it.next(10s), expected);
    EXPECT_THROW(it.next(10s), CustomError);
    EXPECT_EQ(it.next(10s), 4);
    EXPECT_EQ(it.next(10s), 5);
    EXPECT_FALSE(it.next(10s).has_value());
}

namespace {
/// An input whose element `fail_at` throws when read (Python's
/// exception-raising generator in test_imap_handle_iterable_exception).
auto failing_input(int count, int fail_at) {
    return std::views::iota(0, count) | std::views::transform([fail_at](int x) {
               if (x == fail_at) throw CustomError("input broke");
               return x;
           });
}
}  // namespace

// Python test_imap_handle_iterable_exception: an exception raised by the input is delivered by next() at its place.
TEST(ThreadPool, ImapDeliversInputExceptionsAtTheirPlace) {
    ThreadPool pool(2);
    auto it = pool.imap(square, failing_input(10, 4), 1, 2);
    for (int i = 0; i < 4; ++i) EXPECT_EQ(it.next(10s), i * i);
    EXPECT_THROW(it.next(10s), CustomError);
    EXPECT_FALSE(it.next(10s).has_value());

    auto unordered = pool.imap_unordered(square, failing_input(10, 4), 1, 2);
    std::vector<int> got;
    EXPECT_THROW(
        {
            while (auto value = unordered.next(10s)) got.push_back(*value);
        },
        CustomError);
    std::sort(got.begin(), got.end());
    EXPECT_EQ(got, (std::vector<int>{0, 1, 4, 9}));
}

namespace {
/// Counts how far the pool reads its input ahead of what was consumed.
struct ReadAhead {
    std::atomic<long long> reads{0};
    long long consumed = 0;
    long long worst = 0;
    void consume() {
        ++consumed;
        worst = std::max(worst, reads.load() - consumed);
    }
};
}  // namespace

// tandem: imap over 100 million inputs reads a bounded window ahead: at
// most (buffersize + 1) chunks beyond what was consumed (Python reads it all).
TEST(ThreadPool, ImapReadAheadIsBounded) {
    ThreadPool pool(4);
    constexpr long long total = 100'000'000;
    constexpr std::size_t chunksize = 16;
    constexpr std::size_t buffersize = 8;
    for (bool ordered : {true, false}) {
        ReadAhead counter;
        auto inputs = std::views::iota(0LL, total) | std::views::transform([&counter](long long x) {
                          counter.reads.fetch_add(1);
                          return x;
                      });
        auto fn = [](long long x) { return x + 1; };
        {
            auto results = ordered ? pool.imap(fn, inputs, chunksize, buffersize)
                                   : pool.imap_unordered(fn, inputs, chunksize, buffersize);
            for (int i = 0; i < 20'000; ++i) {
                ASSERT_TRUE(results.next(10s).has_value());
                counter.consume();
            }
        }  // dropped early: the rest of the 100 million is never read
        EXPECT_LE(counter.worst, static_cast<long long>((buffersize + 1) * chunksize)) << "ordered " << ordered;
        EXPECT_LE(counter.reads.load(), 20'000 + static_cast<long long>((buffersize + 1) * chunksize));
    }
}

// tandem: an endless (unsized) input works with imap, read only as far as needed.
TEST(ThreadPool, ImapOverAnEndlessInput) {
    ThreadPool pool(2);
    std::atomic<long long> reads{0};
    auto endless = std::views::iota(0LL) | std::views::transform([&reads](long long x) {
                       reads.fetch_add(1);
                       return x;
                   });
    long long sum = 0;
    {
        auto results = pool.imap([](long long x) { return 2 * x; }, endless, 4);
        for (long long value : results) {
            sum += value;
            if (value == 2 * 999) break;
        }
    }
    EXPECT_EQ(sum, 999LL * 1000LL);
    EXPECT_LE(reads.load(), 1000 + (4 * 2 + 1) * 4);  // default buffersize: 4 * processes chunks
}

// tandem: a dropped imap never reads its input again, not even in join() (the input may be gone by then).
TEST(ThreadPool, DroppedImapIsNeverReadAgain) {
    ThreadPool pool(2);
    std::atomic<long long> reads{0};
    for (bool ordered : {true, false}) {
        auto inputs = std::views::iota(0, 1'000'000) | std::views::transform([&reads](int x) {
                          reads.fetch_add(1);
                          return x;
                      });
        auto results = ordered ? pool.imap(square, inputs, 1, 2) : pool.imap_unordered(square, inputs, 1, 2);
        ASSERT_TRUE(results.next(10s).has_value());
    }
    const long long seen = reads.load();
    pool.close();
    pool.join();
    EXPECT_EQ(reads.load(), seen);
    EXPECT_LE(seen, 2 * 4);
}

// --- close / terminate / join --------------------------------------------------------------

// Python: join() on a running pool raises ValueError("Pool is still running").
TEST(ThreadPool, JoinBeforeCloseIsValueError) {
    ThreadPool pool(1);
    try {
        pool.join();
        FAIL() << "join() on a running pool did not throw";
    } catch (const tandem::ValueError& e) {
        EXPECT_STREQ(e.what(), "Pool is still running");
    }
}

// Python _TestPool.test_pool_worker_lifetime-like state checks: work after close() raises ValueError("Pool not running").
TEST(ThreadPool, WorkAfterCloseIsValueError) {
    ThreadPool pool(2);
    pool.close();
    try {
        pool.apply_async(square, 1);
        FAIL() << "apply_async after close() did not throw";
    } catch (const tandem::ValueError& e) {
        EXPECT_STREQ(e.what(), "Pool not running");
    }
    EXPECT_THROW(pool.apply(square, 1), tandem::ValueError);
    EXPECT_THROW(pool.map(square, range(3)), tandem::ValueError);
    EXPECT_THROW(pool.map_async(square, range(3)), tandem::ValueError);
    EXPECT_THROW(pool.imap(square, range(3)), tandem::ValueError);
    EXPECT_THROW(pool.imap_unordered(square, range(3)), tandem::ValueError);
    EXPECT_THROW(pool.starmap(multiply, std::vector<std::tuple<int, int>>{{1, 2}}), tandem::ValueError);
    pool.join();
    pool.join();  // harmless to repeat
    pool.close();
    pool.terminate();  // harmless after close and join
}

// Python: close() lets submitted work finish; join() waits for it.
TEST(ThreadPool, CloseThenJoinFinishesSubmittedWork) {
    ThreadPool pool(2);
    std::atomic<int> done{0};
    std::vector<AsyncResult<int>> results;
    for (int i = 0; i < 50; ++i) {
        results.push_back(pool.apply_async([&done, i] {
            done.fetch_add(1);
            return i;
        }));
    }
    pool.close();
    pool.join();
    EXPECT_EQ(done.load(), 50);
    for (auto& result : results) EXPECT_TRUE(result.ready());
}

// Python: Pool.map is map_async(...).get(), so every chunk is queued before the
// first result is read: the first call can see the whole input read. (Before,
// map read its input a few chunks ahead of the results.)
TEST(ThreadPool, MapQueuesEveryChunkAtOnce) {
    ThreadPool pool(2);
    std::atomic<int> read{0};
    auto inputs = std::views::iota(0, 100) | std::views::transform([&read](int x) {
                      read.fetch_add(1);
                      return x;
                  });
    const auto seen = pool.map(
        [&read](int x) { return x != 0 || eventually([&read] { return read.load() == 100; }); }, inputs, 1);
    ASSERT_EQ(seen.size(), 100u);
    EXPECT_TRUE(seen[0]);
}

// Python: after close() and join(), an imap created before still yields every result
// (tandem reads and submits the rest of its input in join()).
TEST(ThreadPool, ImapSurvivesCloseAndJoin) {
    ThreadPool pool(2);
    auto it = pool.imap(square, range(100), 1, 2);
    pool.close();
    pool.join();
    std::vector<int> results;
    for (int value : it) results.push_back(value);
    EXPECT_EQ(results, squares(100));
}

// Python _TestPool.test_terminate: work not started is dropped; tandem's results say CancelledError.
TEST(ThreadPool, TerminateCancelsQueuedWork) {
    Gate gate;
    ThreadPool pool(1);
    auto opener = gate.opener();
    Gate started;
    auto running = pool.apply_async([&] {
        started.open();
        return gate.wait();
    });
    ASSERT_TRUE(started.wait());
    std::atomic<int> cancelled_callbacks{0};
    std::vector<AsyncResult<int>> queued;
    for (int i = 0; i < 10; ++i) {
        queued.push_back(pool.apply_async(AsyncCallbacks<int>{.error_callback =
                                                                  [&](std::exception_ptr error) {
                                                                      try {
                                                                          std::rethrow_exception(error);
                                                                      } catch (const tandem::CancelledError&) {
                                                                          cancelled_callbacks.fetch_add(1);
                                                                      }
                                                                  }},
                                          square, i));
    }
    auto imap = pool.imap(square, range(10));
    pool.terminate();
    EXPECT_THROW(pool.apply(square, 1), tandem::ValueError);
    gate.open();
    pool.join();
    EXPECT_TRUE(running.get());  // threads cannot be killed: the running task finished
    for (auto& result : queued) {
        EXPECT_TRUE(result.ready());
        EXPECT_THROW(result.get(), tandem::CancelledError);
        EXPECT_FALSE(result.successful());
    }
    EXPECT_EQ(cancelled_callbacks.load(), 10);
    EXPECT_THROW(imap.next(10s), tandem::CancelledError);
}

// Python: terminate() then join() is the other legal ending.
TEST(ThreadPool, TerminateThenJoin) {
    ThreadPool pool(2);
    EXPECT_EQ(pool.apply(square, 2), 4);
    pool.terminate();
    pool.join();
    pool.terminate();
}

// tandem (unlike Python's `with Pool()`, which terminates): the destructor drains every job.
TEST(ThreadPool, DestructorDrains) {
    std::atomic<int> done{0};
    std::vector<AsyncResult<int>> results;
    std::vector<int> delivered;
    std::optional<AsyncResult<std::vector<int>>> mapped;
    {
        ThreadPool pool(2);
        for (int i = 0; i < 100; ++i) {
            results.push_back(pool.apply_async([&done, i] {
                done.fetch_add(1);
                return i;
            }));
        }
        mapped.emplace(pool.map_async(square, range(40), 1,
                                      {.callback = [&](const std::vector<int>& values) { delivered = values; }}));
    }
    EXPECT_EQ(done.load(), 100);
    for (int i = 0; i < 100; ++i) EXPECT_EQ(results[static_cast<std::size_t>(i)].get(0ms), i);
    EXPECT_EQ(mapped->get(0ms), squares(40));
    EXPECT_EQ(delivered, squares(40));
}

// tandem: many threads submit to one pool at once (Python's pool methods are thread-safe).
TEST(ThreadPool, ConcurrentSubmitters) {
    ThreadPool pool(4);
    std::vector<std::thread> submitters;
    std::atomic<long> total{0};
    for (int t = 0; t < 4; ++t) {
        submitters.emplace_back([&pool, &total, t] {
            long sum = 0;
            for (int i = 0; i < 200; ++i) sum += pool.apply_async(square, t + i).get(10s);
            for (int value : pool.imap_unordered(square, range(50))) sum += value;
            total.fetch_add(sum);
        });
    }
    for (auto& thread : submitters) thread.join();
    long expected = 0;
    for (int t = 0; t < 4; ++t) {
        for (int i = 0; i < 200; ++i) expected += (t + i) * (t + i);
        for (int i = 0; i < 50; ++i) expected += i * i;
    }
    EXPECT_EQ(total.load(), expected);
}

// --- Pool: the same face over worker processes ------------------------------------------

namespace {

using tandem::multiprocessing::Pool;
using tandem::multiprocessing::PoolOptions;
using tandem::multiprocessing::StartMethod;

int throw_value_error(int) { throw tandem::ValueError("bad value"); }
int throw_out_of_range(int) { throw std::out_of_range("index 7"); }
int worker_pid(int) { return static_cast<int>(::getpid()); }
int kill_self(int x) {
    if (x == 3) std::raise(SIGKILL);
    return x;
}
bool wait_for_event(tandem::multiprocessing::Event event) { return event.wait(std::chrono::seconds(10)); }
// Set at run time in the test process: a forked worker sees it, a spawned or
// forkserver one (a fresh program image) does not.
int parent_marker = 0;
int read_parent_marker() { return parent_marker; }
int initialized_value = 0;
void set_initialized(int value) { initialized_value = value; }
int read_initialized() { return initialized_value; }

std::size_t open_fd_count() {
    std::size_t count = 0;
    if (DIR* directory = ::opendir("/proc/self/fd")) {
        while (::readdir(directory) != nullptr) ++count;
        ::closedir(directory);
    }
    return count;
}

/// Mappings of /dev/shm files in this process. Counting /dev/shm itself
/// would race with other programs on the machine; a segment the pool left
/// behind would still be mapped or open here.
std::size_t dev_shm_mappings() {
    std::ifstream maps("/proc/self/maps");
    std::size_t count = 0;
    for (std::string line; std::getline(maps, line);) count += line.find("/dev/shm/") != std::string::npos ? 1 : 0;
    return count;
}

bool has_zombie_children() {
    siginfo_t info{};
    return ::waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid != 0;
}

class PoolTest : public testing::TestWithParam<StartMethod> {
protected:
    PoolOptions options(std::size_t processes = 2) const {
        return PoolOptions{.processes = processes, .start_method = GetParam()};
    }
};

}  // namespace

// Python _TestPool.test_apply / test_async, in worker processes, under each start method.
TEST_P(PoolTest, ApplyAndApplyAsync) {
    Pool pool(options());
    EXPECT_EQ(pool.processes(), 2u);
    EXPECT_EQ(pool.apply(square, 5), 25);
    EXPECT_EQ(pool.apply(multiply, 6, 7), 42);
    auto result = pool.apply_async(square, 7);
    EXPECT_EQ(result.get(20s), 49);
    EXPECT_TRUE(result.successful());
    EXPECT_NE(pool.apply(worker_pid, 0), static_cast<int>(::getpid()));
}

// Python _TestPool.test_map / test_starmap / test_imap / test_imap_unordered, in processes.
TEST_P(PoolTest, MapStarmapImap) {
    Pool pool(options());
    EXPECT_EQ(pool.map(square, range(100)), squares(100));
    EXPECT_EQ(pool.map(square, range(100), 7), squares(100));
    std::vector<std::tuple<int, int>> pairs;
    std::vector<int> products;
    for (int i = 0; i < 20; ++i) {
        pairs.emplace_back(i, i + 1);
        products.push_back(i * (i + 1));
    }
    EXPECT_EQ(pool.starmap(multiply, pairs), products);
    EXPECT_EQ(pool.starmap_async(multiply, pairs, 3).get(20s), products);
    std::vector<int> ordered;
    for (int value : pool.imap(square, range(50), 4)) ordered.push_back(value);
    EXPECT_EQ(ordered, squares(50));
    std::vector<int> unordered;
    for (int value : pool.imap_unordered(square, range(50), 3)) unordered.push_back(value);
    std::sort(unordered.begin(), unordered.end());
    EXPECT_EQ(unordered, squares(50));
}

// Python: imap's results are all computed once the pool is closed and joined; in tandem
// the destructor does both, so the iterators outlive the pool and yield everything.
TEST_P(PoolTest, ImapResultsOutliveThePool) {
    std::optional<tandem::multiprocessing::IMapIterator<int>> ordered;
    std::optional<tandem::multiprocessing::IMapIterator<int>> unordered;
    {
        Pool pool(options());
        ordered.emplace(pool.imap(square, range(100), 1, 2));  // 2 chunks ahead: most are not submitted yet
        unordered.emplace(pool.imap_unordered(square, range(60), 3, 1));
    }
    std::vector<int> in_order;
    for (int value : *ordered) in_order.push_back(value);
    EXPECT_EQ(in_order, squares(100));
    std::vector<int> any_order;
    for (int value : *unordered) any_order.push_back(value);
    std::sort(any_order.begin(), any_order.end());
    EXPECT_EQ(any_order, squares(60));
}

// Python: Pool(context=get_context(method)) starts its workers with that method;
// tandem keeps the StartMethod option, which must then agree.
TEST_P(PoolTest, ContextObjectChoosesTheStartMethod) {
    parent_marker = 42;
    Pool pool(PoolOptions{.processes = 1, .context = tandem::multiprocessing::get_context(GetParam())});
    EXPECT_EQ(pool.apply(read_parent_marker), GetParam() == StartMethod::fork ? 42 : 0);
    const StartMethod other = GetParam() == StartMethod::spawn ? StartMethod::fork : StartMethod::spawn;
    EXPECT_THROW(Pool(PoolOptions{.processes = 1,
                                  .start_method = other,
                                  .context = tandem::multiprocessing::get_context(GetParam())}),
                 tandem::ValueError);
}

INSTANTIATE_TEST_SUITE_P(StartMethods, PoolTest,
                         testing::Values(StartMethod::fork, StartMethod::forkserver, StartMethod::spawn),
                         [](const testing::TestParamInfo<StartMethod>& param_info) {
                             return std::string(tandem::multiprocessing::start_method_name(param_info.param));
                         });

// Python: exceptions raised in a worker come back from get() (tandem: typed, as ProcessPoolExecutor delivers them).
TEST(Pool, ExceptionsComeBackTyped) {
    Pool pool(2);
    EXPECT_THROW(pool.apply(throw_value_error, 1), tandem::ValueError);
    EXPECT_THROW(pool.apply_async(throw_out_of_range, 1).get(20s), std::out_of_range);
    EXPECT_THROW(pool.map(throw_value_error, range(10), 3), tandem::ValueError);
    auto it = pool.imap(throw_out_of_range, range(2));
    EXPECT_THROW(it.next(20s), std::out_of_range);
    EXPECT_THROW(it.next(20s), std::out_of_range);
    EXPECT_FALSE(it.next(20s).has_value());
}

// Python: map_async's callback runs once with the whole list, before get() returns.
TEST(Pool, MapAsyncCallback) {
    Pool pool(2);
    std::vector<int> delivered;
    auto result = pool.map_async(square, range(30), std::nullopt,
                                 {.callback = [&](const std::vector<int>& values) { delivered = values; }});
    EXPECT_EQ(result.get(20s), squares(30));
    EXPECT_EQ(delivered, squares(30));
}

// Python _TestPool.test_async_timeout: get(timeout) raises TimeoutError while the worker is busy.
TEST(Pool, GetTimeout) {
    tandem::multiprocessing::Event release;
    Pool pool(1);
    auto result = pool.apply_async(wait_for_event, release);
    EXPECT_THROW(result.get(50ms), tandem::TimeoutError);
    EXPECT_FALSE(result.ready());
    EXPECT_THROW(static_cast<void>(result.successful()), tandem::ValueError);
    release.set();
    EXPECT_TRUE(result.get(20s));
    EXPECT_TRUE(result.successful());
}

// Python: Pool(initializer, initargs) runs initializer(*initargs) in each worker first.
TEST(Pool, InitializerWithArguments) {
    Pool pool(PoolOptions{.processes = 2, .initializer = tandem::Initializer(set_initialized, 7)});
    EXPECT_EQ(pool.apply(read_initialized), 7);
}

// Python _TestPool.test_pool_worker_lifetime: maxtasksperchild replaces workers.
TEST(Pool, MaxTasksPerChildReplacesWorkers) {
    Pool pool(PoolOptions{.processes = 1, .maxtasksperchild = 2});
    std::set<int> pids;
    for (int pid : pool.map(worker_pid, range(6), 1)) pids.insert(pid);
    EXPECT_GE(pids.size(), 3u);
    EXPECT_THROW(Pool(PoolOptions{.processes = 1, .maxtasksperchild = 0}), tandem::ValueError);
    EXPECT_THROW(Pool(0), tandem::ValueError);
}

// tandem (Python's pool hangs, gh-66587): a worker killed mid-task fails only its chunk, with WorkerCrashed.
TEST(Pool, CrashedWorkerFailsOnlyItsTask) {
    Pool pool(2);
    EXPECT_THROW(pool.apply(kill_self, 3), tandem::WorkerCrashed);
    auto it = pool.imap(kill_self, range(6));
    for (int i = 0; i < 3; ++i) EXPECT_EQ(it.next(20s), i);
    EXPECT_THROW(it.next(20s), tandem::WorkerCrashed);
    EXPECT_EQ(it.next(20s), 4);
    EXPECT_EQ(it.next(20s), 5);
    EXPECT_EQ(pool.apply(square, 4), 16);
}

// Python _TestPool.test_terminate: terminate() ends the workers; tandem: nothing hangs, results say why.
TEST(Pool, TerminateEndsEverything) {
    tandem::multiprocessing::Event never;
    Pool pool(1);
    auto running = pool.apply_async(wait_for_event, never);
    std::vector<AsyncResult<int>> queued;
    for (int i = 0; i < 10; ++i) queued.push_back(pool.apply_async(square, i));
    pool.terminate();
    pool.join();
    EXPECT_TRUE(running.ready());
    EXPECT_FALSE(running.successful());
    for (auto& result : queued) EXPECT_TRUE(result.ready());
    EXPECT_THROW(pool.apply(square, 1), tandem::ValueError);
    EXPECT_FALSE(has_zombie_children());
}

// tandem: the destructor drains (close + join), where Python's `with Pool()` terminates.
TEST(Pool, DestructorDrains) {
    std::vector<AsyncResult<int>> results;
    {
        Pool pool(2);
        for (int i = 0; i < 40; ++i) results.push_back(pool.apply_async(square, i));
    }
    for (int i = 0; i < 40; ++i) EXPECT_EQ(results[static_cast<std::size_t>(i)].get(0ms), i * i);
}

// tandem: Pool.imap reads its input only a bounded window ahead.
TEST(Pool, ImapReadAheadIsBounded) {
    Pool pool(2);
    ReadAhead counter;
    auto inputs = std::views::iota(0, 100'000'000) | std::views::transform([&counter](int x) {
                      counter.reads.fetch_add(1);
                      return x;
                  });
    {
        auto results = pool.imap(square, inputs, 8, 4);
        for (int i = 0; i < 2'000; ++i) {
            ASSERT_TRUE(results.next(20s).has_value());
            counter.consume();
        }
    }
    EXPECT_LE(counter.worst, (4 + 1) * 8);
}

// tandem: a Pool leaves no descriptor, no zombie, no shared-memory mapping behind.
TEST(Pool, NothingLeaks) {
    // The first pool of a program starts what lives as long as the program
    // (the forkserver and its socket): counted in before measuring.
    Pool(1).apply(square, 1);
    const std::size_t fds_before = open_fd_count();
    const std::size_t shm_before = dev_shm_mappings();
    {
        Pool pool(2);
        EXPECT_EQ(pool.map(square, range(64)), squares(64));
        EXPECT_THROW(pool.apply(kill_self, 3), tandem::WorkerCrashed);
        pool.close();
        pool.join();
    }
    EXPECT_EQ(open_fd_count(), fds_before);
    EXPECT_EQ(dev_shm_mappings(), shm_before);
    EXPECT_FALSE(has_zombie_children());
}
