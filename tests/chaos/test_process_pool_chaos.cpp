// Chaos: 20,000 tiny tasks while another thread SIGKILLs a random worker
// every few milliseconds. Every future ends (a result or WorkerCrashed);
// with max_retries = 3 every task succeeds; the pool stays usable; no
// descriptor, zombie or shared-memory entry is left behind.
#include <gtest/gtest.h>  // TEST, EXPECT_*

#include <dirent.h>    // counting /proc/self/fd and /dev/shm
#include <sys/wait.h>  // waitpid(WNOHANG): no zombie is left

#include <atomic>              // the killer's count
#include <chrono>              // pacing and bounds
#include <condition_variable>  // the killer's paced, stoppable wait
#include <csignal>             // SIGKILL
#include <cstdio>              // std::printf of what happened
#include <mutex>               // with the condition variable
#include <random>              // which worker dies
#include <thread>              // the killer
#include <vector>              // futures

#include "tandem/errors.hpp"                 // WorkerCrashed
#include "tandem/process_pool_executor.hpp"  // ProcessPoolExecutor

namespace {

// The first forkserver child starts the forkserver, whose descriptors stay
// open for the rest of the program: started before descriptors are counted.
void start_forkserver() {
    tandem::ProcessPoolExecutor warm_up({.max_workers = 1});
    EXPECT_EQ(warm_up.submit([](int x) { return x; }, 1).result(std::chrono::seconds(20)), 1);
}

using namespace std::chrono_literals;

int increment(int x) { return x + 1; }

std::size_t entries(const char* path) {
    std::size_t count = 0;
    if (DIR* directory = ::opendir(path)) {
        while (::readdir(directory) != nullptr) ++count;
        ::closedir(directory);
    }
    return count;
}

// Kills a random live worker of `pool` every `period` until stopped.
class Killer {
public:
    Killer(tandem::ProcessPoolExecutor& pool, std::chrono::milliseconds period)
        : thread_([this, &pool, period] { run(pool, period); }) {}
    ~Killer() { stop(); }
    void stop() {
        {
            std::lock_guard lock(mutex_);
            stopping_ = true;
        }
        wake_.notify_all();
        if (thread_.joinable()) thread_.join();
    }
    int kills() const { return kills_.load(); }

private:
    void run(tandem::ProcessPoolExecutor& pool, std::chrono::milliseconds period) {
        std::mt19937 random(12345);
        std::unique_lock lock(mutex_);
        // A paced loop, not synchronisation: the wait ends at once on stop().
        while (!wake_.wait_for(lock, period, [this] { return stopping_; })) {
            const auto pids = pool.worker_pids();
            if (pids.empty()) continue;
            const pid_t victim = pids[random() % pids.size()];
            if (::kill(victim, SIGKILL) == 0) kills_.fetch_add(1);
        }
    }

    std::mutex mutex_;
    std::condition_variable wake_;
    bool stopping_ = false;
    std::atomic<int> kills_{0};
    std::thread thread_;
};

constexpr int kTasks = 20'000;

// tandem: random worker deaths fail only the tasks they ran; every future ends; the pool carries on.
TEST(ProcessPoolChaos, EveryFutureEndsUnderRandomKills) {
    // The forkserver starts on first use and keeps its descriptors: start it
    // before counting.
    tandem::ProcessPoolExecutor(1).submit(increment, 0).result(20s);
    start_forkserver();
    const std::size_t fds_before = entries("/proc/self/fd");
    const std::size_t shm_before = entries("/dev/shm");
    {
        tandem::ProcessPoolExecutor pool({.max_workers = 2});
        Killer killer(pool, 3ms);
        std::vector<tandem::Future<int>> futures;
        futures.reserve(kTasks);
        for (int i = 0; i < kTasks; ++i) futures.push_back(pool.submit(increment, i));
        int succeeded = 0;
        int crashed = 0;
        for (int i = 0; i < kTasks; ++i) {
            try {
                EXPECT_EQ(futures[static_cast<std::size_t>(i)].result(60s), i + 1);
                ++succeeded;
            } catch (const tandem::WorkerCrashed&) {
                ++crashed;
            }
        }
        killer.stop();
        std::printf("chaos, no retries: %d succeeded, %d crashed, %d kills\n", succeeded, crashed, killer.kills());
        EXPECT_EQ(succeeded + crashed, kTasks);
        EXPECT_LE(crashed, killer.kills());
        EXPECT_EQ(pool.submit(increment, 1).result(20s), 2);  // still usable
    }
    EXPECT_EQ(entries("/proc/self/fd"), fds_before);
    EXPECT_EQ(entries("/dev/shm"), shm_before);
    int status = 0;
    EXPECT_LE(::waitpid(-1, &status, WNOHANG), 0) << "a zombie was left";
}

// tandem: with max_retries = 3 every task succeeds despite the kills.
TEST(ProcessPoolChaos, RetriesMakeEveryTaskSucceed) {
    start_forkserver();
    const std::size_t fds_before = entries("/proc/self/fd");
    {
        tandem::ProcessPoolExecutor pool({.max_workers = 2, .max_retries = 3});
        Killer killer(pool, 3ms);
        std::vector<tandem::Future<int>> futures;
        futures.reserve(kTasks);
        for (int i = 0; i < kTasks; ++i) futures.push_back(pool.submit(increment, i));
        for (int i = 0; i < kTasks; ++i) EXPECT_EQ(futures[static_cast<std::size_t>(i)].result(60s), i + 1);
        killer.stop();
        std::printf("chaos, max_retries=3: all %d succeeded, %d kills\n", kTasks, killer.kills());
        EXPECT_EQ(pool.submit(increment, 1).result(20s), 2);
    }
    EXPECT_EQ(entries("/proc/self/fd"), fds_before);
}

}  // namespace
