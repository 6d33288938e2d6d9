// A hostile task: what a task can do, from inside its worker, to the pool's
// shared memory and to the parent's collector, and why none of it reaches
// the parent or another worker (docs/design.md, "Shared memory and
// workers"). Each task here attacks with /proc and the area's layout only
// (support/hostile_task.hpp), under every start method; each test checks
// that the parent lives, that only the attacking task fails (and how), and
// that the pool goes on serving.
#include <gtest/gtest.h>  // TEST_P, EXPECT_*

#include <fcntl.h>       // open of /proc/self/map_files
#include <sys/mman.h>    // memfd_create, mprotect, mmap
#include <sys/socket.h>  // send: half a message on the control socket
#include <unistd.h>      // ftruncate, getpid, pause, pwrite, sysconf

#include <algorithm>  // std::find
#include <chrono>     // bounds
#include <csignal>    // raise(SIGKILL) after forging a crash record
#include <cstddef>    // std::byte
#include <cstdint>    // forged ids
#include <cstdio>     // std::snprintf
#include <cstdlib>    // std::_Exit
#include <cstring>    // std::memcpy, std::memset
#include <set>        // distinct worker pids
#include <span>       // a call read in place
#include <string>     // messages
#include <vector>     // results

#include "../support/hostile_task.hpp"               // own_area, own_event_fd, control_socket, forge_reply
#include "tandem/detail/process_pool/task_ring.hpp"  // WorkerArea, Carrier, WorkerPhase
#include "tandem/detail/process_pool/worker.hpp"     // kInitializerFailedStatus
#include "tandem/errors.hpp"                         // WorkerCrashed, FrameError
#include "tandem/multiprocessing/synchronize.hpp"    // Event: holds an innocent task
#include "tandem/process_pool_executor.hpp"          // ProcessPoolExecutor

