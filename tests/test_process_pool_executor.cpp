// ProcessPoolExecutor: concurrent.futures' process pool, plus tandem's
// crash isolation, retries, per-task timeouts and transport.
#include <gtest/gtest.h>  // TEST, EXPECT_*

#include <fcntl.h>     // open(O_CREAT | O_EXCL) for the retry marker
#include <sys/wait.h>  // waitpid(WNOHANG): no zombie is left
#include <unistd.h>    // getpid, _exit, pause

#include <algorithm>  // std::reverse, std::find
#include <array>      // a fixed-size span argument
#include <atomic>     // stopping the busy threads
#include <chrono>     // timeouts
#include <csignal>    // raise
#include <cstdint>    // std::uintptr_t: a bad address
#include <cstdio>     // sscanf of /proc/self/maps, fprintf to a worker's stderr
#include <cstdlib>    // std::abort, std::exit
#include <fstream>    // /proc/self/maps
#include <map>        // lines per worker
#include <mutex>      // a lock held by another thread
#include <ranges>     // map() inputs
#include <set>        // distinct worker pids
#include <span>       // span arguments, read in place
#include <stdexcept>  // std::out_of_range
#include <string>     // arguments
#include <thread>     // other threads running in the parent
#include <utility>    // std::pair results
#include <vector>     // results, large payloads

#include "support/child_process.hpp"                 // open_fd_count
#include "support/gate.hpp"                          // eventually
#include "support/hostile_task.hpp"                  // mappings_named: where a span argument lies
#include "tandem/detail/process_pool/task_ring.hpp"  // WorkerArea: a task scribbling over its ring
#include "tandem/detail/process_pool/worker.hpp"     // kCorruptRingStatus
#include "tandem/errors.hpp"                         // WorkerCrashed, BrokenProcessPool, TimeoutError
#include "tandem/multiprocessing/synchronize.hpp"    // Event: holds a worker
#include "tandem/process_pool_executor.hpp"          // ProcessPoolExecutor
#include "tandem/serialization.hpp"                  // remote_traceback
#include "tandem/thread_pool_executor.hpp"           // mixing futures of both executors
#include "tandem/wait.hpp"                           // wait, as_completed

