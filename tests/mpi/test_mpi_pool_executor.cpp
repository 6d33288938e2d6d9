// mpi::PoolExecutor under mpirun (3 ranks: the root runs these tests, ranks
// 1 and 2 serve inside mpi::init): results, ordering, exceptions, shutdown,
// cancellation, large payloads, and MPI futures mixed with local ones in
// wait()/as_completed(). Each test names the concurrent.futures /
// mpi4py.futures behaviour it reproduces. Run by CTest as
//   scripts/mpirun.sh -np 3 test_mpi_pool_executor
// and across network namespaces by tests/mpi/netns.sh.
#include <gtest/gtest.h>  // TEST, EXPECT_*
#include <mpi.h>          // MPI_Comm_rank inside tasks (on the serving rank's own thread)

#include <atomic>     // a callback's flag
#include <chrono>     // timeouts
#include <cstddef>    // std::size_t
#include <numeric>    // std::iota
#include <optional>   // an executor destroyed before its map results are read
#include <ranges>     // std::views::iota
#include <set>        // ranks that ran tasks
#include <stdexcept>  // std::invalid_argument
#include <string>     // arguments, type names
#include <thread>     // submitting from several threads
#include <vector>     // futures, payloads

#include "file_gate.hpp"                     // FileGate, wait_for_file: holding a serving rank
#include "support/gate.hpp"                  // eventually
#include "tandem/errors.hpp"                 // RemoteError, ValueError, RuntimeError, TimeoutError, CancelledError
#include "tandem/executor.hpp"               // the Executor concept
#include "tandem/mpi/pool_executor.hpp"      // mpi::init, mpi::PoolExecutor
#include "tandem/process_pool_executor.hpp"  // local futures to mix with
#include "tandem/serialization.hpp"          // register_exception
#include "tandem/thread_pool_executor.hpp"   // local futures to mix with
#include "tandem/wait.hpp"                   // wait, as_completed