namespace {

using namespace std::chrono_literals;
using tandem::Future;
using tandem::ProcessPoolExecutor;
using tandem::detail::process_pool::Carrier;
using tandem::detail::process_pool::CrashRecord;
using tandem::detail::process_pool::WorkerArea;
using tandem::detail::process_pool::WorkerPhase;
using tandem::multiprocessing::Event;
using tandem::multiprocessing::StartMethod;

constexpr std::size_t kLarge = 64 << 10;  // past a ring slot: travels in a spill buffer

int square(int x) { return x * x; }
int worker_pid() { return static_cast<int>(::getpid()); }
// An innocent task on another worker: blocks until the test releases it (bounded).
int hold_until(Event release) { return release.wait(20s) ? 1 : -1; }
std::size_t size_of(std::vector<std::byte> data) { return data.size(); }
std::vector<std::byte> large_result(int) { return std::vector<std::byte>(kLarge, std::byte{7}); }

// Tries ftruncate(fd, 0) on every pool memfd the task can reach: its
// descriptors, and its mappings through /proc/self/map_files (which opens
// for a privileged user only). Returns {reached, truncated}.
std::vector<int> truncate_pool_memory(std::vector<std::byte> large_argument) {
    int reached = 0;
    int truncated = 0;
    const auto attempt = [&](int fd) {
        ++reached;
        if (::ftruncate(fd, 0) == 0) ++truncated;
    };
    for (int fd : tandem_test::fds_linked_to("memfd:tandem:")) attempt(fd);
    for (const auto& mapping : tandem_test::mappings_named("memfd:tandem:")) {
        char path[80];
        std::snprintf(path, sizeof path, "/proc/self/map_files/%lx-%lx", mapping.start, mapping.end);
        const int fd = ::open(path, O_RDWR | O_CLOEXEC);
        if (fd < 0) continue;
        attempt(fd);
        ::close(fd);
    }
    return {reached, truncated, static_cast<int>(large_argument.size())};
}

// Looks for another worker's rings: every pool mapping in its address space
// but its own area and its own spill buffers, and every pool memfd it holds
// but its own region's; overwrites what it maps. Returns how many it found.
// Tries every way a task has to rewrite the call it was sent, where it lies (the spill
// buffer the parent wrote it in): write access to its pages, /proc/self/mem, and the
// memfd itself through /proc/self/map_files (open for root); how many worked.
int rewrite_own_call(std::span<const std::byte> call) {
    const long page = ::sysconf(_SC_PAGESIZE);
    const auto start = reinterpret_cast<std::uintptr_t>(call.data()) & ~static_cast<std::uintptr_t>(page - 1);
    int rewritten = 0;
    if (::mprotect(reinterpret_cast<void*>(start), static_cast<std::size_t>(page), PROT_READ | PROT_WRITE) == 0) {
        ++rewritten;
    }
    const std::byte zero{0};
    const int memory = ::open("/proc/self/mem", O_RDWR | O_CLOEXEC);
    if (memory >= 0) {
        if (::pwrite(memory, &zero, 1, static_cast<off_t>(reinterpret_cast<std::uintptr_t>(call.data()))) == 1) {
            ++rewritten;
        }
        ::close(memory);
    }
    for (const auto& mapping : tandem_test::mappings_named("memfd:tandem:pool-spill")) {
        const auto address = reinterpret_cast<unsigned long>(call.data());
        if (address < mapping.start || address >= mapping.end) continue;
        char path[80];
        std::snprintf(path, sizeof path, "/proc/self/map_files/%lx-%lx", mapping.start, mapping.end);
        const int fd = ::open(path, O_RDWR | O_CLOEXEC);
        if (fd < 0) continue;
        if (::pwrite(fd, &zero, 1, 0) == 1) ++rewritten;
        void* writable = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (writable != MAP_FAILED) {
            ++rewritten;
            ::munmap(writable, 4096);
        }
        ::close(fd);
    }
    return rewritten;
}

int scribble_over_other_workers() {
    const std::size_t area_pages = (sizeof(WorkerArea) + 4095) / 4096 * 4096;
    int found = 0;
    for (const auto& mapping : tandem_test::mappings_named("memfd:tandem:")) {
        const bool pool = mapping.name.find(":pool-worker") != std::string::npos ||
                          mapping.name.find(":process-pool") != std::string::npos;
        if (!pool || mapping.end - mapping.start == area_pages) continue;
        ++found;
        std::memset(reinterpret_cast<void*>(mapping.start), 0xff, mapping.end - mapping.start);
    }
    for (int fd : tandem_test::fds_linked_to("memfd:tandem:")) {
        char target[128] = {};
        const std::string link = "/proc/self/fd/" + std::to_string(fd);
        if (::readlink(link.c_str(), target, sizeof target - 1) < 0) continue;
        if (std::string(target).find(":pool-worker") == std::string::npos) ++found;
    }
    return tandem_test::own_area() == nullptr ? -1 : found;
}

// The descriptors that would let a task act on another worker or on the
// collector: pidfds, epoll instances and event fds, other than `inherited`
// (the test program's own, which a forked worker shares by design).
// Returns {pidfds, epolls, event fds}.
std::vector<int> descriptors_in_reach(std::vector<int> inherited) {
    const auto count = [&](const char* kind) {
        int found = 0;
        for (int fd : tandem_test::fds_linked_to(kind)) {
            if (std::find(inherited.begin(), inherited.end(), fd) == inherited.end()) ++found;
        }
        return found;
    };
    return {count("[pidfd]"), count("[eventpoll]"), count("[eventfd]")};
}

// Lies about itself in its area: a current task it was not sent, a start
// time in the distant past, a failed initializer with a message that never
// ends; then waits for its worker to be killed.
int lie_about_itself(Event forged) {
    WorkerArea* area = tandem_test::own_area();
    if (area == nullptr) return -1;
    area->current_task.store(area->current_task.load() ^ 0x5a5a5a5a5a5a5a5aull);
    area->started_ns.store(1);
    std::memset(area->failure, 'x', sizeof area->failure);
    area->phase.store(WorkerPhase::init_failed);
    forged.set();
    const int event_fd = tandem_test::own_event_fd();
    for (;;) {
        const std::uint64_t one = 1;
        [[maybe_unused]] const auto written = ::write(event_fd, &one, sizeof one);  // the collector looks again
        ::pause();
    }
}

// Claims to have failed its initializer, long after it started, and exits as
// a failed initializer does.
int claim_a_failed_initializer(int) {
    WorkerArea* area = tandem_test::own_area();
    if (area == nullptr) return -1;
    std::memset(area->failure, 'x', sizeof area->failure);
    area->phase.store(WorkerPhase::init_failed);
    std::_Exit(tandem::detail::process_pool::kInitializerFailedStatus);
}

// Says it started long ago, so that its deadline would be past at once; waits
// until the collector has seen that, then returns.
int claim_an_early_start(int) {
    WorkerArea* area = tandem_test::own_area();
    if (area == nullptr) return -1;
    area->started_ns.store(1);
    return tandem_test::wait_for_collector(*area, tandem_test::own_event_fd(), 10s) ? 7 : -2;
}

// Sends half a length prefix on its control socket, publishes a reply that
// announces a memfd there, and stays alive: a collector that waits for the
// rest of the message waits for ever.
int send_half_a_message(int) {
    WorkerArea* area = tandem_test::own_area();
    const int socket = tandem_test::control_socket(10s);
    if (area == nullptr || socket < 0) return -1;
    const char half = 0;
    if (::send(socket, &half, 1, MSG_NOSIGNAL) != 1) return -2;
    const std::uint64_t size = 4;
    tandem_test::forge_reply(*area, Carrier::memfd, std::as_bytes(std::span(&size, 1)), tandem_test::own_event_fd());
    for (;;) ::pause();
}

// Replies with a memfd of its own making, unsealed, holding a valid result
// (a forged 12345), then shrinks it to nothing.
int reply_with_an_unsealed_memfd(int) {
    WorkerArea* area = tandem_test::own_area();
    const int socket = tandem_test::control_socket(10s);
    if (area == nullptr || socket < 0) return -1;
    const int memfd = ::memfd_create("forged", MFD_CLOEXEC);
    const int forged = 12345;
    if (memfd < 0 || ::write(memfd, &forged, sizeof forged) != sizeof forged) return -2;
    // A whole message: a zero length, the memfd attached.
    char control[CMSG_SPACE(sizeof(int))] = {};
    std::uint32_t length = 0;
    iovec io{&length, sizeof length};
    msghdr message{};
    message.msg_iov = &io;
    message.msg_iovlen = 1;
    message.msg_control = control;
    message.msg_controllen = sizeof control;
    cmsghdr* header = CMSG_FIRSTHDR(&message);
    header->cmsg_level = SOL_SOCKET;
    header->cmsg_type = SCM_RIGHTS;
    header->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(header), &memfd, sizeof memfd);
    if (::sendmsg(socket, &message, MSG_NOSIGNAL) != sizeof length) return -3;
    const std::uint64_t size = sizeof forged;
    tandem_test::forge_reply(*area, Carrier::memfd, std::as_bytes(std::span(&size, 1)), tandem_test::own_event_fd());
    if (!tandem_test::wait_for_collector(*area, tandem_test::own_event_fd(), 10s)) return -4;
    return ::ftruncate(memfd, 0);  // the real reply never comes: the worker finds its ring forged and exits
}