namespace {

using namespace std::chrono_literals;
using tandem::Future;
using tandem::ProcessPoolExecutor;
using tandem::multiprocessing::StartMethod;
using tandem_test::open_fd_count;

int square(int x) { return x * x; }
std::string greet(std::string name, int times) {
    std::string out;
    for (int i = 0; i < times; ++i) out += "hello " + name + ";";
    return out;
}
int throw_value_error(int) { throw tandem::ValueError("bad value"); }
int throw_out_of_range(int) { throw std::out_of_range("index 7"); }
void do_nothing() {}
int worker_pid() { return static_cast<int>(::getpid()); }
int segfault(int) {
    std::raise(SIGSEGV);
    return 0;
}
int abort_task(int) { std::abort(); }
int kill_self(int) {
    std::raise(SIGKILL);
    return 0;
}
int exit_seven(int) { std::exit(7); }
int sleep_forever(int) {
    for (;;) ::pause();
}
// Crashes the first time (it creates `marker`), succeeds afterwards.
int crash_once(std::string marker) {
    const int fd = ::open(marker.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
    if (fd >= 0) {
        ::close(fd);
        std::raise(SIGKILL);
    }
    return 42;
}
// A memory bug in a task: it writes over its worker's reply ring in its area of shared memory
// (found in /proc/self/maps).
int scribble_over_reply_ring(int) {
    std::ifstream maps("/proc/self/maps");
    for (std::string line; std::getline(maps, line);) {
        if (line.find("memfd:tandem:pool-worker") == std::string::npos) continue;
        unsigned long start = 0;
        std::sscanf(line.c_str(), "%lx-", &start);
        auto* area = reinterpret_cast<tandem::detail::process_pool::WorkerArea*>(start);
        area->replies.head.store(area->replies.tail.load() + 1000);
        return 1;
    }
    return 0;
}

// A path where no file is (for crash_once's marker); empty if none could be found.
std::string unused_marker_path() {
    char path[] = "/tmp/tandem-pool-retry-XXXXXX";
    const int fd = ::mkstemp(path);
    if (fd < 0) return {};
    ::close(fd);
    ::unlink(path);
    return path;
}

// As crash_once, with a large argument (written straight into the worker's shared
// buffer): its checksum once it survives.
std::uint64_t crash_once_then_sum(std::string marker, std::vector<std::byte> data) {
    crash_once(std::move(marker));
    std::uint64_t sum = 0;
    for (std::size_t i = 0; i < data.size(); ++i) sum += static_cast<std::uint64_t>(data[i]) * (i % 7 + 1);
    return sum;
}

// Blocks its worker until the test sets `release` (bounded).
int hold_until(tandem::multiprocessing::Event release) {
    return release.wait(std::chrono::seconds(20)) ? static_cast<int>(::getpid()) : -1;
}
std::vector<std::byte> reverse_bytes(std::vector<std::byte> data) {
    std::reverse(data.begin(), data.end());
    return data;
}

int initialized_value = 0;
void set_initialized(int value) { initialized_value = value; }
int read_initialized() { return initialized_value; }
void failing_initializer() { throw tandem::ValueError("cannot initialize"); }
void set_through_pointer(int* target) { *target = 1; }
// Set at run time in the test process: a forked worker sees it, a spawned or
// forkserver one (a fresh program image) does not.
int parent_marker = 0;
int read_parent_marker() { return parent_marker; }
void exiting_initializer() { ::_exit(1); }

// Spins (bounded) until `release` is set: a worker that polls sees it within
// a microsecond, where one asleep on the event would take a wake-up.
bool spin_until_set(const tandem::multiprocessing::Event& release) {
    const auto give_up = std::chrono::steady_clock::now() + 20s;
    while (!release.is_set()) {
        if (std::chrono::steady_clock::now() > give_up) return false;
    }
    return true;
}
int when_released(tandem::multiprocessing::Event release) { return spin_until_set(release) ? 1 : -1; }
// Returns well after `release` (a CPU loop of about 20 ms, not a wait for anything).
int long_after_release(tandem::multiprocessing::Event release) {
    if (!spin_until_set(release)) return -1;
    const auto until = std::chrono::steady_clock::now() + 20ms;
    while (std::chrono::steady_clock::now() < until) {
    }
    return 2;
}
int abort_when_released(tandem::multiprocessing::Event release) {
    if (spin_until_set(release)) std::abort();
    return -1;
}

// The sum of `values`, and 1 if they lie in one of tandem's shared-memory mappings (the call's
// request slot or spill buffer), 0 if they were copied into the worker's own memory.
std::pair<long long, int> sum_and_where(std::span<const int> values) {
    long long sum = 0;
    for (int value : values) sum += value;
    const auto address = reinterpret_cast<unsigned long>(values.data());
    int shared = 0;
    for (const auto& mapping : tandem_test::mappings_named("memfd:tandem:")) {
        if (address >= mapping.start && address < mapping.end) shared = 1;
    }
    return {sum, shared};
}
// A span after a one-byte argument: its elements arrive at an odd offset.
std::pair<long long, int> sum_after_a_char(char, std::span<const int> values) { return sum_and_where(values); }
int abort_after_reading(std::span<const int> values) {
    if (!values.empty() && values.back() >= 0) std::abort();
    return -1;
}
std::vector<int> iota_values(int n) {
    std::vector<int> values(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) values[static_cast<std::size_t>(i)] = i;
    return values;
}
long long sum_to(int n) { return static_cast<long long>(n) * (n - 1) / 2; }

bool has_zombie_children() {
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, WNOHANG);
    return pid > 0;
}

class ProcessPoolTest : public testing::TestWithParam<StartMethod> {
protected:
    tandem::ProcessPoolOptions options(std::size_t workers = 2) {
        return {.max_workers = workers, .start_method = GetParam()};
    }
};

// tandem: a caller waiting in result() reads its own reply from the worker's ring
// and completes its future itself (so the future's done-callbacks run on the caller's thread,
// inside result()), instead of waiting for the collector thread to hand it over. Python's
// waiter sleeps until the executor's manager thread completes the future.
TEST_P(ProcessPoolTest, ACallerWaitingInResultCollectsItsOwnReply) {
    ProcessPoolExecutor pool(options(1));
    const auto caller = std::this_thread::get_id();
    std::atomic<bool> in_result{false};
    int collected_here = 0;
    // Usually the first round; bounded, for a machine so busy that the collector thread keeps
    // getting there first.
    for (int i = 0; i < 200 && collected_here < 3; ++i) {
        auto f = pool.submit(square, i);
        std::atomic<bool> here{false};
        f.add_done_callback([&](const Future<int>&) {
            if (std::this_thread::get_id() == caller && in_result.load()) here = true;
        });
        in_result = true;
        EXPECT_EQ(f.result(20s), i * i);
        in_result = false;
        if (here) ++collected_here;
    }
    EXPECT_EQ(collected_here, 3);
}

// tandem: while it waits for its own future, a caller collects every reply that
// arrives, other futures' too: here another task's, completed on the caller's thread while it
// waits in result() for a task that ends later.
TEST_P(ProcessPoolTest, ACallerCollectsOtherFuturesRepliesWhileItWaits) {
    ProcessPoolExecutor pool(options(2));
    for (int w = 0; w < 4; ++w) EXPECT_EQ(pool.submit(square, w).result(20s), w * w);  // both workers ready
    const auto caller = std::this_thread::get_id();
    std::atomic<bool> in_result{false};
    bool collected_other = false;
    for (int round = 0; round < 50 && !collected_other; ++round) {
        tandem::multiprocessing::Event release;
        auto other = pool.submit(when_released, release);
        auto mine = pool.submit(long_after_release, release);
        std::atomic<bool> here{false};
        other.add_done_callback([&](const Future<int>&) {
            if (std::this_thread::get_id() == caller && in_result.load()) here = true;
        });
        release.set();
        in_result = true;
        EXPECT_EQ(mine.result(20s), 2);
        in_result = false;
        EXPECT_EQ(other.result(20s), 1);
        collected_other = here.load();
    }
    EXPECT_TRUE(collected_other);
}

// tandem: a worker that dies while the caller is collecting replies (the caller
// keeps reading the rings with round trips on the other worker meanwhile) fails only its own
// task, with WorkerCrashed; the caller's round trips all complete, and the pool goes on.
TEST_P(ProcessPoolTest, AWorkerDyingWhileTheCallerCollectsFailsOnlyItsTask) {
    ProcessPoolExecutor pool(options(2));
    for (int w = 0; w < 4; ++w) EXPECT_EQ(pool.submit(square, w).result(20s), w * w);
    tandem::multiprocessing::Event release;
    auto doomed = pool.submit(abort_when_released, release);
    release.set();
    for (int i = 0; i < 300; ++i) ASSERT_EQ(pool.submit(square, i).result(20s), i * i);
    try {
        doomed.result(20s);
        ADD_FAILURE() << "the task returned";
    } catch (const tandem::WorkerCrashed& crash) {
        EXPECT_EQ(crash.signal_number(), SIGABRT);
    }
    EXPECT_EQ(pool.submit(square, 12).result(20s), 144);
}

// tandem: several threads submit and wait at once, each collecting while it waits
// (one at a time holds the collecting role; the others find it taken and keep checking their
// own futures): every thread gets its own results.
TEST_P(ProcessPoolTest, ThreadsThatSubmitAndWaitConcurrentlyAllGetTheirResults) {
    ProcessPoolExecutor pool(options(2));
    std::vector<std::thread> callers;
    std::atomic<int> wrong{0};
    for (int t = 0; t < 3; ++t) {
        callers.emplace_back([&pool, &wrong, t] {
            for (int i = 0; i < 300; ++i) {
                if (pool.submit(square, t * 1000 + i).result(20s) != (t * 1000 + i) * (t * 1000 + i)) ++wrong;
            }
        });
    }
    for (auto& caller : callers) caller.join();
    EXPECT_EQ(wrong.load(), 0);
}

// tandem: a task that takes std::span<const T> reads its argument where it arrived,
// in the pool's shared memory (a ring slot for a small one, a spill buffer for a large one),
// without a copy into the worker's own memory; the caller passes any contiguous range of T.
TEST_P(ProcessPoolTest, ASpanArgumentIsReadInPlaceInSharedMemory) {
    ProcessPoolExecutor pool(options(1));
    for (int n : {0, 100, 1 << 20}) {
        const std::vector<int> values = iota_values(n);
        const auto [sum, shared] = pool.submit(sum_and_where, values).result(20s);
        EXPECT_EQ(sum, sum_to(n)) << n;
        if (n != 0) {
            EXPECT_EQ(shared, 1) << n << " ints were copied";
        }
    }
    const std::array<int, 3> fixed{1, 2, 3};
    EXPECT_EQ(pool.submit(sum_and_where, std::span<const int>(fixed)).result(20s).first, 6);
}

// tandem: a span whose elements arrive misaligned for their type (after a one-byte
// argument) is copied into aligned memory first: the task still sees the right values.
TEST_P(ProcessPoolTest, AMisalignedSpanArgumentIsCopiedFirst) {
    ProcessPoolExecutor pool(options(1));
    const std::vector<int> values = iota_values(5000);
    const auto [sum, shared] = pool.submit(sum_after_a_char, 'x', values).result(20s);
    EXPECT_EQ(sum, sum_to(5000));
    EXPECT_EQ(shared, 0);
}

// tandem: a task that crashes while its span argument lies in shared memory fails
// alone with WorkerCrashed; the replacement worker gets its own buffers, and spans (small and
// large) go on working, as do the tasks queued behind the crash.
TEST_P(ProcessPoolTest, ASpanTaskThatCrashesFailsOnlyItself) {
    ProcessPoolExecutor pool(options(1));
    const std::vector<int> large = iota_values(1 << 20);
    EXPECT_EQ(pool.submit(sum_and_where, large).result(20s).first, sum_to(1 << 20));  // a spill buffer exists
    auto crash = pool.submit(abort_after_reading, large);
    auto behind = pool.submit(sum_and_where, large);
    EXPECT_THROW(crash.result(20s), tandem::WorkerCrashed);
    EXPECT_EQ(behind.result(20s), std::make_pair(sum_to(1 << 20), 1));
    EXPECT_EQ(pool.submit(sum_and_where, iota_values(10)).result(20s), std::make_pair(sum_to(10), 1));
}

// concurrent.futures: submit() returns a Future whose result() is fn(*args).
TEST_P(ProcessPoolTest, SubmitReturnsTheResult) {
    ProcessPoolExecutor pool(options());
    EXPECT_EQ(pool.submit(square, 7).result(), 49);
    EXPECT_EQ(pool.submit(&greet, "ann", 2).result(), "hello ann;hello ann;");
    EXPECT_EQ(pool.submit([](int a, int b) { return a - b; }, 10, 3).result(), 7);
    pool.submit(do_nothing).result();
}

// concurrent.futures: an exception raised in the worker is re-raised by result() with its type.
TEST_P(ProcessPoolTest, ExceptionsComeBackTyped) {
    ProcessPoolExecutor pool(options());
    auto a = pool.submit(throw_value_error, 1);
    auto b = pool.submit(throw_out_of_range, 1);
    EXPECT_THROW(a.result(), tandem::ValueError);
    EXPECT_THROW(b.result(), std::out_of_range);
    EXPECT_EQ(pool.submit(square, 3).result(), 9);  // the pool is fine
}

// concurrent.futures: submit() after shutdown() raises RuntimeError; shutdown twice is harmless.
TEST_P(ProcessPoolTest, SubmitAfterShutdownRaises) {
    ProcessPoolExecutor pool(options());
    auto f = pool.submit(square, 2);
    pool.shutdown();
    EXPECT_EQ(f.result(), 4);
    EXPECT_THROW(pool.submit(square, 2), tandem::RuntimeError);
    pool.shutdown();
}

// concurrent.futures: many tasks, all complete; wait()/as_completed() mix thread- and process-pool futures.
TEST_P(ProcessPoolTest, ManyTasksAndMixedWaits) {
    ProcessPoolExecutor pool(options());
    tandem::ThreadPoolExecutor threads(2);
    std::vector<Future<int>> futures;
    for (int i = 0; i < 2000; ++i) futures.push_back(pool.submit(square, i));
    for (int i = 0; i < 50; ++i) futures.push_back(threads.submit(square, i));
    auto [done, not_done] = tandem::wait(futures, 30s);
    EXPECT_EQ(done.size(), futures.size());
    EXPECT_TRUE(not_done.empty());
    for (int i = 0; i < 2000; ++i) EXPECT_EQ(futures[static_cast<std::size_t>(i)].result(), i * i);
    std::size_t seen = 0;
    for (auto& f : tandem::as_completed(futures, 30s)) {
        static_cast<void>(f);
        ++seen;
    }
    EXPECT_EQ(seen, futures.size());
}

// tandem (Python breaks the pool): a crashing task fails alone with WorkerCrashed naming the signal or status.
TEST_P(ProcessPoolTest, CrashFailsOnlyThatTask) {
    ProcessPoolExecutor pool(options());
    struct Case {
        int (*fn)(int);
        int signal_number;
        int exit_code;
    };
#if defined(__SANITIZE_ADDRESS__)
    // AddressSanitizer reports a segfault and then aborts (abort_on_error=1);
    // LeakSanitizer, run by exit(), may find the task's live allocations and
    // abort too. The crash is still isolated and named; only the signal differs.
    constexpr bool kSanitizerMayAbort = true;
    constexpr int kSanitizerStatus = -1;
#elif defined(__SANITIZE_THREAD__)
    // ThreadSanitizer catches the segfault, reports it and exits with its own
    // status, 66.
    constexpr bool kSanitizerMayAbort = false;
    constexpr int kSanitizerStatus = 66;
#else
    constexpr bool kSanitizerMayAbort = false;
    constexpr int kSanitizerStatus = -1;
#endif
    for (const Case& c : {Case{segfault, SIGSEGV, 0}, Case{abort_task, SIGABRT, 0}, Case{kill_self, SIGKILL, 0},
                          Case{exit_seven, 0, 7}}) {
        auto f = pool.submit(c.fn, 1);
        try {
            f.result(20s);
            ADD_FAILURE() << "the crashing task returned";
        } catch (const tandem::WorkerCrashed& crash) {
            const bool expected = crash.signal_number() == c.signal_number && crash.exit_code() == c.exit_code;
            const bool sanitizer_abort = (kSanitizerMayAbort && crash.signal_number() == SIGABRT) ||
                                         (crash.signal_number() == 0 && crash.exit_code() == kSanitizerStatus);
            EXPECT_TRUE(expected || sanitizer_abort) << crash.what();
            EXPECT_NE(std::string(crash.what()).find(crash.signal_number() != 0 ? "signal" : "status"), std::string::npos);
            EXPECT_GT(crash.pid(), 0);
        }
        EXPECT_EQ(pool.submit(square, 5).result(20s), 25);
    }
    EXPECT_EQ(pool.worker_pids().size(), 2u);
}

// tandem: tasks queued behind a crashing task on the same worker are run again, not failed.
TEST_P(ProcessPoolTest, TasksBehindACrashAreRequeued) {
    ProcessPoolExecutor pool(options(1));
    auto crash = pool.submit(kill_self, 0);
    std::vector<Future<int>> after;
    for (int i = 0; i < 20; ++i) after.push_back(pool.submit(square, i));
    EXPECT_THROW(crash.result(20s), tandem::WorkerCrashed);
    for (int i = 0; i < 20; ++i) EXPECT_EQ(after[static_cast<std::size_t>(i)].result(20s), i * i);
}

// tandem: max_retries runs a crashed task again on a fresh worker.
TEST_P(ProcessPoolTest, MaxRetriesRunsACrashedTaskAgain) {
    const std::string path = unused_marker_path();
    ASSERT_FALSE(path.empty());
    {
        ProcessPoolExecutor pool({.max_workers = 1, .start_method = GetParam(), .max_retries = 1});
        EXPECT_EQ(pool.submit(crash_once, path).result(20s), 42);
    }
    ::unlink(path.c_str());
    {
        ProcessPoolExecutor pool(options(1));
        auto f = pool.submit_with({.max_retries = 0}, crash_once, path);
        EXPECT_THROW(f.result(20s), tandem::WorkerCrashed);
    }
    ::unlink(path.c_str());
}

// tandem: a large call is written once, straight into its worker's shared buffer; the
// buffer stays the call's until the call's reply comes, so when the worker dies the call
// still runs again (max_retries) and the calls queued behind it run elsewhere, each with
// its own bytes, though later calls were written meanwhile.
TEST_P(ProcessPoolTest, LargeCallsRunAgainWithTheirOwnBytesAfterTheirWorkerDies) {
    const std::string path = unused_marker_path();
    ASSERT_FALSE(path.empty());
    const auto data = [](unsigned seed) {
        std::vector<std::byte> bytes((std::size_t{1} << 20) + seed);
        for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<std::byte>((i * 13 + seed) % 251);
        return bytes;
    };
    const auto local_sum = [](const std::vector<std::byte>& bytes) {
        std::uint64_t sum = 0;
        for (std::size_t i = 0; i < bytes.size(); ++i) sum += static_cast<std::uint64_t>(bytes[i]) * (i % 7 + 1);
        return sum;
    };
    const std::string other_marker = path + "-never";
    ASSERT_EQ(::close(::open(other_marker.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600)), 0);  // never crashes
    {
        ProcessPoolExecutor pool({.max_workers = 1, .start_method = GetParam(), .max_retries = 1});
        ASSERT_EQ(pool.submit(square, 3).result(20s), 9);  // the worker is ready: the next calls go in place
        const auto first = data(1), second = data(2), third = data(3);
        auto crashing = pool.submit(crash_once_then_sum, path, first);
        auto behind = pool.submit(crash_once_then_sum, other_marker, second);
        auto later = pool.submit(crash_once_then_sum, other_marker, third);
        EXPECT_EQ(crashing.result(20s), local_sum(first));
        EXPECT_EQ(behind.result(20s), local_sum(second));
        EXPECT_EQ(later.result(20s), local_sum(third));
    }
    ::unlink(path.c_str());
    ::unlink(other_marker.c_str());
}

// tandem: a task past its timeout is killed with its worker and raises TimeoutError; others are untouched.
TEST_P(ProcessPoolTest, PerTaskTimeout) {
    ProcessPoolExecutor pool(options());
    auto hung = pool.submit_with({.timeout = 200ms}, sleep_forever, 0);
    std::vector<Future<int>> others;
    for (int i = 0; i < 50; ++i) others.push_back(pool.submit(square, i));
    EXPECT_THROW(hung.result(20s), tandem::TimeoutError);
    for (int i = 0; i < 50; ++i) EXPECT_EQ(others[static_cast<std::size_t>(i)].result(20s), i * i);
    EXPECT_EQ(pool.submit_with({.timeout = 10s}, square, 6).result(20s), 36);
    EXPECT_THROW(pool.submit_with({.timeout = 0s}, square, 1), tandem::ValueError);
}

// concurrent.futures: the initializer runs in each worker before its tasks.
TEST_P(ProcessPoolTest, InitializerRunsFirst) {
    ProcessPoolExecutor pool({.max_workers = 2, .start_method = GetParam(),
                              .initializer = tandem::Initializer(set_initialized, 17)});
    for (int i = 0; i < 10; ++i) EXPECT_EQ(pool.submit(read_initialized).result(20s), 17);
}

// concurrent.futures: a failing initializer breaks the pool (BrokenProcessPool), and no future hangs.
TEST_P(ProcessPoolTest, FailingInitializerBreaksThePool) {
    ProcessPoolExecutor pool({.max_workers = 2, .start_method = GetParam(),
                              .initializer = tandem::Initializer(failing_initializer)});
    // The pool may break before or after this submit: either way it says so.
    try {
        pool.submit(square, 3).result(20s);
        ADD_FAILURE() << "a task ran without its initializer";
    } catch (const tandem::BrokenProcessPool& broken) {
        EXPECT_NE(std::string(broken.what()).find("cannot initialize"), std::string::npos) << broken.what();
    }
    EXPECT_THROW(pool.submit(square, 3), tandem::BrokenProcessPool);
}

// tandem: workers that keep dying at start (a crash loop) break the pool instead of looping forever.
TEST_P(ProcessPoolTest, CrashLoopBreaksThePool) {
    ProcessPoolExecutor pool({.max_workers = 1, .start_method = GetParam(),
                              .initializer = tandem::Initializer(exiting_initializer)});
    EXPECT_THROW(pool.submit(square, 3).result(20s), tandem::BrokenProcessPool);
}

// concurrent.futures: max_tasks_per_child replaces a worker after that many tasks.
TEST_P(ProcessPoolTest, MaxTasksPerChildReplacesWorkers) {
    ProcessPoolExecutor pool({.max_workers = 1, .start_method = GetParam(), .max_tasks_per_child = 1});
    std::set<int> pids;
    for (int i = 0; i < 4; ++i) pids.insert(pool.submit(worker_pid).result(20s));
    EXPECT_EQ(pids.size(), 4u);
}

// tandem: MiB-sized arguments and results travel through shared memory, intact, one after
// another and several at once (spill buffers reused, grown, and a memfd of its own when all are busy).
TEST_P(ProcessPoolTest, LargeArgumentsAndResults) {
    ProcessPoolExecutor pool(options());
    const auto pattern = [](std::size_t size, unsigned seed) {
        std::vector<std::byte> data(size);
        for (std::size_t i = 0; i < size; ++i) data[i] = static_cast<std::byte>((i * 31 + seed) % 251);
        return data;
    };
    for (std::size_t size : {std::size_t{8} << 20, std::size_t{20000}, std::size_t{3} << 20}) {
        const auto data = pattern(size, static_cast<unsigned>(size));
        std::vector<std::byte> back = pool.submit(reverse_bytes, data).result(20s);
        std::reverse(back.begin(), back.end());
        EXPECT_EQ(back, data);
    }
    std::vector<std::vector<std::byte>> inputs;
    std::vector<Future<std::vector<std::byte>>> futures;
    for (unsigned i = 0; i < 8; ++i) {
        inputs.push_back(pattern((std::size_t{1} << 20) + 4097 * i, i));
        futures.push_back(pool.submit(reverse_bytes, inputs.back()));
    }
    for (unsigned i = 0; i < 8; ++i) {
        std::vector<std::byte> back = futures[i].result(20s);
        std::reverse(back.begin(), back.end());
        EXPECT_EQ(back, inputs[i]) << "task " << i;
    }
}

// concurrent.futures: map() yields fn(x) in input order, chunked, and re-raises at the failing position.
TEST_P(ProcessPoolTest, MapInOrderWithChunks) {
    ProcessPoolExecutor pool(options());
    std::vector<int> inputs(1000);
    for (int i = 0; i < 1000; ++i) inputs[static_cast<std::size_t>(i)] = i;
    std::vector<int> out = pool.map(square, inputs, {.chunksize = 37}).to_vector();
    ASSERT_EQ(out.size(), inputs.size());
    for (int i = 0; i < 1000; ++i) EXPECT_EQ(out[static_cast<std::size_t>(i)], i * i);
    int seen = 0;
    auto failing = pool.map([](int x) { return x == 5 ? throw tandem::ValueError("five") : x; }, inputs, {.chunksize = 4});
    try {
        for (int value : failing) {
            EXPECT_EQ(value, seen);
            ++seen;
        }
        ADD_FAILURE() << "map did not raise";
    } catch (const tandem::ValueError&) {
        EXPECT_EQ(seen, 5);
    }
}

// concurrent.futures: shutdown(cancel_futures=True) cancels what has not started.
TEST_P(ProcessPoolTest, ShutdownCancelsQueuedFutures) {
    ProcessPoolExecutor pool(options(1));
    auto hung = pool.submit_with({.timeout = 300ms}, sleep_forever, 0);
    std::vector<Future<int>> queued;
    for (int i = 0; i < 10; ++i) queued.push_back(pool.submit(square, i));
    pool.shutdown(true, true);
    EXPECT_THROW(hung.result(), tandem::TimeoutError);
    int cancelled = 0;
    for (auto& f : queued) cancelled += f.cancelled() ? 1 : 0;
    EXPECT_GE(cancelled, 8);  // up to kDispatchDepth - 1 were already handed to the worker
}

// Python 3.14: terminate_workers()/kill_workers() end the workers; running tasks fail, nothing hangs.
TEST_P(ProcessPoolTest, TerminateAndKillWorkers) {
    for (bool kill : {false, true}) {
        ProcessPoolExecutor pool(options());
        auto running = pool.submit(sleep_forever, 0);
        auto queued = pool.submit(square, 2);
        if (kill) {
            pool.kill_workers();
        } else {
            pool.terminate_workers();
        }
        EXPECT_TRUE(running.done());
        EXPECT_TRUE(queued.done());
        EXPECT_THROW(running.result(), tandem::BrokenProcessPool);
        EXPECT_THROW(pool.submit(square, 1), tandem::RuntimeError);
    }
}

// tandem: a pool leaves no descriptor, no zombie behind.
TEST_P(ProcessPoolTest, NothingLeaks) {
    {
        // The first forkserver child starts the forkserver, whose descriptors
        // stay open for the rest of the program: start it before counting.
        ProcessPoolExecutor warm_up(options());
        EXPECT_EQ(warm_up.submit(square, 2).result(20s), 4);
    }
    const std::size_t before = open_fd_count();
    {
        ProcessPoolExecutor pool(options());
        EXPECT_EQ(pool.submit(square, 3).result(20s), 9);
        EXPECT_THROW(pool.submit(kill_self, 0).result(20s), tandem::WorkerCrashed);
        std::vector<std::byte> data(1 << 20);
        EXPECT_EQ(pool.submit(reverse_bytes, data).result(20s).size(), data.size());
    }
    EXPECT_EQ(open_fd_count(), before);
    EXPECT_FALSE(has_zombie_children());
}

// tandem: a task that scribbles over the pool's shared memory kills only its worker: the task fails
// with WorkerCrashed, the pool replaces the worker and goes on (no hang, no garbage delivered).
TEST_P(ProcessPoolTest, ScribbledRingFailsOnlyThatTask) {
    ProcessPoolExecutor pool(options(1));
    try {
        pool.submit(scribble_over_reply_ring, 0).result(20s);
        ADD_FAILURE() << "the scribbling task returned";
    } catch (const tandem::WorkerCrashed& crash) {
        // The worker notices first and exits, or the collector does and kills it.
        EXPECT_TRUE(crash.exit_code() == tandem::detail::process_pool::kCorruptRingStatus ||
                    crash.signal_number() == SIGKILL)
            << crash.what();
    }
    EXPECT_EQ(pool.submit(square, 6).result(20s), 36);
}

// tandem: load balancing. While one worker is held by a long task, the others take
// the rest of the work; at most one task (the one handed ahead to the held worker) waits behind it.
TEST_P(ProcessPoolTest, WorkGoesToTheFreeWorker) {
    ProcessPoolExecutor pool(options());
    tandem::multiprocessing::Event release;
    auto held = pool.submit(hold_until, release);
    std::vector<Future<int>> short_tasks;
    for (int i = 0; i < 20; ++i) short_tasks.push_back(pool.submit(worker_pid));
    const auto done_count = [&] {
        int done = 0;
        for (auto& f : short_tasks) done += f.done() ? 1 : 0;
        return done;
    };
    EXPECT_TRUE(tandem_test::eventually([&] { return done_count() >= 19; }));
    EXPECT_FALSE(held.done()) << "the long task is still held";
    release.set();
    const int held_pid = held.result(20s);
    int on_other_worker = 0;
    for (auto& f : short_tasks) on_other_worker += f.result(20s) != held_pid ? 1 : 0;
    EXPECT_GE(on_other_worker, 19);
}

// tandem: a pool works from a parent whose other threads hold a lock and keep malloc busy
// (fork happens on tandem's launcher thread; the child never needs what those threads hold).
TEST_P(ProcessPoolTest, WorksWhileOtherThreadsRun) {
    std::mutex held;
    std::atomic<bool> stop{false};
    std::thread holder([&] {
        std::lock_guard lock(held);
        while (!stop.load()) std::this_thread::yield();
    });
    std::thread allocator([&] {
        while (!stop.load()) {
            std::vector<std::string> garbage(64, std::string(100, 'x'));
        }
    });
    {
        ProcessPoolExecutor pool(options());
        std::vector<Future<int>> futures;
        for (int i = 0; i < 100; ++i) futures.push_back(pool.submit(square, i));
        for (int i = 0; i < 100; ++i) EXPECT_EQ(futures[static_cast<std::size_t>(i)].result(20s), i * i);
    }
    stop = true;
    holder.join();
    allocator.join();
}

// concurrent.futures: dropping map()'s results cancels the calls not yet started (the
// result iterator's finally block), in the worker's queue too. Evidence without
// timing: with max_tasks_per_child = 3 the worker would be replaced if the 30
// chunks ran; only the held task, the one chunk already handed to the worker, and
// the probe run.
TEST_P(ProcessPoolTest, DroppedMapResultsCancelTheirQueuedChunks) {
    tandem::multiprocessing::Event release;
    ProcessPoolExecutor pool({.max_workers = 1, .start_method = GetParam(), .max_tasks_per_child = 3});
    Future<int> held = pool.submit(hold_until, release);
    ASSERT_TRUE(tandem_test::eventually([&] { return held.running(); }));
    static_cast<void>(pool.map(square, std::views::iota(0, 30)));
    release.set();
    const int held_pid = held.result(20s);
    EXPECT_EQ(pool.submit(worker_pid).result(20s), held_pid);
}

// concurrent.futures: ProcessPoolExecutor(mp_context=get_context(method)) starts its
// workers with that method; the StartMethod option stays, and must then agree.
TEST_P(ProcessPoolTest, MpContextChoosesTheStartMethod) {
    parent_marker = 42;
    ProcessPoolExecutor pool(
        tandem::ProcessPoolOptions{.max_workers = 1, .mp_context = tandem::multiprocessing::get_context(GetParam())});
    EXPECT_EQ(pool.submit(read_parent_marker).result(20s), GetParam() == StartMethod::fork ? 42 : 0);
    const StartMethod other = GetParam() == StartMethod::spawn ? StartMethod::fork : StartMethod::spawn;
    try {
        ProcessPoolExecutor mismatched(tandem::ProcessPoolOptions{
            .max_workers = 1, .start_method = other, .mp_context = tandem::multiprocessing::get_context(GetParam())});
        FAIL() << "expected ValueError";
    } catch (const tandem::ValueError& error) {
        EXPECT_NE(std::string(error.what()).find("disagrees"), std::string::npos) << error.what();
    }
    ProcessPoolExecutor agreeing(tandem::ProcessPoolOptions{
        .max_workers = 1, .start_method = GetParam(), .mp_context = tandem::multiprocessing::get_context(GetParam())});
    EXPECT_EQ(agreeing.submit(square, 4).result(20s), 16);
}

INSTANTIATE_TEST_SUITE_P(StartMethods, ProcessPoolTest,
                         testing::Values(StartMethod::fork, StartMethod::forkserver, StartMethod::spawn),
                         [](const testing::TestParamInfo<StartMethod>& param_info) {
                             return std::string(tandem::multiprocessing::start_method_name(param_info.param));
                         });

// tandem: the Initializer both pools share takes any callable, so a process pool says
// at construction why one cannot reach its workers (Python fails pickling it).
TEST(ProcessPoolOptions, InitializerThatCannotTravelIsAValueError) {
    int captured = 0;
    const auto reason = [](const tandem::Initializer& initializer) -> std::string {
        try {
            ProcessPoolExecutor pool(tandem::ProcessPoolOptions{.max_workers = 1, .initializer = initializer});
        } catch (const tandem::ValueError& error) {
            return error.what();
        }
        return "accepted";
    };
    EXPECT_NE(reason([&captured] { captured = 1; }).find("capturing lambda"), std::string::npos);
    EXPECT_NE(reason({set_through_pointer, &captured}).find("initargs"), std::string::npos);
    EXPECT_EQ(captured, 0);  // never called in this process
    // A default context (the program's default method) is fine as mp_context.
    ProcessPoolExecutor pool(tandem::ProcessPoolOptions{.max_workers = 1,
                                                        .mp_context = tandem::multiprocessing::get_context(),
                                                        .initializer = {set_initialized, 5}});
    EXPECT_EQ(pool.submit(read_initialized).result(20s), 5);
}

// concurrent.futures: ProcessPoolExecutor(max_workers=0) raises ValueError.
TEST(ProcessPoolOptions, ZeroIsAValueError) {
    EXPECT_THROW(ProcessPoolExecutor(tandem::ProcessPoolOptions{.max_workers = 0}), tandem::ValueError);
    EXPECT_THROW(ProcessPoolExecutor(tandem::ProcessPoolOptions{.max_tasks_per_child = 0}), tandem::ValueError);
}

}  // namespace

