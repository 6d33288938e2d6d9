// Tests for tandem/thread_pool_executor.hpp, ported from CPython's
// test_concurrent_futures (ThreadPoolExecutor, executor, shutdown, wait,
// as_completed, initializer) plus tandem's own promise: waiting inside the pool
// never deadlocks it.
#include "tandem/thread_pool_executor.hpp"

#include <gtest/gtest.h>
#include <pthread.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <future>
#include <latch>
#include <memory>
#include <set>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "support/gate.hpp"                              // Gate, eventually
#include "tandem/detail/thread_pool/task_allocator.hpp"  // live_task_caches: the workers' caches go with the last future
#include "tandem/threading/thread.hpp"                   // current_thread, enumerate: workers are Threads
#include "tandem/wait.hpp"

using namespace std::chrono_literals;
using tandem::Future;
using tandem::ThreadPoolExecutor;

namespace {

int square(int x) { return x * x; }

/// The OS name of a thread of this process.
std::string os_thread_name(const std::filesystem::path& task) {
    std::ifstream comm(task / "comm");
    std::string name;
    std::getline(comm, name);
    return name;
}

/// Threads of this process that the OS lists under another name than the main
/// thread's: pool workers (named "<prefix>_<n>") that are still exiting. A
/// sanitizer's own thread, and unnamed threads, carry the main thread's name.
std::size_t named_os_threads() {
    const std::string main_name = os_thread_name("/proc/self");
    std::size_t named = 0;
    for (const auto& task : std::filesystem::directory_iterator("/proc/self/task"))
        named += os_thread_name(task.path()) != main_name ? 1 : 0;
    return named;
}

using tandem_test::eventually;
using tandem_test::Gate;

long fibonacci_in_pool(ThreadPoolExecutor& pool, int n) {
    if (n < 2) return n;
    Future<long> left = pool.submit(fibonacci_in_pool, std::ref(pool), n - 1);
    Future<long> right = pool.submit(fibonacci_in_pool, std::ref(pool), n - 2);
    return left.result() + right.result();
}

}  // namespace

// concurrent.futures: submit() returns a Future whose result is the call's return value.
TEST(ThreadPoolExecutor, SubmitReturnsResult) {
    ThreadPoolExecutor pool(2);
    Future<int> f = pool.submit(square, 8);
    EXPECT_EQ(f.result(10s), 64);
    EXPECT_TRUE(f.done());
    EXPECT_EQ(pool.submit([](int a, int b) { return a + b; }, 2, 3).result(10s), 5);
}

// concurrent.futures: submit() passes keyword-like extra arguments through; void tasks work.
TEST(ThreadPoolExecutor, SubmitVoidAndMoveOnlyArguments) {
    ThreadPoolExecutor pool(2);
    std::atomic<int> hits{0};
    pool.submit([&hits] { ++hits; }).result(10s);
    EXPECT_EQ(hits.load(), 1);
    auto owned = std::make_unique<int>(5);
    EXPECT_EQ(pool.submit([](std::unique_ptr<int>& p) { return *p; }, std::move(owned)).result(10s), 5);
}

// concurrent.futures: an exception raised by the task is re-raised by result(), same type.
TEST(ThreadPoolExecutor, ExceptionKeepsItsType) {
    ThreadPoolExecutor pool(2);
    Future<int> f = pool.submit([]() -> int { throw std::out_of_range("index 7"); });
    EXPECT_THROW(f.result(10s), std::out_of_range);
    try {
        std::rethrow_exception(f.exception());
    } catch (const std::out_of_range& e) {
        EXPECT_STREQ(e.what(), "index 7");
    }
}

// concurrent.futures: tasks run in worker threads, not in the submitting thread.
TEST(ThreadPoolExecutor, RunsInWorkerThreads) {
    ThreadPoolExecutor pool(2);
    EXPECT_NE(pool.submit([] { return std::this_thread::get_id(); }).result(10s), std::this_thread::get_id());
}

// concurrent.futures: max_workers=0 raises ValueError; the default is min(32, cpus + 4).
TEST(ThreadPoolExecutor, MaxWorkers) {
    EXPECT_THROW(ThreadPoolExecutor(tandem::ThreadPoolOptions{.max_workers = 0}), tandem::ValueError);
    ThreadPoolExecutor pool;
    const std::size_t cpus = std::max(1u, std::thread::hardware_concurrency());
    EXPECT_EQ(pool.max_workers(), std::min<std::size_t>(32, cpus + 4));
    EXPECT_EQ(ThreadPoolExecutor(3).max_workers(), 3u);
}