// Rewrites its reply ring while the parent reads it, for up to 10 s: a reply
// for its own task, of no kind the parent accepts, published at once and kept
// published, whose carrier and size keep changing under the reader, with the
// ring's count of published replies now and then jumping past the ring.
// Never returns while its worker lives.
int thrash_reply_ring(Event started) {
    using namespace tandem::detail::process_pool;
    WorkerArea* area = tandem_test::own_area();
    if (area == nullptr) return -1;
    const std::uint64_t head = area->replies.head.load();
    std::byte* slot = area->replies.slots[head % kRingSlots];
    started.set();
    const auto give_up = std::chrono::steady_clock::now() + 10s;
    for (std::uint32_t round = 0; std::chrono::steady_clock::now() < give_up; ++round) {
        const SlotHeader header{area->current_task.load(), static_cast<MessageKind>(0x7f),
                                round % 2 == 0 ? Carrier::slot : Carrier::spill,
                                static_cast<std::uint32_t>((round * 4099u) % (2 * kSlotPayload))};
        std::memcpy(slot, &header, sizeof header);
        area->replies.head.store(head + 1 + (round % 64 == 63 ? kRingSlots + 3 : 0));
    }
    area->replies.head.store(head);
    return -2;
}

// Expects `task` to fail with WorkerCrashed, the pool having killed its worker for `reason`.
void expect_killed_for(Future<int>& task, const std::string& reason) {
    try {
        task.result(20s);
        ADD_FAILURE() << "the hostile task returned";
    } catch (const tandem::WorkerCrashed& crash) {
        EXPECT_NE(std::string(crash.what()).find(reason), std::string::npos) << crash.what();
    }
}