// --- stopping a running task (tandem: Python's cancel() cannot stop a running task; loky #176)

namespace {
// Runs until its worker is killed (bounded: returns after 30 s).
int spin_for_a_while(int value) {
    const auto limit = std::chrono::steady_clock::now() + 30s;
    while (std::chrono::steady_clock::now() < limit) {
    }
    return value;
}
}  // namespace

// tandem: stop() kills only the worker running the task; the future raises CancelledError,
// the other worker's task finishes, and the pool goes on with a replacement.
TEST_P(ProcessPoolTest, StopKillsOnlyThatTasksWorker) {
    ProcessPoolExecutor pool(options());
    tandem::multiprocessing::Event release;
    auto victim = pool.submit(spin_for_a_while, 1);
    auto bystander = pool.submit(hold_until, release);
    ASSERT_TRUE(tandem_test::eventually([&] { return victim.running() && bystander.running(); }));
    const auto before = pool.worker_pids();
    ASSERT_EQ(before.size(), 2u);
    // Handed to the victim's worker (the first of two equally busy ones), behind the victim.
    auto behind = pool.submit(square, 9);
    EXPECT_FALSE(victim.cancel());  // Python's meaning kept: a running future cannot be cancelled
    EXPECT_TRUE(pool.stop(victim));
    // It never started, so it runs again on the worker that replaced the victim's. Waited for
    // before anything else: under GCC 12's ASan a fork while another thread allocates can
    // leave the child stuck on the allocator's lock.
    EXPECT_EQ(behind.result(20s), 81);
    EXPECT_THROW(victim.result(20s), tandem::CancelledError);
    EXPECT_FALSE(pool.stop(victim));  // already stopped
    release.set();
    const int bystander_pid = bystander.result(20s);
    ASSERT_NE(std::find(before.begin(), before.end(), bystander_pid), before.end());
    const pid_t victim_pid = before[0] == bystander_pid ? before[1] : before[0];
    const auto after = pool.worker_pids();
    EXPECT_EQ(after.size(), 2u);
    EXPECT_NE(std::find(after.begin(), after.end(), bystander_pid), after.end());  // untouched
    EXPECT_EQ(std::find(after.begin(), after.end(), victim_pid), after.end());      // replaced
}

