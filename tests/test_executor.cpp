// Tests for tandem/executor.hpp: the shape concurrent.futures.Executor gives
// every executor, checked once per executor kind — ThreadPoolExecutor, and
// ProcessPoolExecutor under fork, forkserver and spawn — by typed tests
// written against the tandem::Executor concept: submit, map (with Python's
// eager default and 3.14's buffersize), shutdown with named or positional
// options, the shared Initializer, and as_completed over their futures.
#include "tandem/executor.hpp"

#include <gtest/gtest.h>  // TYPED_TEST, EXPECT_*

#include <atomic>   // counting the inputs read
#include <chrono>   // bounded waits
#include <cstddef>  // std::size_t
#include <memory>   // pools made per kind
#include <ranges>   // inputs
#include <string>   // kind names, messages
#include <vector>   // futures, results

#include "support/gate.hpp"                        // eventually
#include "tandem/errors.hpp"                       // RuntimeError, ValueError
#include "tandem/initializer.hpp"                  // Initializer
#include "tandem/multiprocessing/context.hpp"      // StartMethod
#include "tandem/multiprocessing/pool.hpp"         // Pool: not an Executor
#include "tandem/multiprocessing/synchronize.hpp"  // Event: holds a worker, in a thread or a process
#include "tandem/process_pool_executor.hpp"        // ProcessPoolExecutor
#include "tandem/thread_pool_executor.hpp"         // ThreadPoolExecutor
#include "tandem/wait.hpp"                         // as_completed

