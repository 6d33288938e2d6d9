// Stress tests for the thread pool: many tasks, many submitters, nested waits,
// and races between submit, cancel and shutdown. Sized to finish in seconds
// under ThreadSanitizer, which runs them too.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "tandem/thread_pool_executor.hpp"
#include "tandem/wait.hpp"

using namespace std::chrono_literals;
using tandem::Future;
using tandem::ThreadPoolExecutor;

namespace {

long fibonacci_in_pool(ThreadPoolExecutor& pool, int n) {
    if (n < 2) return n;
    Future<long> left = pool.submit(fibonacci_in_pool, std::ref(pool), n - 1);
    const long right = fibonacci_in_pool(pool, n - 2);
    return left.result() + right;
}

/// Ten-way fan-out down to single leaves; each parent waits for its children
/// with result(), wait() or as_completed(), by depth.
std::uint64_t fan_out_sum(ThreadPoolExecutor& pool, std::uint64_t first, std::uint64_t leaves) {
    if (leaves == 1) return first;
    const std::uint64_t each = leaves / 10;
    std::vector<Future<std::uint64_t>> children;
    for (std::uint64_t i = 0; i < 10; ++i) children.push_back(pool.submit(fan_out_sum, std::ref(pool), first + i * each, each));
    std::uint64_t sum = 0;
    switch (leaves % 3) {
        case 0:
            for (const auto& child : children) sum += child.result();
            break;
        case 1:
            for (const auto& child : tandem::wait(children).done) sum += child.result();
            break;
        default:
            for (const auto& child : tandem::as_completed(children)) sum += child.result();
            break;
    }
    return sum;
}

}  // namespace

// tandem: 1,000,000 tiny tasks from 4 submitting threads: none lost, none run twice.
TEST(ThreadPoolStress, MillionTasksFromFourSubmitters) {
    constexpr std::size_t submitters = 4;
    constexpr std::size_t per_submitter = 250'000;
    auto runs = std::make_unique<std::atomic<std::uint8_t>[]>(submitters * per_submitter);
    std::atomic<std::size_t> completed{0};
    {
        ThreadPoolExecutor pool(2);
        std::vector<std::thread> threads;
        for (std::size_t s = 0; s < submitters; ++s) {
            threads.emplace_back([&, s] {
                for (std::size_t i = 0; i < per_submitter; ++i) {
                    const std::size_t id = s * per_submitter + i;
                    pool.submit([&runs, &completed, id] {
                        runs[id].fetch_add(1, std::memory_order_relaxed);
                        completed.fetch_add(1, std::memory_order_relaxed);
                    });
                }
            });
        }
        for (auto& t : threads) t.join();
    }  // the destructor waits for everything queued
    EXPECT_EQ(completed.load(), submitters * per_submitter);
    std::size_t wrong = 0;
    for (std::size_t i = 0; i < submitters * per_submitter; ++i) wrong += runs[i].load() != 1;
    EXPECT_EQ(wrong, 0u);
}

// tandem: repeated nested waits from several outside threads at once never deadlock.
TEST(ThreadPoolStress, RepeatedNestedWaits) {
    ThreadPoolExecutor pool(2);
    std::vector<std::thread> callers;
    std::atomic<int> correct{0};
    for (int c = 0; c < 3; ++c) {
        callers.emplace_back([&] {
            for (int round = 0; round < 30; ++round)
                if (pool.submit(fibonacci_in_pool, std::ref(pool), 14).result(120s) == 377) ++correct;
        });
    }
    for (auto& t : callers) t.join();
    EXPECT_EQ(correct.load(), 90);
}