// tandem: a task stopped while it waits behind another in its worker's ring never runs
// to completion: its future raises CancelledError, the task ahead of it is untouched.
TEST_P(ProcessPoolTest, StopATaskWaitingInItsWorker) {
    ProcessPoolExecutor pool(options(1));
    tandem::multiprocessing::Event release;
    auto ahead = pool.submit(hold_until, release);
    auto waiting = pool.submit(spin_for_a_while, 2);  // handed to the same worker, behind `ahead`
    ASSERT_TRUE(tandem_test::eventually([&] { return waiting.running(); }));
    EXPECT_TRUE(pool.stop(waiting));
    EXPECT_THROW(waiting.result(20s), tandem::CancelledError);
    release.set();
    EXPECT_GT(ahead.result(20s), 0);
    EXPECT_EQ(pool.submit(square, 3).result(20s), 9);  // the worker that started `waiting` was replaced
}

// concurrent.futures: cancel() of a pending future succeeds; stop() of one does the same.
TEST_P(ProcessPoolTest, StopOfAQueuedTaskCancelsIt) {
    ProcessPoolExecutor pool(options(1));
    tandem::multiprocessing::Event release;
    auto first = pool.submit(hold_until, release);
    auto second = pool.submit(hold_until, release);
    auto queued = pool.submit(square, 4);  // two are in flight per worker: this one waits in the pool
    EXPECT_TRUE(pool.stop(queued));
    EXPECT_TRUE(queued.cancelled());
    release.set();
    EXPECT_GT(first.result(20s), 0);
    EXPECT_GT(second.result(20s), 0);
    auto done = pool.submit(square, 5);
    EXPECT_EQ(done.result(20s), 25);
    EXPECT_FALSE(pool.stop(done));
}