// concurrent.futures: max_workers threads run concurrently (a barrier of max_workers tasks completes).
TEST(ThreadPoolExecutor, MaxWorkersRunConcurrently) {
    ThreadPoolExecutor pool(4);
    std::latch all_started(4);
    std::vector<Future<void>> fs;
    for (int i = 0; i < 4; ++i) fs.push_back(pool.submit([&all_started] { all_started.arrive_and_wait(); }));
    for (auto& f : fs) f.result(30s);
}

// concurrent.futures: an idle thread is reused rather than a new one started (test_idle_thread_reuse).
TEST(ThreadPoolExecutor, IdleThreadReuse) {
    ThreadPoolExecutor pool(4);
    std::set<std::thread::id> threads;
    for (int i = 0; i < 20; ++i) threads.insert(pool.submit([] { return std::this_thread::get_id(); }).result(10s));
    EXPECT_EQ(threads.size(), 1u);
}

namespace {

// The calling thread's OS name (what top and gdb show).
std::string os_name() {
    char buffer[32] = {};
    pthread_getname_np(pthread_self(), buffer, sizeof buffer);
    return buffer;
}

// What threading knows of the calling thread.
struct Seen {
    std::string name;
    std::string os_name;
    bool ident_matches;
    bool listed;
    bool daemon;
};
Seen seen_from_a_task() {
    tandem::threading::Thread& me = tandem::threading::current_thread();
    bool listed = false;
    for (tandem::threading::Thread* thread : tandem::threading::enumerate()) listed = listed || thread == &me;
    return {me.name(), os_name(), me.ident() == tandem::threading::get_ident(), listed, me.daemon()};
}

}  // namespace

// concurrent.futures: thread_name_prefix names the worker threads "<prefix>_<n>":
// threading.current_thread().name in a task, and the OS name.
TEST(ThreadPoolExecutor, ThreadNamePrefix) {
    ThreadPoolExecutor pool(tandem::ThreadPoolOptions{.max_workers = 2, .thread_name_prefix = "SpecialPool"});
    const Seen seen = pool.submit(seen_from_a_task).result(10s);
    EXPECT_TRUE(seen.name == "SpecialPool_0" || seen.name == "SpecialPool_1") << seen.name;
    EXPECT_EQ(seen.os_name, seen.name);
}

// concurrent.futures: a worker is a threading.Thread: current_thread() in a task is
// it (not a dummy), listed by enumerate(), not a daemon (Python 3.9+).
TEST(ThreadPoolExecutor, CurrentThreadInATaskIsTheWorker) {
    ThreadPoolExecutor pool(1);
    const Seen seen = pool.submit(seen_from_a_task).result(10s);
    EXPECT_EQ(seen.name.rfind("Dummy-", 0), std::string::npos) << seen.name;
    EXPECT_TRUE(seen.ident_matches);
    EXPECT_TRUE(seen.listed);
    EXPECT_FALSE(seen.daemon);
    pool.shutdown();
    for (tandem::threading::Thread* thread : tandem::threading::enumerate()) EXPECT_NE(thread->name(), seen.name);
}

// concurrent.futures: the default names are "ThreadPoolExecutor-<k>_<n>", k counting
// the executors created without a prefix. The OS name keeps the distinguishing end
// ("ThreadPoolE-3_0"): Linux keeps 15 bytes, and Python 3.14 would show
// "ThreadPoolExecu" for every pool.
TEST(ThreadPoolExecutor, DefaultThreadName) {
    ThreadPoolExecutor first(1);
    ThreadPoolExecutor second(1);
    const Seen a = first.submit(seen_from_a_task).result(10s);
    const Seen b = second.submit(seen_from_a_task).result(10s);
    const std::string prefix = "ThreadPoolExecutor-";
    ASSERT_EQ(a.name.rfind(prefix, 0), 0u) << a.name;
    ASSERT_EQ(b.name.rfind(prefix, 0), 0u) << b.name;
    ASSERT_EQ(a.name.substr(a.name.size() - 2), "_0");
    const int k = std::stoi(a.name.substr(prefix.size()));
    EXPECT_EQ(b.name, prefix + std::to_string(k + 1) + "_0");
    for (const Seen* seen : {&a, &b}) {
        EXPECT_EQ(seen->os_name, tandem::detail::os_thread_name(seen->name));
        const std::string end = seen->name.substr(prefix.size() - 1);  // "-<k>_0"
        EXPECT_EQ(seen->os_name.substr(seen->os_name.size() - end.size()), end) << seen->os_name;
        EXPECT_EQ(seen->os_name.substr(0, 10), "ThreadPool");
    }
}