class TrustTest : public testing::TestWithParam<StartMethod> {
protected:
    tandem::ProcessPoolOptions options(std::size_t workers) {
        return {.max_workers = workers, .start_method = GetParam()};
    }
    // Makes sure every worker of `pool` has started (and said it is ready).
    static void warm_up(ProcessPoolExecutor& pool, std::size_t workers) {
        std::set<int> pids;
        for (int i = 0; i < 200 && pids.size() < workers; ++i) {
            std::vector<Future<int>> round;
            for (std::size_t w = 0; w < workers; ++w) round.push_back(pool.submit(worker_pid));
            for (auto& f : round) pids.insert(f.result(20s));
        }
        ASSERT_EQ(pids.size(), workers);
    }
};

// tandem: every pool memfd a task can reach (its region, spill buffers both ways) is
// sealed: ftruncate fails with EPERM, so the parent, which maps them too, never takes a SIGBUS;
// the task itself runs on, and so does the pool.
TEST_P(TrustTest, TruncatingPoolMemoryCannotHurtTheParent) {
    ProcessPoolExecutor pool(options(1));
    EXPECT_EQ(pool.submit(large_result, 0).result(20s).size(), kLarge);  // a reply spill buffer exists
    const std::vector<int> outcome =
        pool.submit(truncate_pool_memory, std::vector<std::byte>(kLarge)).result(20s);  // and a request one
    ASSERT_EQ(outcome.size(), 3u);
    EXPECT_GE(outcome[0], 1) << "the task found its region at least";
    EXPECT_EQ(outcome[1], 0) << "a pool memfd could be truncated";
    EXPECT_EQ(outcome[2], static_cast<int>(kLarge));
    EXPECT_EQ(pool.submit(square, 9).result(20s), 81);
    EXPECT_EQ(pool.submit(size_of, std::vector<std::byte>(kLarge)).result(20s), kLarge);
}

// tandem: a call the parent wrote into shared memory (a large one, written in place and
// kept there in case it must run again elsewhere) can only be read by its worker: every way
// to rewrite it fails, so a worker cannot change what another worker would run.
TEST_P(TrustTest, AWorkerCannotRewriteTheCallItWasSent) {
    ProcessPoolExecutor pool(options(1));
    const std::vector<std::byte> call(std::size_t{1} << 20, std::byte{5});
    EXPECT_EQ(pool.submit(rewrite_own_call, call).result(20s), 0);
    EXPECT_EQ(pool.submit(rewrite_own_call, call).result(20s), 0);  // the buffer reused
    EXPECT_EQ(pool.submit(size_of, call).result(20s), call.size());
}