// --- why a task failed: its remote stack, its crash stack, its last stderr lines

namespace {
[[gnu::noinline]] int throw_from_deep_inside(int value) {
    if (value > 0) throw tandem::ValueError("deep failure " + std::to_string(value));
    return value;
}
int call_the_thrower(int value) { return throw_from_deep_inside(value) + 1; }

[[gnu::noinline]] int write_to_bad_address(int value) {
    std::fprintf(stderr, "about to fault with %d\n", value);
    // Neither null nor misaligned (UBSan would catch those first): an unmapped page near zero,
    // read from a volatile so that the compiler does not warn about the write it sees coming.
    const volatile std::uintptr_t bad_address = 64;
    *reinterpret_cast<volatile int*>(bad_address) = value;
    return value;
}
}  // namespace

// multiprocessing: an exception from a worker carries the remote traceback
// (_RemoteTraceback as its __cause__); here the nested RemoteTraceback names the thrower.
TEST_P(ProcessPoolTest, ExceptionBringsTheStackWhereItWasThrown) {
    ProcessPoolExecutor pool(options(1));
    auto f = pool.submit(call_the_thrower, 3);
    try {
        f.result(20s);
        ADD_FAILURE() << "the task returned";
    } catch (const tandem::ValueError& error) {
        EXPECT_STREQ(error.what(), "deep failure 3");
        const std::string stack = tandem::remote_traceback(error);
        EXPECT_NE(stack.find("throw_from_deep_inside"), std::string::npos) << stack;
        EXPECT_EQ(stack.rfind("#0 ", 0), 0u) << stack;
        try {
            std::rethrow_if_nested(error);
            ADD_FAILURE() << "no nested traceback";
        } catch (const tandem::RemoteTraceback& nested) {
            EXPECT_EQ(stack, nested.what());
        }
    }
    // An exception of this process has none.
    EXPECT_EQ(tandem::remote_traceback(tandem::ValueError("local")), "");
    EXPECT_EQ(pool.submit(call_the_thrower, 0).result(20s), 1);
}