// concurrent.futures: running() is true while the call executes, then done().
TEST(ThreadPoolExecutor, RunningWhileExecuting) {
    Gate gate;  // outlives the pool: its tasks wait on it
    ThreadPoolExecutor pool(1);
    const auto open_gate = gate.opener();
    std::atomic<bool> started{false};
    Future<void> f = pool.submit([&] {
        started = true;
        gate.wait();
    });
    ASSERT_TRUE(eventually([&] { return started.load(); }));
    EXPECT_TRUE(f.running());
    EXPECT_FALSE(f.cancel());  // running futures cannot be cancelled
    gate.open();
    f.result(10s);
    EXPECT_FALSE(f.running());
    EXPECT_TRUE(f.done());
}

// concurrent.futures: a pending future can be cancelled and never runs; wait() sees it once the executor does.
TEST(ThreadPoolExecutor, CancelPendingTask) {
    Gate gate;  // outlives the pool: its tasks wait on it
    ThreadPoolExecutor pool(1);
    const auto open_gate = gate.opener();
    std::atomic<bool> started{false};
    Future<void> blocker = pool.submit([&] {
        started = true;
        gate.wait();
    });
    ASSERT_TRUE(eventually([&] { return started.load(); }));
    std::atomic<bool> ran{false};
    Future<void> victim = pool.submit([&ran] { ran = true; });
    EXPECT_TRUE(victim.cancel());
    EXPECT_TRUE(victim.cancelled());
    EXPECT_THROW(victim.result(), tandem::CancelledError);
    gate.open();
    auto [done, not_done] = tandem::wait(std::vector<Future<void>>{blocker, victim}, 10s);
    EXPECT_EQ(done.size(), 2u);
    EXPECT_FALSE(ran.load());
}

// concurrent.futures: submit() after shutdown() raises RuntimeError.
TEST(ThreadPoolExecutor, SubmitAfterShutdown) {
    ThreadPoolExecutor pool(2);
    pool.shutdown();
    EXPECT_THROW(pool.submit(square, 1), tandem::RuntimeError);
    pool.shutdown();  // again: harmless
}

// concurrent.futures: shutdown(wait=True) returns after all queued work ran.
TEST(ThreadPoolExecutor, ShutdownWaitsForQueuedWork) {
    ThreadPoolExecutor pool(2);
    std::atomic<int> count{0};
    std::vector<Future<void>> fs;
    for (int i = 0; i < 1000; ++i) fs.push_back(pool.submit([&count] { ++count; }));
    pool.shutdown(true);
    EXPECT_EQ(count.load(), 1000);
    for (auto& f : fs) EXPECT_TRUE(f.done());
}

// concurrent.futures: shutdown(wait=False) returns at once; queued work still completes.
TEST(ThreadPoolExecutor, ShutdownNoWaitStillRunsQueuedWork) {
    Gate gate;  // outlives the pool: its tasks wait on it
    ThreadPoolExecutor pool(1);
    const auto open_gate = gate.opener();
    Future<void> first = pool.submit([&gate] { gate.wait(); });
    Future<int> second = pool.submit(square, 3);
    pool.shutdown(false);
    EXPECT_FALSE(second.done());
    gate.open();
    EXPECT_EQ(second.result(10s), 9);
}

// concurrent.futures: shutdown(cancel_futures=True) cancels what has not started; running work finishes.
TEST(ThreadPoolExecutor, ShutdownCancelFutures) {
    Gate gate;  // outlives the pool: its tasks wait on it
    ThreadPoolExecutor pool(1);
    const auto open_gate = gate.opener();
    std::atomic<bool> started{false};
    Future<int> running = pool.submit([&] {
        started = true;
        gate.wait();
        return 1;
    });
    ASSERT_TRUE(eventually([&] { return started.load(); }));
    std::vector<Future<int>> queued;
    for (int i = 0; i < 10; ++i) queued.push_back(pool.submit(square, i));
    // The running task is still blocked, so nothing queued can have started.
    pool.shutdown(false, true);
    for (auto& f : queued) {
        EXPECT_TRUE(f.cancelled());
        EXPECT_THROW(f.result(), tandem::CancelledError);
    }
    // Unlike Python, wait() sees the cancellations at once.
    EXPECT_EQ(tandem::wait(queued, 0s).done.size(), queued.size());
    gate.open();
    EXPECT_EQ(running.result(10s), 1);
    pool.shutdown(true);
}

// concurrent.futures: leaving the `with` block (here: the destructor) waits for the work.
TEST(ThreadPoolExecutor, DestructorWaits) {
    std::atomic<int> count{0};
    {
        ThreadPoolExecutor pool(2);
        for (int i = 0; i < 100; ++i) pool.submit([&count] { ++count; });
    }
    EXPECT_EQ(count.load(), 100);
}