// tandem: submit racing with shutdown: every submit either raises RuntimeError or its future completes.
TEST(ThreadPoolStress, SubmitRacingShutdown) {
    for (int round = 0; round < 50; ++round) {
        ThreadPoolExecutor pool(2);
        std::vector<Future<int>> accepted[2];
        std::atomic<int> refused{0};
        std::vector<std::thread> submitters;
        for (int s = 0; s < 2; ++s) {
            submitters.emplace_back([&, s] {
                for (int i = 0; i < 200; ++i) {
                    try {
                        accepted[s].push_back(pool.submit([i] { return i; }));
                    } catch (const tandem::RuntimeError&) {
                        ++refused;
                    }
                }
            });
        }
        pool.shutdown(false);
        for (auto& t : submitters) t.join();
        for (auto& list : accepted)
            for (auto& f : list) EXPECT_NO_THROW(f.result(30s));
        EXPECT_EQ(accepted[0].size() + accepted[1].size() + static_cast<std::size_t>(refused.load()), 400u);
    }
}

// tandem: cancel() racing with execution: every future ends either cancelled or finished, never both.
TEST(ThreadPoolStress, CancelRacingExecution) {
    ThreadPoolExecutor pool(2);
    std::atomic<int> ran{0};
    std::vector<Future<void>> fs;
    for (int i = 0; i < 20'000; ++i) fs.push_back(pool.submit([&ran] { ++ran; }));
    int cancelled = 0;
    for (std::size_t i = fs.size(); i-- > 0;) cancelled += fs[i].cancel() ? 1 : 0;
    auto [done, not_done] = tandem::wait(fs, 60s);
    EXPECT_EQ(done.size(), fs.size());
    int cancelled_seen = 0;
    for (auto& f : fs) cancelled_seen += f.cancelled() ? 1 : 0;
    EXPECT_EQ(cancelled_seen, cancelled);
    EXPECT_EQ(ran.load() + cancelled, 20'000);
}

// tandem: as_completed over many pool futures yields each once.
TEST(ThreadPoolStress, AsCompletedManyTasks) {
    ThreadPoolExecutor pool(2);
    std::vector<Future<int>> fs;
    for (int i = 0; i < 20'000; ++i) fs.push_back(pool.submit([i] { return i; }));
    long sum = 0;
    std::size_t count = 0;
    for (const Future<int>& f : tandem::as_completed(fs, 60s)) {
        sum += f.result();
        ++count;
    }
    EXPECT_EQ(count, fs.size());
    EXPECT_EQ(sum, 19'999L * 20'000 / 2);
}

// tandem: fork-join trees from several outside threads at once, parents waiting with
// result(), wait() and as_completed(): every sum right, no deadlock, and the tasks'
// states, made on one worker and freed on another or outside, all come back.
TEST(ThreadPoolStress, ForkJoinTreesFromSeveralThreads) {
    ThreadPoolExecutor pool(2);
    constexpr std::uint64_t leaves = 10'000;
    std::vector<std::thread> callers;
    std::atomic<int> correct{0};
    for (int c = 0; c < 3; ++c) {
        callers.emplace_back([&] {
            for (int round = 0; round < 5; ++round)
                if (pool.submit(fan_out_sum, std::ref(pool), 0, leaves).result(120s) == leaves * (leaves - 1) / 2)
                    ++correct;
        });
    }
    for (auto& t : callers) t.join();
    EXPECT_EQ(correct.load(), 15);
}

// tandem: futures made on workers and dropped by outside threads while the workers keep
// making more (every drop a cross-thread free into a worker's cache).
TEST(ThreadPoolStress, FuturesDroppedOnOtherThreadsThanTheirMakers) {
    ThreadPoolExecutor pool(2);
    std::vector<std::thread> droppers;
    std::atomic<long> total{0};
    for (int d = 0; d < 3; ++d) {
        droppers.emplace_back([&] {
            for (int round = 0; round < 50; ++round) {
                std::vector<Future<int>> made = pool.submit([&pool] {
                                                        std::vector<Future<int>> children;
                                                        for (int i = 0; i < 200; ++i)
                                                            children.push_back(pool.submit([i] { return i; }));
                                                        return children;
                                                    })
                                                    .result(60s);
                long sum = 0;
                for (const auto& f : made) sum += f.result(60s);
                total += sum;
            }  // `made` goes here, on this thread
        });
    }
    for (auto& t : droppers) t.join();
    EXPECT_EQ(total.load(), 3L * 50 * (199L * 200 / 2));
}