// tandem: a worker killed by SIGSEGV reports where (its symbolized stack) and what it said
// last on stderr; Python's pool says only that a process terminated abruptly.
TEST_P(ProcessPoolTest, SegfaultNamesTheFaultingFunctionAndItsLastStderrLine) {
    ProcessPoolExecutor pool(options(1));
    auto f = pool.submit(write_to_bad_address, 5);
    try {
        f.result(20s);
        ADD_FAILURE() << "the crashing task returned";
    } catch (const tandem::WorkerCrashed& crash) {
        EXPECT_NE(crash.stack().find("write_to_bad_address"), std::string::npos) << crash.what();
        EXPECT_NE(crash.last_stderr().find("about to fault with 5\n"), std::string::npos) << crash.what();
        EXPECT_NE(std::string(crash.what()).find("write_to_bad_address"), std::string::npos);
    }
    EXPECT_EQ(pool.submit(square, 5).result(20s), 25);
    // A death without a fatal signal has no stack.
    try {
        pool.submit(kill_self, 0).result(20s);
        ADD_FAILURE() << "the task returned";
    } catch (const tandem::WorkerCrashed& crash) {
        EXPECT_EQ(crash.stack(), "");
    }
}

// --- memory bounds

namespace {
std::vector<std::vector<char>> kept_alive;  // what grow_resident holds on to, in the worker

std::size_t resident_bytes() {
    std::ifstream statm("/proc/self/statm");
    std::size_t size = 0;
    std::size_t resident = 0;
    statm >> size >> resident;
    return resident * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
}
int grow_resident(std::size_t bytes) {
    kept_alive.emplace_back(bytes, 'x');  // every page touched
    return static_cast<int>(::getpid());
}
std::size_t allocate_and_touch(std::size_t bytes) {
    std::vector<char> block(bytes, 'x');
    return block.size();
}
constexpr std::size_t kMiB = std::size_t{1} << 20;
}  // namespace