// concurrent.futures: the initializer runs once in each worker thread before its tasks.
TEST(ThreadPoolExecutor, InitializerRunsPerThread) {
    static thread_local int initialized = 0;
    std::atomic<int> calls{0};
    ThreadPoolExecutor pool(tandem::ThreadPoolOptions{.max_workers = 2, .initializer = [&calls] {
                                                          initialized = 42;
                                                          ++calls;
                                                      }});
    std::latch both(2);
    auto check = [&both] {
        both.arrive_and_wait();  // forces both workers into existence
        return initialized;
    };
    Future<int> a = pool.submit(check), b = pool.submit(check);
    EXPECT_EQ(a.result(30s), 42);
    EXPECT_EQ(b.result(30s), 42);
    pool.shutdown();
    EXPECT_EQ(calls.load(), 2);
}

// concurrent.futures: a failing initializer breaks the pool; pending work fails with BrokenExecutor,
// and from then on submit() raises it.
TEST(ThreadPoolExecutor, FailingInitializerBreaksPool) {
    testing::internal::CaptureStderr();
    ThreadPoolExecutor pool(tandem::ThreadPoolOptions{
        .max_workers = 2, .initializer = [] { throw std::runtime_error("initializer failed"); }});
    std::vector<Future<int>> fs;
    try {
        for (int i = 0; i < 5; ++i) fs.push_back(pool.submit(square, i));
    } catch (const tandem::BrokenThreadPool&) {
        // the pool may already be broken by the time the later submits run
    }
    ASSERT_FALSE(fs.empty());
    for (auto& f : fs) EXPECT_THROW(f.result(30s), tandem::BrokenExecutor);
    EXPECT_THROW(pool.submit(square, 1), tandem::BrokenThreadPool);
    const std::string err = testing::internal::GetCapturedStderr();
    EXPECT_NE(err.find("Exception in initializer"), std::string::npos);
}

// concurrent.futures: map() yields results in input order.
TEST(ThreadPoolExecutor, MapInOrder) {
    ThreadPoolExecutor pool(4);
    std::vector<int> inputs(1000);
    for (int i = 0; i < 1000; ++i) inputs[static_cast<std::size_t>(i)] = i;
    std::vector<int> results;
    for (int r : pool.map(square, inputs)) results.push_back(r);
    ASSERT_EQ(results.size(), 1000u);
    for (int i = 0; i < 1000; ++i) EXPECT_EQ(results[static_cast<std::size_t>(i)], i * i);
}

// concurrent.futures: map() with chunksize gives the same results; chunksize < 1 raises ValueError.
TEST(ThreadPoolExecutor, MapChunksize) {
    ThreadPoolExecutor pool(2);
    auto results = pool.map(square, std::views::iota(0, 1001), {.chunksize = 37}).to_vector();
    ASSERT_EQ(results.size(), 1001u);
    EXPECT_EQ(results[1000], 1000000);
    EXPECT_THROW(pool.map(square, std::views::iota(0, 3), {.chunksize = 0}), tandem::ValueError);
    EXPECT_THROW(pool.map(square, std::views::iota(0, 3), {.buffersize = 0}), tandem::ValueError);
}

// concurrent.futures: map() over an empty input yields nothing.
TEST(ThreadPoolExecutor, MapEmpty) {
    ThreadPoolExecutor pool(2);
    EXPECT_TRUE(pool.map(square, std::vector<int>{}).to_vector().empty());
}

// concurrent.futures: map() re-raises a call's exception when iteration reaches it.
TEST(ThreadPoolExecutor, MapExceptionAtItsPosition) {
    ThreadPoolExecutor pool(2);
    auto results = pool.map([](int x) { return x == 5 ? throw std::invalid_argument("five") : x; },
                            std::views::iota(0, 10), {.chunksize = 3});
    std::vector<int> seen;
    try {
        for (int r : results) seen.push_back(r);
        FAIL() << "expected invalid_argument";
    } catch (const std::invalid_argument& e) {
        EXPECT_STREQ(e.what(), "five");
    }
    EXPECT_EQ(seen, (std::vector<int>{0, 1, 2, 3, 4}));
}

// concurrent.futures: map(timeout=...) raises TimeoutError when results are late.
TEST(ThreadPoolExecutor, MapTimeout) {
    Gate gate;  // outlives the pool: its tasks wait on it
    ThreadPoolExecutor pool(1);
    const auto open_gate = gate.opener();
    auto results = pool.map(
        [&gate](int x) {
            if (x == 1) gate.wait();
            return x;
        },
        std::views::iota(0, 3), {.timeout = 50ms});
    auto it = results.begin();
    EXPECT_EQ(*it, 0);
    EXPECT_THROW(++it, tandem::TimeoutError);
    gate.open();
}