namespace {

using namespace std::chrono_literals;
using tandem::Future;
using tandem::mpi::PoolExecutor;
using tandem_test::FileGate;

int square(int x) { return x * x; }
std::string greet(std::string name, int times) {
    std::string out;
    for (int i = 0; i < times; ++i) out += "hello " + name + ";";
    return out;
}
void do_nothing() {}
int rank_here() {
    int rank = -1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    return rank;
}
// Holds its rank until the gate's file exists; returns the rank.
int rank_after(std::string gate) {
    if (!gate.empty()) tandem_test::wait_for_file(gate);
    return rank_here();
}
int square_after(std::string gate, int x) {
    tandem_test::wait_for_file(gate);
    return x * x;
}
int square_or_throw(int x) {
    if (x == 5) throw tandem::ValueError("five is not allowed");
    return x * x;
}
std::vector<double> doubled(std::vector<double> values) {
    for (double& value : values) value *= 2;
    return values;
}

struct PricingError : std::runtime_error {
    using std::runtime_error::runtime_error;
};
struct UnknownError : std::runtime_error {
    using std::runtime_error::runtime_error;
};
int throw_invalid_argument(int) { throw std::invalid_argument("negative size"); }
int throw_pricing_error(int) { throw PricingError("no price for 7"); }
int throw_unknown(int) { throw UnknownError("not registered"); }
int throw_int(int) { throw 42; }

// --- results --------------------------------------------------------------------------------

// concurrent.futures: submit(fn, *args) returns a Future whose result() is fn(*args).
TEST(MpiPoolExecutor, SubmitReturnsTheResult) {
    PoolExecutor pool;
    EXPECT_EQ(pool.submit(square, 7).result(), 49);
    EXPECT_EQ(pool.submit(greet, std::string("mpi"), 2).result(), "hello mpi;hello mpi;");
    Future<void> nothing = pool.submit(do_nothing);
    nothing.result();
    EXPECT_TRUE(nothing.done());
    // A captureless lambda travels like a function.
    EXPECT_EQ(pool.submit([](int x) { return x + 1; }, 41).result(), 42);
}

// mpi4py.futures: the root submits, the other ranks run the tasks; with the
// pool kept busy, every serving rank gets work.
TEST(MpiPoolExecutor, TasksRunOnEveryServingRankNeverTheRoot) {
    FileGate gate;  // before the pool: it must outlive the tasks waiting on it
    PoolExecutor pool;
    auto opener = gate.opener();
    ASSERT_EQ(pool.max_workers(), 2U);
    std::vector<Future<int>> held;
    for (int i = 0; i < 4; ++i) held.push_back(pool.submit(rank_after, gate.path()));
    // Two per rank are given out at once: all four are running before the gate opens.
    for (auto& future : held) EXPECT_TRUE(tandem_test::eventually([&] { return future.running(); }));
    gate.open();
    std::set<int> ranks;
    for (auto& future : held) ranks.insert(future.result(10s));
    EXPECT_EQ(ranks, (std::set<int>{1, 2}));
}

// mpi4py.futures: large arguments and results (here 32 MiB each way) travel
// whole.
TEST(MpiPoolExecutor, LargeArgumentAndResult) {
    PoolExecutor pool;
    std::vector<double> values(std::size_t{4} << 20);
    std::iota(values.begin(), values.end(), 0.0);
    const std::vector<double> result = pool.submit(doubled, values).result(30s);
    ASSERT_EQ(result.size(), values.size());
    for (std::size_t i = 0; i < values.size(); i += 4099) EXPECT_EQ(result[i], 2 * values[i]);
    EXPECT_EQ(result.back(), 2 * values.back());
}

// --- map -------------------------------------------------------------------------------------

// concurrent.futures: map() yields results in input order, whatever order
// the calls finish in (the first input is held until all others are done).
TEST(MpiPoolExecutor, MapYieldsInInputOrder) {
    PoolExecutor pool;
    for (std::size_t chunksize : {std::size_t{1}, std::size_t{7}, std::size_t{1000}}) {
        std::vector<int> expected(500);
        for (int i = 0; i < 500; ++i) expected[static_cast<std::size_t>(i)] = i * i;
        EXPECT_EQ(pool.map(square, std::views::iota(0, 500), {.chunksize = chunksize}).to_vector(), expected);
    }
}

// concurrent.futures: the first input, held on its rank while the later
// ones finish, still comes out first.
TEST(MpiPoolExecutor, MapWaitsForAHeldFirstInput) {
    FileGate gate;  // before the pool: it must outlive the tasks waiting on it
    PoolExecutor pool;
    auto opener = gate.opener();
    std::vector<std::string> gates{gate.path(), "", "", "", "", ""};
    auto results = pool.map(rank_after, gates, {.chunksize = 1});
    std::thread open_later([&gate] {
        std::this_thread::sleep_for(100ms);  // the workload: later inputs finish meanwhile
        gate.open();
    });
    const std::vector<int> ranks = results.to_vector();
    open_later.join();
    ASSERT_EQ(ranks.size(), gates.size());
    for (int rank : ranks) EXPECT_TRUE(rank == 1 || rank == 2) << rank;
}

// concurrent.futures: map() raises a call's exception at that call's position.
TEST(MpiPoolExecutor, MapRaisesAtTheFailingInput) {
    PoolExecutor pool;
    std::vector<int> seen;
    auto results = pool.map(square_or_throw, std::views::iota(0, 10), {.chunksize = 3});
    EXPECT_THROW(
        {
            for (int value : results) seen.push_back(value);
        },
        tandem::ValueError);
    EXPECT_EQ(seen, (std::vector<int>{0, 1, 4, 9, 16}));
}

// concurrent.futures: map(timeout=) raises TimeoutError when a result is late.
TEST(MpiPoolExecutor, MapTimesOut) {
    FileGate gate;  // before the pool: it must outlive the tasks waiting on it
    PoolExecutor pool;
    auto opener = gate.opener();
    std::vector<std::string> gates(3, gate.path());
    auto results = pool.map(rank_after, gates, {.timeout = 200ms});
    EXPECT_THROW(static_cast<void>(results.begin()), tandem::TimeoutError);
}

// concurrent.futures: map() validates chunksize before submitting anything.
TEST(MpiPoolExecutor, MapRejectsChunksizeZero) {
    PoolExecutor pool;
    EXPECT_THROW(static_cast<void>(pool.map(square, std::views::iota(0, 3), {.chunksize = 0})), tandem::ValueError);
}

// --- exceptions --------------------------------------------------------------------------------

// concurrent.futures: an exception raised by the call is re-raised by
// result(), with its type; the pool goes on. As from the process pool:
// standard and tandem types come back as themselves, registered types too,
// others as RemoteError naming the type.
TEST(MpiPoolExecutor, ExceptionsComeBackWithTheirTypes) {
    tandem::register_exception<PricingError>();
    PoolExecutor pool;
    EXPECT_THROW(pool.submit(throw_invalid_argument, 1).result(), std::invalid_argument);
    EXPECT_THROW(pool.submit(square_or_throw, 5).result(), tandem::ValueError);
    try {
        pool.submit(throw_pricing_error, 7).result();
        FAIL() << "no exception";
    } catch (const PricingError& e) {
        EXPECT_STREQ(e.what(), "no price for 7");
    }
    try {
        pool.submit(throw_unknown, 1).result();
        FAIL() << "no exception";
    } catch (const tandem::RemoteError& e) {
        EXPECT_NE(e.type_name().find("UnknownError"), std::string::npos) << e.type_name();
        EXPECT_EQ(e.message(), "not registered");
    }
    EXPECT_THROW(pool.submit(throw_int, 1).result(), tandem::RemoteError);
    Future<int> failed = pool.submit(throw_invalid_argument, 2);
    EXPECT_NE(failed.exception(), nullptr);
    // The ranks that raised still serve.
    EXPECT_EQ(pool.submit(square, 12).result(), 144);
}

// --- shutdown ----------------------------------------------------------------------------------

// concurrent.futures: submit() after shutdown() raises RuntimeError;
// shutdown(wait=True) returns once the pending futures are done.
TEST(MpiPoolExecutor, ShutdownWaitsAndRefusesNewWork) {
    FileGate gate;  // before the pool: it must outlive the tasks waiting on it
    PoolExecutor pool;
    std::vector<Future<int>> futures;
    for (int i = 0; i < 6; ++i) futures.push_back(pool.submit(square_after, gate.path(), i));
    std::thread opener([&gate] {
        std::this_thread::sleep_for(100ms);  // the workload: shutdown must outwait it
        gate.open();
    });
    pool.shutdown(true);
    for (auto& future : futures) EXPECT_TRUE(future.done());
    opener.join();
    EXPECT_EQ(futures[5].result(), 25);
    EXPECT_THROW(pool.submit(square, 1), tandem::RuntimeError);
    EXPECT_THROW(static_cast<void>(pool.map(square, std::views::iota(0, 2))), tandem::RuntimeError);
    pool.shutdown();  // again: harmless
}

// concurrent.futures: map() submits every input before it returns, so its
// results stay readable after shutdown(wait=True) and after the executor is
// gone (more inputs than any buffer would hold).
TEST(MpiPoolExecutor, MapResultsOutliveTheExecutor) {
    std::optional<PoolExecutor> pool(std::in_place);
    auto results = pool->map(square, std::views::iota(0, 100));
    pool->shutdown(true);
    pool.reset();
    int expected = 0;
    for (int value : results) {
        EXPECT_EQ(value, expected * expected);
        ++expected;
    }
    EXPECT_EQ(expected, 100);
}

// concurrent.futures.Executor: the MPI executor has the shape generic code
// is written against (tandem/executor.hpp).
static_assert(tandem::Executor<PoolExecutor>);

// mpi4py.futures (python -m mpi4py.futures): every executor on the root
// shares the serving ranks; shutting one down leaves the others working.
TEST(MpiPoolExecutor, ExecutorsShareTheRanks) {
    PoolExecutor first;
    PoolExecutor second;
    first.shutdown(false);
    EXPECT_THROW(first.submit(square, 2), tandem::RuntimeError);
    EXPECT_EQ(second.submit(square, 3).result(), 9);
    PoolExecutor third;
    EXPECT_EQ(third.submit(square, 4).result(), 16);
}

// concurrent.futures: executors are used from many threads at once.
TEST(MpiPoolExecutor, SubmitFromManyThreads) {
    PoolExecutor pool;
    std::vector<std::thread> threads;
    std::vector<long> sums(4, 0);
    for (std::size_t t = 0; t < sums.size(); ++t) {
        threads.emplace_back([&pool, &sums, t] {
            std::vector<Future<int>> futures;
            for (int i = 0; i < 200; ++i) futures.push_back(pool.submit(square, i));
            for (auto& future : futures) sums[t] += future.result();
        });
    }
    for (auto& thread : threads) thread.join();
    for (long sum : sums) EXPECT_EQ(sum, 2646700);
}

// --- cancellation -----------------------------------------------------------------------------

// concurrent.futures: cancel() succeeds for a call not yet given to a worker,
// fails for one that is running; shutdown(cancel_futures=True) cancels the
// pending ones and lets the running ones finish.
TEST(MpiPoolExecutor, CancelQueuedNotRunning) {
    FileGate gate;  // before the pool: it must outlive the tasks waiting on it
    PoolExecutor pool;
    auto opener = gate.opener();
    std::vector<Future<int>> running;
    for (int i = 0; i < 4; ++i) running.push_back(pool.submit(square_after, gate.path(), i));
    for (auto& future : running) ASSERT_TRUE(tandem_test::eventually([&] { return future.running(); }));
    // Both ranks hold two tasks each: these stay on the root.
    Future<int> queued = pool.submit(square, 5);
    Future<int> also_queued = pool.submit(square, 6);
    Future<int> kept = pool.submit(square, 7);
    EXPECT_FALSE(running[0].cancel());
    EXPECT_TRUE(queued.cancel());
    EXPECT_TRUE(queued.cancelled());
    EXPECT_THROW(queued.result(), tandem::CancelledError);
    pool.shutdown(false, true);
    EXPECT_TRUE(also_queued.cancelled());
    EXPECT_TRUE(kept.cancelled());
    // Waiters hear of the cancellation (CANCELLED_AND_NOTIFIED) at once.
    auto [done, not_done] = tandem::wait(std::vector{also_queued, kept}, 5s);
    EXPECT_EQ(done.size(), 2U);
    gate.open();
    for (int i = 0; i < 4; ++i) EXPECT_EQ(running[static_cast<std::size_t>(i)].result(10s), i * i);
}

// concurrent.futures: destroying map()'s iterator early cancels the chunks
// still queued, and the pool goes on.
TEST(MpiPoolExecutor, AbandonedMapCancelsItsQueuedChunks) {
    PoolExecutor pool;
    {
        auto results = pool.map(square, std::views::iota(0, 100000), {.chunksize = 10, .buffersize = 50});
        EXPECT_EQ(*results.begin(), 0);
    }
    EXPECT_EQ(pool.submit(square, 9).result(), 81);
}

// --- mixing executors ----------------------------------------------------------------------------

// concurrent.futures: wait() and as_completed() take futures of any
// executors: here an MPI rank's, a worker process's and a thread's.
TEST(MpiPoolExecutor, WaitAndAsCompletedMixLocalAndMpiFutures) {
    FileGate gate;  // before the pool: it must outlive the tasks waiting on it
    PoolExecutor mpi_pool;
    tandem::ProcessPoolExecutor processes(1);
    tandem::ThreadPoolExecutor threads(1);
    auto opener = gate.opener();
    Future<int> remote = mpi_pool.submit(square_after, gate.path(), 3);
    Future<int> local_process = processes.submit(square, 4);
    Future<int> local_thread = threads.submit([] { return 5 * 5; });
    std::vector<tandem::AnyFuture> all{remote, local_process, local_thread};

    auto [first_done, first_pending] = tandem::wait(all, 10s, tandem::FIRST_COMPLETED);
    EXPECT_GE(first_done.size(), 1U);
    EXPECT_FALSE(remote.done());
    // Both local ones finish while the remote one is held, so it comes last.
    auto [local_done, local_pending] = tandem::wait(std::vector<tandem::AnyFuture>{local_process, local_thread}, 10s);
    EXPECT_EQ(local_done.size(), 2U);
    EXPECT_FALSE(remote.done());

    gate.open();
    std::vector<tandem::AnyFuture> order;
    for (tandem::AnyFuture future : tandem::as_completed(all, 10s)) order.push_back(future);
    EXPECT_EQ(order.size(), 3U);
    EXPECT_EQ(order.back(), tandem::AnyFuture(remote));
    auto [done, not_done] = tandem::wait(all, 1s, tandem::ALL_COMPLETED);
    EXPECT_EQ(done.size(), 3U);
    EXPECT_TRUE(not_done.empty());
    EXPECT_EQ(remote.result() + local_process.result() + local_thread.result(), 9 + 16 + 25);
}

// concurrent.futures: a done-callback runs when the future completes, and
// may submit more work.
TEST(MpiPoolExecutor, DoneCallbackMaySubmit) {
    PoolExecutor pool;
    Future<int> second;
    std::atomic<bool> called{false};
    Future<int> first = pool.submit(square, 2);
    first.add_done_callback([&](const Future<int>& done) {
        second = pool.submit(square, done.result());
        called = true;
    });
    ASSERT_TRUE(tandem_test::eventually([&] { return called.load(); }));
    EXPECT_EQ(second.result(10s), 16);
}

}  // namespace

// The program's main: every rank starts here; ranks 1 and 2 serve inside
// mpi::init() until rank 0 has run the tests and returns.
int main(int argc, char** argv) {
    tandem::mpi::init(argc, argv);
    testing::InitGoogleTest(&argc, argv);
    return RUN_ALL_TESTS();
}