// celery: worker_max_memory_per_child replaces a worker whose resident memory went past
// the bound after a task; a worker below it keeps running tasks.
TEST_P(ProcessPoolTest, MaxMemoryPerChildReplacesTheWorker) {
    std::size_t baseline = 0;
    {
        ProcessPoolExecutor probe(options(1));
        baseline = probe.submit(resident_bytes).result(20s);
    }
    ASSERT_GT(baseline, 0u);
    auto bounded = options(1);
    bounded.max_memory_per_child = baseline + 64 * kMiB;
    ProcessPoolExecutor pool(bounded);
    const int first = pool.submit(worker_pid).result(20s);
    EXPECT_EQ(pool.submit(worker_pid).result(20s), first);  // below the bound: kept
    EXPECT_EQ(pool.submit(grow_resident, 128 * kMiB).result(20s), first);  // the task itself succeeds
    const int next = pool.submit(worker_pid).result(20s);
    EXPECT_NE(next, first);  // and its worker was replaced after it
    EXPECT_EQ(pool.submit(worker_pid).result(20s), next);
    EXPECT_THROW(ProcessPoolExecutor(tandem::ProcessPoolOptions{.max_workers = 1, .max_memory_per_child = 0}),
                 tandem::ValueError);
}

// tandem: past memory_limit_per_child a task fails alone with MemoryError naming the limit
// (Python: the OOM killer takes a worker, and the pool breaks); the other worker and the pool go on.
TEST_P(ProcessPoolTest, MemoryLimitFailsOnlyThatTask) {
    auto limited = options(2);
    limited.memory_limit_per_child = 64 * kMiB;
    ProcessPoolExecutor pool(limited);
    tandem::multiprocessing::Event release;
    auto bystander = pool.submit(hold_until, release);
    EXPECT_EQ(pool.submit(allocate_and_touch, 8 * kMiB).result(20s), 8 * kMiB);  // within the limit
    auto hog = pool.submit(allocate_and_touch, 512 * kMiB);
    try {
        hog.result(20s);
        ADD_FAILURE() << "the allocation past the limit succeeded";
    } catch (const tandem::MemoryError& error) {
        EXPECT_NE(std::string(error.what()).find("memory_limit_per_child"), std::string::npos) << error.what();
        EXPECT_NE(std::string(error.what()).find(std::to_string(64 * kMiB)), std::string::npos) << error.what();
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    } catch (const tandem::WorkerCrashed& crash) {
        // A sanitizer's allocator reports the failed mapping and ends the worker
        // instead of throwing std::bad_alloc: the task still fails alone.
        SUCCEED() << crash.what();
#endif
    }
    release.set();
    EXPECT_GT(bystander.result(20s), 0);
    EXPECT_EQ(pool.submit(square, 12).result(20s), 144);
    EXPECT_EQ(pool.submit(allocate_and_touch, 8 * kMiB).result(20s), 8 * kMiB);
}