// tandem: map() reads its input lazily, with a bounded number of chunks in flight.
TEST(ThreadPoolExecutor, MapIsLazyAndBounded) {
    ThreadPoolExecutor pool(2);
    std::atomic<long> produced{0};
    auto counting = std::views::iota(0L, 100'000'000L) | std::views::transform([&produced](long x) {
                        ++produced;
                        return x;
                    });
    auto results = pool.map([](long x) { return x; }, counting, {.chunksize = 10, .buffersize = 4});
    long consumed = 0;
    for (long r : results) {
        EXPECT_EQ(r, consumed);
        if (++consumed == 1000) break;
    }
    // At most buffersize chunks beyond what was consumed were ever read.
    EXPECT_LE(produced.load(), consumed + 10 * 5);
}

// tandem: a task that waits on a future of its own pool never deadlocks, even with one worker
// (Python deadlocks here).
TEST(ThreadPoolExecutor, NestedWaitWithOneWorker) {
    ThreadPoolExecutor pool(1);
    EXPECT_EQ(pool.submit(fibonacci_in_pool, std::ref(pool), 15).result(60s), 610);
}

// tandem: recursive divide-and-conquer on a small pool completes, repeatedly.
TEST(ThreadPoolExecutor, NestedWaitRepeated) {
    ThreadPoolExecutor pool(2);
    for (int round = 0; round < 20; ++round)
        EXPECT_EQ(pool.submit(fibonacci_in_pool, std::ref(pool), 12).result(60s), 144);
}

// tandem: a task waiting in result() on work that runs elsewhere is woken when it completes.
TEST(ThreadPoolExecutor, NestedWaitOnOutsideFuture) {
    ThreadPoolExecutor pool(1);
    auto outside = Future<int>::create();
    Future<int> waiter = pool.submit([outside] { return outside.result(30s) + 1; });
    std::thread completer([outside]() mutable { outside.set_result(41); });
    EXPECT_EQ(waiter.result(30s), 42);
    completer.join();
}

// tandem: a task waiting in result() with a timeout inside the pool gets TimeoutError.
TEST(ThreadPoolExecutor, NestedWaitTimeout) {
    ThreadPoolExecutor pool(1);
    auto never = Future<int>::create();
    Future<bool> f = pool.submit([never] {
        try {
            never.result(30ms);
            return false;
        } catch (const tandem::TimeoutError&) {
            return true;
        }
    });
    EXPECT_TRUE(f.result(30s));
}

// tandem: a task waiting inside the pool is woken by a cancellation of what it waits on.
TEST(ThreadPoolExecutor, NestedWaitWokenByCancel) {
    ThreadPoolExecutor pool(1);
    auto target = Future<int>::create();
    std::atomic<bool> waiting{false};
    Future<bool> f = pool.submit([target, &waiting] {
        waiting = true;
        try {
            target.result(30s);
            return false;
        } catch (const tandem::CancelledError&) {
            return true;
        }
    });
    ASSERT_TRUE(eventually([&] { return waiting.load(); }));
    target.cancel();
    EXPECT_TRUE(f.result(30s));
}

// tandem: wait() in a task on its own children, in a one-worker pool, completes: the worker
// runs the children while it waits (Python deadlocks).
TEST(ThreadPoolExecutor, WaitOnOwnChildrenInOneWorkerPool) {
    ThreadPoolExecutor pool(1);
    Future<int> parent = pool.submit([&pool] {
        std::vector<Future<int>> children;
        for (int i = 0; i < 10; ++i) children.push_back(pool.submit(square, i));
        auto [done, not_done] = tandem::wait(children);
        int sum = 0;
        for (const auto& child : done) sum += child.result();
        return not_done.empty() ? sum : -1;
    });
    EXPECT_EQ(parent.result(60s), 285);
}

// tandem: wait(FIRST_COMPLETED) in a one-worker pool returns once a child has run.
TEST(ThreadPoolExecutor, WaitFirstCompletedOnOwnChildrenInOneWorkerPool) {
    ThreadPoolExecutor pool(1);
    Future<bool> parent = pool.submit([&pool] {
        std::vector<Future<int>> children;
        for (int i = 0; i < 5; ++i) children.push_back(pool.submit(square, i));
        auto [done, not_done] = tandem::wait(children, tandem::FIRST_COMPLETED);
        return !done.empty() && done.size() + not_done.size() == 5;
    });
    EXPECT_TRUE(parent.result(60s));
}

// tandem: as_completed() in a task on its own children, in a one-worker pool, yields them all.
TEST(ThreadPoolExecutor, AsCompletedOnOwnChildrenInOneWorkerPool) {
    ThreadPoolExecutor pool(1);
    Future<int> parent = pool.submit([&pool] {
        std::vector<Future<int>> children;
        for (int i = 0; i < 10; ++i) children.push_back(pool.submit(square, i));
        int sum = 0;
        for (const Future<int>& child : tandem::as_completed(children)) sum += child.result();
        return sum;
    });
    EXPECT_EQ(parent.result(60s), 285);
}