namespace {

using namespace std::chrono_literals;
using tandem::Future;
using tandem::multiprocessing::StartMethod;
using tandem_test::eventually;

// concurrent.futures: both pools are Executors; other types are not.
static_assert(tandem::Executor<tandem::ThreadPoolExecutor>);
static_assert(tandem::Executor<tandem::ProcessPoolExecutor>);
static_assert(!tandem::Executor<tandem::multiprocessing::Pool>);
static_assert(!tandem::Executor<int>);

// --- what the tasks run: plain functions, so that every kind runs them ---------

int square(int x) { return x * x; }

// Holds its worker until `release` is set (bounded); returns 1 if it was.
int hold_until(tandem::multiprocessing::Event release) { return release.wait(std::chrono::seconds(20)) ? 1 : 0; }

// Per worker: each thread of a thread pool, each process of a process pool.
thread_local int initialized_value = 0;
void set_initialized(int value, std::string check) { initialized_value = check == "initargs" ? value : -1; }
int read_initialized(int) { return initialized_value; }

// --- the kinds --------------------------------------------------------------------

struct Threads {
    using Pool = tandem::ThreadPoolExecutor;
    static std::unique_ptr<Pool> make(std::size_t workers, tandem::Initializer initializer = {}) {
        return std::make_unique<Pool>(
            tandem::ThreadPoolOptions{.max_workers = workers, .initializer = std::move(initializer)});
    }
    // How many queued tasks shutdown(cancel_futures) may miss: none.
    static constexpr int kHandedAhead = 0;
};

template <StartMethod Method>
struct Processes {
    using Pool = tandem::ProcessPoolExecutor;
    static std::unique_ptr<Pool> make(std::size_t workers, tandem::Initializer initializer = {}) {
        return std::make_unique<Pool>(tandem::ProcessPoolOptions{
            .max_workers = workers, .start_method = Method, .initializer = std::move(initializer)});
    }
    // A worker is handed one task beyond the one it runs; that one is not cancellable.
    static constexpr int kHandedAhead = 1;
};

struct KindNames {
    template <class Kind>
    static std::string GetName(int) {
        if constexpr (std::is_same_v<Kind, Threads>) {
            return "threads";
        } else if constexpr (std::is_same_v<Kind, Processes<StartMethod::fork>>) {
            return "fork";
        } else if constexpr (std::is_same_v<Kind, Processes<StartMethod::forkserver>>) {
            return "forkserver";
        } else {
            return "spawn";
        }
    }
};

template <class Kind>
class ExecutorTest : public testing::Test {};

using Kinds = testing::Types<Threads, Processes<StartMethod::fork>, Processes<StartMethod::forkserver>,
                             Processes<StartMethod::spawn>>;
TYPED_TEST_SUITE(ExecutorTest, Kinds, KindNames);

// Written once against the concept, as Python code is written against Executor.
long sum_of_squares(tandem::Executor auto& executor, int count) {
    long sum = executor.submit(square, count).result();
    std::vector<int> inputs;
    for (int i = 0; i < count; ++i) inputs.push_back(i);
    for (int y : executor.map(square, inputs, {.chunksize = 3})) sum += y;
    executor.shutdown({.wait = true, .cancel_futures = false});
    return sum;
}

// concurrent.futures: code written against Executor runs on every executor.
TYPED_TEST(ExecutorTest, GenericCodeRunsOnEveryKind) {
    auto pool = TypeParam::make(2);
    EXPECT_EQ(sum_of_squares(*pool, 10), 100 + 285);
    EXPECT_THROW(pool->submit(square, 1), tandem::RuntimeError);  // shut down by the generic code
}

// --- as_completed ------------------------------------------------------------------

// concurrent.futures: as_completed holds its own references, so the caller may drop
// the futures while iterating. Regression: a heap-use-after-free under ASan on
// every executor kind.
TYPED_TEST(ExecutorTest, AsCompletedWhileTheCallerDropsTheFutures) {
    auto pool = TypeParam::make(2);
    std::vector<Future<int>> futures;
    for (int i = 0; i < 40; ++i) futures.push_back(pool->submit(square, i));
    auto range = tandem::as_completed(futures, 60s);
    futures.clear();
    long sum = 0;
    int count = 0;
    for (const Future<int>& f : range) {
        sum += f.result();
        ++count;
    }
    EXPECT_EQ(count, 40);
    EXPECT_EQ(sum, 39L * 40 * 79 / 6);
}

// --- map: Python's eager default -------------------------------------------------------

// concurrent.futures: map() submits every input before it returns, so after
// shutdown(wait=True) every result is still readable and nothing raises
// RuntimeError (100 inputs: more than any buffer).
TYPED_TEST(ExecutorTest, MapResultsSurviveShutdown) {
    for (std::size_t chunksize : {1, 7}) {
        auto pool = TypeParam::make(2);
        auto results = pool->map(square, std::views::iota(0, 100), {.chunksize = chunksize});
        pool->shutdown({.wait = true});
        int expected = 0;
        for (int y : results) {
            EXPECT_EQ(y, expected * expected);
            ++expected;
        }
        EXPECT_EQ(expected, 100) << "chunksize " << chunksize;
    }
}

// concurrent.futures: the same when the executor is gone (Python's `with` block
// ends, the result iterator lives on).
TYPED_TEST(ExecutorTest, MapResultsSurviveTheExecutor) {
    auto pool = TypeParam::make(2);
    std::vector<int> inputs;
    for (int i = 0; i < 100; ++i) inputs.push_back(i);
    auto results = pool->map(square, inputs, {.chunksize = 3});
    pool.reset();
    inputs.clear();  // read by map(): never touched again
    const std::vector<int> all = results.to_vector();
    ASSERT_EQ(all.size(), 100u);
    for (int i = 0; i < 100; ++i) EXPECT_EQ(all[static_cast<std::size_t>(i)], i * i);
}

// concurrent.futures: map() after shutdown raises RuntimeError at once.
TYPED_TEST(ExecutorTest, MapAfterShutdownRaises) {
    auto pool = TypeParam::make(1);
    pool->shutdown();
    EXPECT_THROW(pool->map(square, std::vector<int>{1, 2}), tandem::RuntimeError);
}

// --- map: buffersize (Python 3.14) ---------------------------------------------------------

// Python 3.14: with buffersize the input is read lazily, at most buffersize tasks ahead.
TYPED_TEST(ExecutorTest, BuffersizeReadsTheInputLazily) {
    auto pool = TypeParam::make(2);
    std::atomic<int> produced{0};
    auto counting = std::views::iota(0, 1'000'000) | std::views::transform([&produced](int x) {
                        ++produced;
                        return x;
                    });
    auto results = pool->map(square, counting, {.chunksize = 5, .buffersize = 3});
    int consumed = 0;
    for (int y : results) {
        EXPECT_EQ(y, consumed * consumed);
        if (++consumed == 50) break;
    }
    // What was consumed, plus at most buffersize chunks ahead of it.
    EXPECT_LE(produced.load(), consumed + 5 * 3);
}

// tandem's buffersize shutdown rule: what was submitted is still yielded after
// shutdown; where the first unsubmitted input would be, RuntimeError.
TYPED_TEST(ExecutorTest, BuffersizeAfterShutdownYieldsWhatWasSubmittedThenRaises) {
    auto pool = TypeParam::make(2);
    auto results = pool->map(square, std::views::iota(0, 100), {.buffersize = 4});
    auto it = results.begin();
    EXPECT_EQ(*it, 0);
    ++it;
    EXPECT_EQ(*it, 1);  // two taken: 4 + 2 submitted
    pool->shutdown({.wait = true});
    int next = 2;
    try {
        for (++it; it != results.end(); ++it) {
            EXPECT_EQ(*it, next * next);
            ++next;
        }
        FAIL() << "expected RuntimeError";
    } catch (const tandem::RuntimeError& error) {
        EXPECT_STREQ(error.what(), "cannot schedule new futures after shutdown");
    }
    EXPECT_EQ(next, 6);
}

// The same once the executor is destroyed: no dangling executor, the same error.
TYPED_TEST(ExecutorTest, BuffersizeAfterTheExecutorIsGone) {
    auto pool = TypeParam::make(1);
    auto results = pool->map(square, std::views::iota(0, 100), {.chunksize = 2, .buffersize = 2});
    pool.reset();
    std::vector<int> seen;
    EXPECT_THROW(
        {
            for (int y : results) seen.push_back(y);
        },
        tandem::RuntimeError);
    EXPECT_EQ(seen, (std::vector<int>{0, 1, 4, 9}));
}

// --- shutdown ------------------------------------------------------------------------------

// concurrent.futures: shutdown(wait=False, cancel_futures=True) cancels what has
// not started, named or positional; the running task finishes.
TYPED_TEST(ExecutorTest, ShutdownCancelsQueuedWorkNamedOrPositional) {
    for (bool named : {true, false}) {
        tandem::multiprocessing::Event release;
        auto pool = TypeParam::make(1);
        Future<int> running = pool->submit(hold_until, release);
        ASSERT_TRUE(eventually([&] { return running.running(); }));
        std::vector<Future<int>> queued;
        for (int i = 0; i < 6; ++i) queued.push_back(pool->submit(square, i));
        if (named) {
            pool->shutdown({.wait = false, .cancel_futures = true});
        } else {
            pool->shutdown(false, true);
        }
        int cancelled = 0;
        for (auto& f : queued) cancelled += f.cancelled() ? 1 : 0;
        EXPECT_GE(cancelled, 6 - TypeParam::kHandedAhead);
        EXPECT_TRUE(queued.back().cancelled());
        release.set();
        EXPECT_EQ(running.result(20s), 1);
        pool->shutdown();
        for (auto& f : queued) EXPECT_TRUE(f.done());
    }
}

// concurrent.futures: shutdown() and shutdown({}) wait for everything submitted.
TYPED_TEST(ExecutorTest, ShutdownWithDefaultOptionsWaits) {
    for (bool braces : {true, false}) {
        auto pool = TypeParam::make(2);
        std::vector<Future<int>> futures;
        for (int i = 0; i < 20; ++i) futures.push_back(pool->submit(square, i));
        if (braces) {
            pool->shutdown({});
        } else {
            pool->shutdown();
        }
        for (auto& f : futures) EXPECT_TRUE(f.done());
        EXPECT_THROW(pool->submit(square, 1), tandem::RuntimeError);
    }
}

// --- the initializer ----------------------------------------------------------------------

// concurrent.futures: initializer(*initargs) runs in each worker before its tasks,
// with the same Initializer for both pools.
TYPED_TEST(ExecutorTest, InitializerWithArguments) {
    auto pool = TypeParam::make(2, {set_initialized, 17, std::string("initargs")});
    for (int i = 0; i < 10; ++i) EXPECT_EQ(pool->submit(read_initialized, i).result(20s), 17);
    for (int value : pool->map(read_initialized, std::views::iota(0, 20))) EXPECT_EQ(value, 17);
}

}  // namespace