// --- workers' output

namespace {
// Writes each line in two pieces: workers sharing a stream would interleave the pieces.
int print_lines_in_pieces(int count) {
    const std::string padding(150, 'p');
    const std::string head = "worker " + std::to_string(::getpid()) + " line ";
    for (int i = 0; i < count; ++i) {
        const std::string tail = std::to_string(i) + " " + padding + "\n";
        if (::write(STDOUT_FILENO, head.data(), head.size()) < 0) return -1;
        if (::write(STDOUT_FILENO, tail.data(), tail.size()) < 0) return -1;
    }
    return ::getpid();
}
int chatty(int value) {
    std::printf("out %d\n", value);
    std::fprintf(stderr, "err %d\n", value);
    return value * 2;
}
int chatty_then_throw(int) {
    std::printf("before the failure\n");
    throw tandem::ValueError("after printing");
}

// This process's stdout goes to a file while it lives.
class StdoutToFile {
public:
    StdoutToFile() {
        std::fflush(stdout);
        saved_ = ::dup(STDOUT_FILENO);
        file_ = std::tmpfile();
        ::dup2(::fileno(file_), STDOUT_FILENO);
    }
    ~StdoutToFile() { restore(); }
    /// Puts stdout back and returns what was written meanwhile.
    std::string restore() {
        if (saved_ < 0) return {};
        std::fflush(stdout);
        ::dup2(saved_, STDOUT_FILENO);
        ::close(saved_);
        saved_ = -1;
        std::string text;
        std::rewind(file_);
        char buffer[65536];
        for (std::size_t got; (got = std::fread(buffer, 1, sizeof buffer, file_)) > 0;) text.append(buffer, got);
        std::fclose(file_);
        return text;
    }

private:
    int saved_ = -1;
    std::FILE* file_ = nullptr;
};
}  // namespace

// tandem: two workers printing 10,000 lines each, each line in pieces, leave no torn line
// in this process's stdout (Python's workers share the terminal and can tear lines); with
// prefix_worker_output each line starts with its worker's name.
TEST_P(ProcessPoolTest, WorkersOutputArrivesInWholeLines) {
    constexpr int kLines = 10000;
    StdoutToFile capture;
    std::vector<int> pids;
    {
        auto prefixed = options(2);
        prefixed.prefix_worker_output = true;
        ProcessPoolExecutor pool(prefixed);
        auto a = pool.submit(print_lines_in_pieces, kLines);
        auto b = pool.submit(print_lines_in_pieces, kLines);
        pids = {a.result(60s), b.result(60s)};
    }  // the pool passes on everything its workers wrote before it is gone
    const std::string text = capture.restore();
    ASSERT_NE(pids[0], pids[1]);
    std::map<int, int> next_line;  // per worker pid
    const std::string padding(150, 'p');
    std::size_t lines = 0;
    std::size_t start = 0;
    for (std::size_t end; (end = text.find('\n', start)) != std::string::npos; start = end + 1) {
        const std::string line = text.substr(start, end - start);
        ++lines;
        const std::size_t close = line.find("] worker ");
        ASSERT_TRUE(line.starts_with("[") && close != std::string::npos) << line;
        int pid = 0;
        int index = 0;
        char rest[200] = {};
        ASSERT_EQ(std::sscanf(line.c_str() + close, "] worker %d line %d %199s", &pid, &index, rest), 3) << line;
        EXPECT_EQ(rest, padding) << line;
        EXPECT_EQ(index, next_line[pid]++) << line;
    }
    EXPECT_EQ(start, text.size()) << "a last line without its newline";
    EXPECT_EQ(lines, 2u * kLines);
    EXPECT_EQ(next_line[pids[0]], kLines);
    EXPECT_EQ(next_line[pids[1]], kLines);
}

// tandem: capture_output keeps a task's stdout and stderr for its future.
TEST_P(ProcessPoolTest, CaptureOutputAttachesItToTheFuture) {
    ProcessPoolExecutor pool(options(1));
    auto f = pool.submit_with({.capture_output = true}, chatty, 21);
    EXPECT_EQ(f.result(20s), 42);
    const auto output = tandem::captured_output(f);
    ASSERT_TRUE(output.has_value());
    EXPECT_EQ(output->out, "out 21\n");
    EXPECT_EQ(output->err, "err 21\n");

    auto failing = pool.submit_with({.capture_output = true}, chatty_then_throw, 0);
    EXPECT_THROW(failing.result(20s), tandem::ValueError);
    EXPECT_EQ(tandem::captured_output(failing)->out, "before the failure\n");

    auto plain = pool.submit(square, 2);
    EXPECT_EQ(plain.result(20s), 4);
    EXPECT_FALSE(tandem::captured_output(plain).has_value());

    auto spinning = pool.submit_with({.capture_output = true}, spin_for_a_while, 1);
    EXPECT_FALSE(spinning.cancel());  // running from submit
    EXPECT_TRUE(pool.stop(spinning));
    EXPECT_THROW(spinning.result(20s), tandem::CancelledError);
    EXPECT_EQ(pool.submit_with({.capture_output = true}, chatty, 1).result(20s), 2);
}