// tandem: recursive fan-out whose parents wait with wait() and as_completed() by turns,
// four levels deep, on one worker.
namespace {
long fan_out(ThreadPoolExecutor& pool, int depth) {
    if (depth == 0) return 1;
    std::vector<Future<long>> children;
    for (int i = 0; i < 4; ++i) children.push_back(pool.submit(fan_out, std::ref(pool), depth - 1));
    long leaves = 0;
    if (depth % 2 == 0) {
        for (const auto& child : tandem::wait(children).done) leaves += child.result();
    } else {
        for (const Future<long>& child : tandem::as_completed(children)) leaves += child.result();
    }
    return leaves;
}
}  // namespace
TEST(ThreadPoolExecutor, RecursiveWaitAndAsCompletedInOneWorkerPool) {
    ThreadPoolExecutor pool(1);
    EXPECT_EQ(pool.submit(fan_out, std::ref(pool), 4).result(60s), 256);
}

// tandem: a worker waiting in wait() on work that completes elsewhere sleeps and is woken.
TEST(ThreadPoolExecutor, WaitInWorkerWokenByOutsideCompletion) {
    ThreadPoolExecutor pool(1);
    auto outside = Future<int>::create();
    std::atomic<bool> waiting{false};
    Future<std::size_t> waiter = pool.submit([outside, &waiting] {
        waiting = true;
        return tandem::wait(std::vector{outside}, 30s).done.size();
    });
    ASSERT_TRUE(eventually([&] { return waiting.load(); }));
    std::this_thread::yield();
    outside.set_result(1);
    EXPECT_EQ(waiter.result(30s), 1u);
}

// tandem: a worker iterating as_completed() over work that completes elsewhere is woken.
TEST(ThreadPoolExecutor, AsCompletedInWorkerWokenByOutsideCompletion) {
    ThreadPoolExecutor pool(1);
    std::vector<Future<int>> outside{Future<int>::create(), Future<int>::create()};
    std::atomic<bool> waiting{false};
    Future<int> waiter = pool.submit([outside, &waiting] {
        waiting = true;
        int sum = 0;
        for (const Future<int>& f : tandem::as_completed(outside, 30s)) sum += f.result();
        return sum;
    });
    ASSERT_TRUE(eventually([&] { return waiting.load(); }));
    std::thread completer([outside]() mutable {
        outside[1].set_result(2);
        outside[0].set_result(1);
    });
    EXPECT_EQ(waiter.result(30s), 3);
    completer.join();
}

// concurrent.futures: wait() and as_completed() with a timeout in a worker time out as elsewhere.
TEST(ThreadPoolExecutor, WaitAndAsCompletedInWorkerTimeOut) {
    ThreadPoolExecutor pool(1);
    auto never = Future<int>::create();
    Future<bool> f = pool.submit([never] {
        const bool waited = tandem::wait(std::vector{never}, 30ms).not_done.size() == 1;
        try {
            for (const auto& done : tandem::as_completed(std::vector{never}, 30ms)) static_cast<void>(done);
            return false;
        } catch (const tandem::TimeoutError&) {
            return waited;
        }
    });
    EXPECT_TRUE(f.result(30s));
}

// tandem: a wide, deep fork-join tree (nested waits inside waits on two workers) completes:
// a waiting worker takes others' work only while less than half its stack is used.
namespace {
std::uint64_t tree_sum(ThreadPoolExecutor& pool, std::uint64_t first, std::uint64_t leaves) {
    if (leaves == 1) return first;
    std::array<Future<std::uint64_t>, 10> children;
    for (std::uint64_t i = 0; i < 10; ++i)
        children[i] = pool.submit(tree_sum, std::ref(pool), first + i * (leaves / 10), leaves / 10);
    std::uint64_t sum = 0;
    for (const auto& child : children) sum += child.result();
    return sum;
}
}  // namespace
TEST(ThreadPoolExecutor, DeepFanOutTreeCompletes) {
    ThreadPoolExecutor pool(2);
    constexpr std::uint64_t leaves = 100'000;
    EXPECT_EQ(pool.submit(tree_sum, std::ref(pool), 0, leaves).result(120s), leaves * (leaves - 1) / 2);
}