// tandem: a worker maps its own area and nothing of any other worker's (not even
// under fork, where it starts as a copy of the parent): a task looking for another worker's
// rings finds none, and the task the other worker runs meanwhile completes untouched. Nor does
// it hold another worker's pidfd, the collector's epoll or another event fd than its own.
TEST_P(TrustTest, NoWorkerCanReachAnotherWorkersArea) {
    std::vector<int> inherited;  // what a forked worker shares with the test program anyway
    if (GetParam() == StartMethod::fork) {
        for (const char* kind : {"[pidfd]", "[eventpoll]", "[eventfd]"}) {
            for (int fd : tandem_test::fds_linked_to(kind)) inherited.push_back(fd);
        }
    }
    ProcessPoolExecutor pool(options(2));
    warm_up(pool, 2);
    EXPECT_EQ(pool.submit(descriptors_in_reach, inherited).result(20s), (std::vector<int>{0, 0, 1}));
    Event release;
    auto innocent = pool.submit(hold_until, release);
    auto scribbler = pool.submit(scribble_over_other_workers);
    EXPECT_EQ(scribbler.result(20s), 0) << "pool memory of another worker is in reach";
    release.set();
    EXPECT_EQ(innocent.result(20s), 1);
    EXPECT_EQ(pool.submit(square, 4).result(20s), 16);
}

// tandem: what a worker says about itself is checked: a current task it was not
// sent gets it killed, and only its own task fails (WorkerCrashed); a failed initializer
// claimed after start-up breaks nothing; the innocent task on the other worker completes.
TEST_P(TrustTest, AWorkerThatLiesAboutItselfFailsOnlyItsOwnTask) {
    ProcessPoolExecutor pool(options(2));
    warm_up(pool, 2);
    Event release;
    Event forged;
    auto innocent = pool.submit(hold_until, release);
    auto liar = pool.submit(lie_about_itself, forged);
    ASSERT_TRUE(forged.wait(20s));
    expect_killed_for(liar, "not sent");
    release.set();
    EXPECT_EQ(innocent.result(20s), 1);
    EXPECT_THROW(pool.submit(claim_a_failed_initializer, 0).result(20s), tandem::WorkerCrashed);
    EXPECT_EQ(pool.submit(square, 5).result(20s), 25) << "the pool is not broken";
}

// tandem: a task's timeout counts from when the parent knows it started: a start
// time forged into the past does not get the task killed before its time.
TEST_P(TrustTest, AForgedStartTimeCannotBringTheDeadlineForward) {
    ProcessPoolExecutor pool(options(1));
    warm_up(pool, 1);
    EXPECT_EQ(pool.submit_with({.timeout = 10s}, claim_an_early_start, 0).result(20s), 7);
}

// tandem: the collector never waits on a worker's control socket. A live worker that
// sends half a message there is killed and its task fails with WorkerCrashed, at once; the other
// worker is served meanwhile, the task queued behind the attacker runs again.
TEST_P(TrustTest, HalfAMessageOnTheControlSocketDoesNotHangTheCollector) {
    ProcessPoolExecutor pool(options(2));
    warm_up(pool, 2);
    Event release;
    // Dispatch order: the attacker to the first worker, the innocent task to the second,
    // the large task behind the attacker (its memfd is what the attacker finds its socket by).
    auto attacker = pool.submit(send_half_a_message, 0);
    auto innocent = pool.submit(hold_until, release);
    auto behind = pool.submit(size_of, std::vector<std::byte>(kLarge));
    expect_killed_for(attacker, "control socket");
    release.set();
    EXPECT_EQ(innocent.result(20s), 1);
    EXPECT_EQ(behind.result(20s), kLarge);
    EXPECT_EQ(pool.submit(square, 3).result(20s), 9);
}