// tandem: a waiting worker takes queued work, which may wait in turn, nesting on its stack;
// past half of its stack it takes only its own children. Here every task waits briefly on
// a future that never completes, with 4 KiB of stack of its own: without that limit the
// worker's nesting would overflow its stack long before 10k tasks; with it, they all
// time out and finish.
namespace {
bool wait_in_a_big_frame(const Future<int>& never) {
    volatile char frame[4096];
    frame[0] = 1;
    const bool timed_out = tandem::wait(std::vector{never}, 20ms).done.empty();
    return timed_out && frame[0] == 1;
}
}  // namespace
TEST(ThreadPoolExecutor, NestedWaitsStopTakingOthersWorkPastHalfTheStack) {
    ThreadPoolExecutor pool(1);
    const auto never = Future<int>::create();
    constexpr int tasks = 10'000;
    std::vector<Future<bool>> waits;
    waits.reserve(tasks);
    for (int i = 0; i < tasks; ++i) waits.push_back(pool.submit(wait_in_a_big_frame, never));
    int timed_out = 0;
    for (const auto& f : waits) timed_out += f.result(120s) ? 1 : 0;
    EXPECT_EQ(timed_out, tasks);
}

// tandem: once a pool runs a task, only the pool completes its future: set_result() by hand
// raises InvalidStateError (Python lets it win and breaks the worker instead).
TEST(ThreadPoolExecutor, SetResultOnRunningTaskIsInvalidState) {
    Gate gate;
    ThreadPoolExecutor pool(1);
    const auto open_gate = gate.opener();
    Future<int> f = pool.submit([&gate] {
        gate.wait();
        return 1;
    });
    ASSERT_TRUE(eventually([&] { return f.running(); }));
    EXPECT_THROW(f.set_result(2), tandem::InvalidStateError);
    EXPECT_THROW(f.set_exception(std::runtime_error("by hand")), tandem::InvalidStateError);
    gate.open();
    EXPECT_EQ(f.result(30s), 1);
}

// tandem: futures of tasks that workers submitted outlive the pool and its workers; the
// workers' task caches go once the last of those futures does.
TEST(ThreadPoolExecutor, ChildFuturesOutliveThePool) {
    // This thread's own cache first, and earlier tests' workers gone (their
    // caches with them), so that only this pool's workers' come and go below.
    tandem::detail::deallocate_task(tandem::detail::allocate_task(8), 8);
    ASSERT_TRUE(eventually([] { return named_os_threads() == 0; }));
    const std::size_t caches_before = tandem::detail::live_task_caches();
    std::vector<Future<int>> children;
    {
        ThreadPoolExecutor pool(2);
        children = pool.submit([&pool] {
                           std::vector<Future<int>> made;
                           for (int i = 0; i < 100; ++i) made.push_back(pool.submit(square, i));
                           return made;
                       })
                       .result(30s);
    }
    EXPECT_GT(tandem::detail::live_task_caches(), caches_before);  // held by the children's states
    int sum = 0;
    for (const auto& child : children) sum += child.result(30s);
    EXPECT_EQ(sum, 328350);
    children.clear();
    // join() returns once a worker's target has (Python's); its thread-exit
    // hooks, which retire its cache, may run a moment later.
    EXPECT_TRUE(eventually([&] { return tandem::detail::live_task_caches() == caches_before; }));
}

// tandem: many pools at once, tasks of each submitting to the next, their futures dropped on
// other threads than the ones that made them: every result arrives, no cache leaks.
TEST(ThreadPoolExecutor, ManyPoolsShareTheTaskCaches) {
    constexpr std::size_t count = 12;
    std::vector<std::unique_ptr<ThreadPoolExecutor>> pools;
    for (std::size_t i = 0; i < count; ++i) pools.push_back(std::make_unique<ThreadPoolExecutor>(2));
    std::vector<Future<long>> outer;
    for (std::size_t i = 0; i < count; ++i) {
        ThreadPoolExecutor& next = *pools[(i + 1) % count];
        outer.push_back(pools[i]->submit([&next, i] {
            std::vector<Future<long>> inner;
            for (long k = 0; k < 50; ++k) inner.push_back(next.submit([k, i] { return k + static_cast<long>(i); }));
            long sum = 0;
            for (const auto& f : inner) sum += f.result();
            return sum;
        }));
    }
    long total = 0;
    for (const auto& f : outer) total += f.result(60s);
    EXPECT_EQ(total, static_cast<long>(count) * 1225 + 50 * static_cast<long>(count * (count - 1) / 2));
    outer.clear();
    pools.clear();
}

// concurrent.futures: wait() and as_completed() work on pool futures, also mixed across executors.
TEST(ThreadPoolExecutor, WaitAndAsCompletedAcrossExecutors) {
    ThreadPoolExecutor a(2), b(2);
    std::vector<Future<int>> fs;
    for (int i = 0; i < 10; ++i) fs.push_back((i % 2 ? a : b).submit(square, i));
    int sum = 0;
    for (const Future<int>& f : tandem::as_completed(fs, 30s)) sum += f.result();
    EXPECT_EQ(sum, 285);
    auto [done, not_done] = tandem::wait(fs, 30s);
    EXPECT_EQ(done.size(), 10u);
}

// concurrent.futures: wait(FIRST_EXCEPTION) on pool futures returns on the failure.
TEST(ThreadPoolExecutor, WaitFirstExceptionWithPool) {
    Gate gate;  // outlives the pool: its tasks wait on it
    ThreadPoolExecutor pool(2);
    const auto open_gate = gate.opener();
    Future<int> slow = pool.submit([&gate] {
        gate.wait();
        return 1;
    });
    Future<int> bad = pool.submit([]() -> int { throw std::runtime_error("bad"); });
    auto result = tandem::wait(std::vector{slow, bad}, 30s, tandem::ReturnWhen::FirstException);
    EXPECT_EQ(result.done, std::vector{bad});
    EXPECT_EQ(result.not_done, std::vector{slow});
}

// concurrent.futures: done callbacks run once the pool completes the task.
TEST(ThreadPoolExecutor, DoneCallbackFromWorker) {
    ThreadPoolExecutor pool(2);
    std::promise<int> seen;
    Future<int> f = pool.submit(square, 6);
    f.add_done_callback([&seen](const Future<int>& done) { seen.set_value(done.result()); });
    auto value = seen.get_future();
    ASSERT_EQ(value.wait_for(10s), std::future_status::ready);
    EXPECT_EQ(value.get(), 36);
}

// concurrent.futures: the task's callable and arguments are released once it ran.
TEST(ThreadPoolExecutor, ArgumentsReleasedAfterRun) {
    ThreadPoolExecutor pool(1);
    auto token = std::make_shared<int>(1);
    std::weak_ptr<int> watch = token;
    Future<int> f = pool.submit([](const std::shared_ptr<int>& t) { return *t; }, std::move(token));
    EXPECT_EQ(f.result(10s), 1);
    EXPECT_TRUE(watch.expired());  // f still holds the state, not the arguments
}

// --- stopping a running task (tandem: threads cannot be killed, so a task that
// takes a std::stop_token is asked; Python's cancel() only cancels pending work)

namespace {
// What a cooperative task does: works until asked to stop (bounded: false if never asked).
bool until_stop_requested(const std::stop_token& stop) {
    const auto limit = std::chrono::steady_clock::now() + 20s;
    while (!stop.stop_requested()) {
        if (std::chrono::steady_clock::now() > limit) return false;
        std::this_thread::yield();
    }
    return true;
}
}  // namespace

TEST(ThreadPoolExecutor, StopTokenTaskObservesStop) {
    ThreadPoolExecutor pool(2);
    std::atomic<bool> started{false};
    auto f = pool.submit(
        [&started](std::stop_token stop, int base) {
            started = true;
            return until_stop_requested(stop) ? base + 1 : -1;
        },
        41);
    ASSERT_TRUE(tandem_test::eventually([&] { return started.load(); }));
    EXPECT_FALSE(f.cancel());  // Python's meaning: a running future cannot be cancelled
    EXPECT_TRUE(pool.stop(f));
    EXPECT_EQ(f.result(10s), 42);
    EXPECT_FALSE(pool.stop(f));  // finished: nothing to ask
}

TEST(ThreadPoolExecutor, StopCancelsAPendingTaskAndIgnoresPlainRunningOnes) {
    tandem_test::Gate gate;
    ThreadPoolExecutor pool(1);
    auto opener = gate.opener();
    auto running = pool.submit([&gate] { return gate.wait(); });
    ASSERT_TRUE(tandem_test::eventually([&] { return running.running(); }));
    auto queued = pool.submit([](std::stop_token) { return 1; });
    EXPECT_TRUE(pool.stop(queued));  // not started: cancelled, as cancel() would
    EXPECT_TRUE(queued.cancelled());
    EXPECT_FALSE(pool.stop(running));  // no stop token: a running plain task cannot be stopped
    gate.open();
    EXPECT_TRUE(running.result(10s));
}

// concurrent.futures: shutdown(cancel_futures=True) cancels pending work; tandem also
// asks running stop-token tasks to stop, so the waiting shutdown returns.
TEST(ThreadPoolExecutor, ShutdownCancelFuturesStopsRunningStopTokenTasks) {
    ThreadPoolExecutor pool(2);
    std::atomic<int> started{0};
    auto loop = [&started](std::stop_token stop) {
        ++started;
        return std::string(until_stop_requested(stop) ? "stopped" : "never asked");
    };
    auto a = pool.submit(loop);
    auto b = pool.submit(loop);
    ASSERT_TRUE(tandem_test::eventually([&] { return started.load() == 2; }));
    auto pending = pool.submit(loop);
    pool.shutdown({.wait = true, .cancel_futures = true});
    EXPECT_EQ(a.result(), "stopped");
    EXPECT_EQ(b.result(), "stopped");
    EXPECT_TRUE(pending.cancelled());
}