// tandem: a reply whose memfd is not sealed (so could shrink under the parent's
// mapping) is refused: that task fails with FrameError, nothing else does.
TEST_P(TrustTest, AnUnsealedMemfdReplyIsAFrameError) {
    ProcessPoolExecutor pool(options(1));
    warm_up(pool, 1);
    auto attacker = pool.submit(reply_with_an_unsealed_memfd, 0);
    auto behind = pool.submit(size_of, std::vector<std::byte>(kLarge));
    EXPECT_THROW(attacker.result(20s), tandem::FrameError);
    EXPECT_EQ(behind.result(20s), kLarge);
    EXPECT_EQ(pool.submit(square, 2).result(20s), 4);
}

// tandem: a caller waiting in result() reads the reply rings itself, through the
// same checked reader as the collector thread: a worker rewriting its ring while the caller
// reads it (here while the caller runs round trips on the other worker, collecting each) is
// killed and fails only its own task, with WorkerCrashed; every round trip completes, and the
// pool goes on.
TEST_P(TrustTest, AWorkerRewritingItsRingWhileTheCallerCollectsFailsOnlyItsTask) {
    ProcessPoolExecutor pool(options(2));
    warm_up(pool, 2);
    Event started;
    auto attacker = pool.submit(thrash_reply_ring, started);
    ASSERT_TRUE(started.wait(20s));
    for (int i = 0; i < 300; ++i) ASSERT_EQ(pool.submit(square, i).result(20s), i * i);
    EXPECT_THROW(attacker.result(20s), tandem::WorkerCrashed);
    EXPECT_EQ(pool.submit(square, 6).result(20s), 36);
}

namespace {
// Fills its crash record with what a hostile task would: counts, indices and offsets far
// out of range, a signal that does not exist, paths without their NUL, then dies.
int forge_a_crash_record(int) {
    WorkerArea* area = tandem_test::own_area();
    if (area == nullptr) return -1;
    auto& data = area->crash.data;
    data.signal_number = 999999;
    data.frame_count = ~std::uint32_t{0};
    data.module_count = ~std::uint32_t{0};
    for (std::size_t i = 0; i < CrashRecord::kFrames; ++i) {
        data.frames[i].module = static_cast<std::uint32_t>(i % 3);
        data.frames[i].offset = ~std::uint64_t{0} - i;  // past the end of any module
    }
    std::memset(data.modules, 'A', sizeof data.modules);
    data.modules[1][0] = '\0';  // "": the program itself, at a wild offset
    area->crash.complete.store(1, std::memory_order_release);
    std::raise(SIGKILL);
    return 0;
}
}  // namespace

// tandem: a crash record is read only after the death, copied once and bounded:
// a forged one gives its own WorkerCrashed a short, harmless stack (offsets outside a module
// are printed, never looked up), and the pool goes on.
TEST_P(TrustTest, AForgedCrashRecordIsBoundedAndOnlyLookedUp) {
    ProcessPoolExecutor pool(options(1));
    warm_up(pool, 1);
    try {
        pool.submit(forge_a_crash_record, 0).result(20s);
        ADD_FAILURE() << "the task returned";
    } catch (const tandem::WorkerCrashed& crash) {
        const std::string& stack = crash.stack();
        std::size_t lines = 0;
        for (std::size_t start = 0, end; (end = stack.find('\n', start)) != std::string::npos; start = end + 1) {
            ++lines;
            EXPECT_LT(end - start, CrashRecord::kPathBytes + 64) << "a path read past its buffer";
        }
        EXPECT_LE(lines, CrashRecord::kFrames + 1) << stack;
        EXPECT_NE(stack.find("SIG?"), std::string::npos) << stack;
        EXPECT_NE(stack.find("the program+0xffffffffffff"), std::string::npos) << stack;
    }
    EXPECT_EQ(pool.submit(square, 6).result(20s), 36) << "the pool goes on";
}

INSTANTIATE_TEST_SUITE_P(StartMethods, TrustTest,
                         testing::Values(StartMethod::fork, StartMethod::forkserver, StartMethod::spawn),
                         [](const testing::TestParamInfo<StartMethod>& param_info) {
                             return std::string(tandem::multiprocessing::start_method_name(param_info.param));
                         });

}  // namespace
