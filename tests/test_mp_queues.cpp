// Tests for tandem/multiprocessing/queues.hpp: Python's multiprocessing.Queue,
// JoinableQueue and SimpleQueue across real processes made with fork()
// (ported in spirit from CPython's _TestQueue), plus what tandem promises
// beyond Python: put() fails for an item that cannot be encoded, nothing is
// lost or duplicated between several producers and consumers, and a process
// killed in the middle of an item breaks the queue loudly instead of hanging it.
#include "tandem/multiprocessing/queues.hpp"

#include "support/gate.hpp"                   // eventually
#include "tandem/detail/wire/fd_passing.hpp"  // send_with_fds / receive_with_fds, for the handoff test
#include "tandem/detail/wire/frame.hpp"       // crc32c, to forge a header
#include "tandem/errors.hpp"                  // Empty, Full, ValueError, FrameError, RuntimeError

#include <gtest/gtest.h>  // TEST, EXPECT_*

#include "support/child_process.hpp"  // fork_child, join_child, open_fd_count

#include <algorithm>      // std::sort
#include <array>          // raw frame headers
#include <cerrno>         // errno
#include <chrono>         // timeouts
#include <csignal>        // SIGKILL
#include <cstdint>        // fixed-width items
#include <cstring>        // std::memcpy into forged headers
#include <dirent.h>       // counting /proc/self/fd
#include <fstream>        // /proc/PID/syscall
#include <optional>       // a queue a child can destroy
#include <poll.h>         // bounded waits on children
#include <stdexcept>      // std::runtime_error from an unencodable item
#include <string>         // items
#include <sys/socket.h>   // socketpair
#include <sys/syscall.h>  // SYS_pidfd_open, SYS_read
#include <sys/wait.h>     // waitpid
#include <thread>         // yield while polling /proc
#include <unistd.h>       // fork, _exit
#include <utility>        // std::pair
#include <vector>         // items and children

using namespace std::chrono_literals;
namespace mp = tandem::multiprocessing;

namespace {

using tandem_test::fork_child;
using tandem_test::join_child;
using tandem_test::open_fd_count;

constexpr auto long_wait = 10s;  // for waits that should succeed: a bug fails instead of hanging

struct Unencodable {  // its serialize() fails, as an unpicklable object in Python
    int value = 0;
    template <class Archive>
    void serialize(Archive&) {
        throw std::runtime_error("cannot encode this");
    }
};

using tandem_test::eventually;

// True while the single-threaded process `pid` sleeps in read().
bool blocked_in_read(pid_t pid) {
    std::ifstream file("/proc/" + std::to_string(pid) + "/syscall");
    long number = -1;
    file >> number;
    return number == SYS_read;
}

}  // namespace

// ============================== single process ===================================

// multiprocessing.Queue: items come out first in, first out, of any serializable type.
TEST(MpQueue, FifoOrderAndTypes) {
    mp::Queue<std::pair<int, std::string>> queue;
    EXPECT_TRUE(queue.empty());
    EXPECT_EQ(queue.qsize(), 0u);
    EXPECT_EQ(queue.maxsize(), 0);
    queue.put({1, "one"});
    queue.put({2, "two"});
    queue.put_nowait({3, "three"});
    EXPECT_FALSE(queue.empty());
    EXPECT_EQ(queue.qsize(), 3u);
    EXPECT_FALSE(queue.full());
    EXPECT_EQ(queue.get(), (std::pair<int, std::string>{1, "one"}));
    EXPECT_EQ(queue.get(false).second, "two");
    EXPECT_EQ(queue.get(long_wait).first, 3);
    EXPECT_TRUE(queue.empty());
    EXPECT_EQ(queue.qsize(), 0u);
}

// multiprocessing.Queue: get_nowait()/get(False) on an empty queue raise Empty; get(timeout) raises Empty after the timeout.
TEST(MpQueue, EmptyRaisesEmpty) {
    mp::Queue<int> queue;
    EXPECT_THROW((void)queue.get_nowait(), tandem::Empty);
    EXPECT_THROW((void)queue.get(false), tandem::Empty);
    EXPECT_THROW((void)queue.get(0s), tandem::Empty);
    EXPECT_THROW((void)queue.get(-1s), tandem::Empty);  // clamped to "try once", as Python's multiprocessing
    const auto start = std::chrono::steady_clock::now();
    EXPECT_THROW((void)queue.get(50ms), tandem::Empty);
    const auto waited = std::chrono::steady_clock::now() - start;
    EXPECT_GE(waited, 50ms);
    EXPECT_LT(waited, 5s);
}

// multiprocessing.Queue(maxsize): put_nowait on a full queue raises Full, put(timeout) raises Full after the timeout; a get makes room.
TEST(MpQueue, MaxsizeAndFull) {
    mp::Queue<int> queue(2);
    EXPECT_EQ(queue.maxsize(), 2);
    queue.put(1);
    queue.put(2, false);
    EXPECT_TRUE(queue.full());
    EXPECT_EQ(queue.qsize(), 2u);
    EXPECT_THROW(queue.put_nowait(3), tandem::Full);
    EXPECT_THROW(queue.put(3, false), tandem::Full);
    EXPECT_THROW(queue.put(3, -1s), tandem::Full);
    const auto start = std::chrono::steady_clock::now();
    EXPECT_THROW(queue.put(3, 50ms), tandem::Full);
    EXPECT_GE(std::chrono::steady_clock::now() - start, 50ms);
    EXPECT_EQ(queue.get(), 1);
    EXPECT_FALSE(queue.full());
    queue.put(3, 0s);
    EXPECT_EQ(queue.get(), 2);
    EXPECT_EQ(queue.get(), 3);
    EXPECT_THROW(mp::Queue<int>(std::ptrdiff_t{1} << 40), tandem::ValueError);
}

// tandem (gh-84376): an item whose encoding fails raises in put() itself and takes no room in the queue.
TEST(MpQueue, UnencodableItemFailsInPut) {
    mp::Queue<Unencodable> queue(1);
    EXPECT_THROW(queue.put(Unencodable{}), std::runtime_error);
    EXPECT_TRUE(queue.empty());
    EXPECT_EQ(queue.qsize(), 0u);
    EXPECT_FALSE(queue.full());
    mp::SimpleQueue<Unencodable> simple;
    EXPECT_THROW(simple.put(Unencodable{}), std::runtime_error);
    EXPECT_TRUE(simple.empty());
}

// multiprocessing.Queue: an unbounded put() never blocks, even when the pipe is full; the items come out in order.
TEST(MpQueue, UnboundedPutNeverBlocks) {
    mp::Queue<int> queue;
    for (int i = 0; i < 5000; ++i) queue.put(i);
    EXPECT_EQ(queue.qsize(), 5000u);
    bool in_order = true;
    for (int i = 0; i < 5000; ++i) in_order = in_order && queue.get(long_wait) == i;
    EXPECT_TRUE(in_order);
    EXPECT_THROW((void)queue.get_nowait(), tandem::Empty);
}

// multiprocessing.Queue: large items (MiBs) travel whole; a process can put one and get it back itself.
TEST(MpQueue, LargeItemsInOneProcess) {
    mp::Queue<std::string> queue;
    std::string big(16u << 20, 'q');  // 16 MiB, built and compared with memset/memcmp
    big[5] = 'r';
    queue.put(big);
    queue.put("small");
    EXPECT_TRUE(queue.get(long_wait) == big);
    EXPECT_EQ(queue.get(long_wait), "small");
}

// multiprocessing.Queue: small and large items put by one process keep their order.
TEST(MpQueue, MixedSizesKeepOrder) {
    mp::Queue<std::string> queue;
    std::vector<std::string> sent;
    for (int i = 0; i < 60; ++i) sent.push_back(std::string(i % 3 == 0 ? 20000 + i : 1 + i, static_cast<char>('a' + i % 26)));
    for (const auto& item : sent) queue.put(item);
    bool in_order = true;
    for (const auto& item : sent) in_order = in_order && queue.get(long_wait) == item;
    EXPECT_TRUE(in_order);
}

// tandem: an item that is not the requested type raises FrameError; that item is lost, the queue stays usable.
TEST(MpQueue, WrongTypeLosesOnlyThatItem) {
    mp::Queue<std::string> strings;
    strings.put("not an int");
    strings.put("fine");
    // A handle of another item type on the same queue, as a mismatched handoff would give.
    tandem::detail::HandoffWriter out;
    tandem::detail::Handoff<mp::Queue<std::string>>::send(out, strings);
    int channel[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, channel), 0);
    tandem::detail::send_with_fds(channel[0], out.bytes(), out.fds());
    auto message = tandem::detail::receive_with_fds(channel[1], 1024);
    ::close(channel[0]);
    ::close(channel[1]);
    tandem::detail::HandoffReader in(message.bytes, std::move(message.fds));
    auto ints = tandem::detail::Handoff<mp::Queue<int>>::receive(in);
    EXPECT_THROW((void)ints.get(long_wait), tandem::FrameError);
    EXPECT_EQ(strings.get(long_wait), "fine");
}

// multiprocessing.Queue: after close(), put() and get() raise ValueError; join_thread() before close() is an error.
TEST(MpQueue, CloseAndJoinThread) {
    mp::Queue<int> queue;
    EXPECT_THROW(queue.join_thread(), tandem::RuntimeError);
    queue.put(1);
    queue.close();
    EXPECT_THROW(queue.put(2), tandem::ValueError);
    EXPECT_THROW((void)queue.get(), tandem::ValueError);
    queue.join_thread();  // nothing left to flush
    queue.close();        // harmless twice
}

// multiprocessing.Queue: join_thread() waits until the feeder has flushed the backlog into the pipe.
TEST(MpQueue, JoinThreadWaitsForFlush) {
    mp::Queue<int> queue;
    const pid_t pid = fork_child([&] {
        int sum = 0;
        for (int i = 0; i < 3000; ++i) sum += queue.get(long_wait);
        return sum == 3000 * 2999 / 2 ? 0 : 1;
    });
    for (int i = 0; i < 3000; ++i) queue.put(i);  // more than the pipe holds: the feeder takes the rest
    queue.close();
    queue.join_thread();
    EXPECT_EQ(join_child(pid), 0);
}

// ============================== across processes ==================================

// multiprocessing.Queue: a bounded put() blocks until another process takes an item.
TEST(MpQueue, BoundedPutWaitsForConsumer) {
    mp::Queue<int> queue(2);
    queue.put(1);
    queue.put(2);
    mp::Queue<int> go;
    const pid_t pid = fork_child([&] {
        (void)go.get(long_wait);
        return queue.get(long_wait) == 1 ? 0 : 1;
    });
    EXPECT_THROW(queue.put(3, 0s), tandem::Full);
    go.put(0);
    queue.put(3, long_wait);
    EXPECT_EQ(join_child(pid), 0);
    EXPECT_EQ(queue.get(), 2);
    EXPECT_EQ(queue.get(), 3);
}

// tandem: with several producer and consumer processes at once, every item arrives exactly once, each producer's items in order.
TEST(MpQueue, ManyProducersManyConsumers) {
    constexpr int producers = 3;
    constexpr int consumers = 3;
    constexpr int per_producer = 2000;
    mp::Queue<std::pair<int, int>> queue(500);  // bounded, so producers also wait for room
    mp::Queue<std::vector<std::pair<int, int>>> results;
    std::vector<pid_t> consumer_pids;
    for (int c = 0; c < consumers; ++c) {
        consumer_pids.push_back(fork_child([&] {
            std::vector<std::pair<int, int>> taken;
            for (;;) {
                const auto item = queue.get(long_wait);
                if (item.first < 0) break;
                taken.push_back(item);
            }
            results.put(taken);
            // fork_child ends with _exit(), which skips the destructors that
            // would flush the feeder's backlog: flush explicitly.
            results.close();
            results.join_thread();
            return 0;
        }));
    }
    std::vector<pid_t> producer_pids;
    for (int p = 0; p < producers; ++p) {
        producer_pids.push_back(fork_child([&, p] {
            for (int i = 0; i < per_producer; ++i) queue.put({p, i}, long_wait);
            queue.close();
            queue.join_thread();
            return 0;
        }));
    }
    for (pid_t pid : producer_pids) EXPECT_EQ(join_child(pid), 0);
    for (int c = 0; c < consumers; ++c) queue.put({-1, -1});
    std::vector<std::pair<int, int>> all;
    for (int c = 0; c < consumers; ++c) {
        const auto taken = results.get(long_wait);
        std::vector<int> last(producers, -1);
        for (const auto& [producer, sequence] : taken) {
            EXPECT_GT(sequence, last[static_cast<std::size_t>(producer)]) << "out of order";
            last[static_cast<std::size_t>(producer)] = sequence;
        }
        all.insert(all.end(), taken.begin(), taken.end());
    }
    for (pid_t pid : consumer_pids) EXPECT_EQ(join_child(pid), 0);
    std::sort(all.begin(), all.end());
    ASSERT_EQ(all.size(), static_cast<std::size_t>(producers * per_producer));
    std::size_t index = 0;
    for (int p = 0; p < producers; ++p) {
        for (int i = 0; i < per_producer; ++i, ++index) ASSERT_EQ(all[index], std::pair(p, i));
    }
    EXPECT_TRUE(queue.empty());
}

// multiprocessing.Queue: a 16 MiB item put in a child arrives whole in the parent; the child's exit waits for the flush.
TEST(MpQueue, LargeItemFromChildIsFlushedBeforeExit) {
    std::optional<mp::Queue<std::string>> queue(std::in_place);
    const pid_t pid = fork_child([&] {
        std::string big(16u << 20, 'x');
        big.back() = 'y';
        queue->put(big);
        queue.reset();  // the last handle in this process: waits until a reader took the item in
        return 0;
    });
    const auto back = queue->get(long_wait);
    ASSERT_EQ(back.size(), 16u << 20);
    EXPECT_EQ(back.front(), 'x');
    EXPECT_EQ(back.back(), 'y');
    EXPECT_EQ(join_child(pid), 0);
}

// tandem: dropping the last handle of a queue nobody else can read does not hang on the unflushed backlog.
TEST(MpQueue, DropWithoutReadersDoesNotHang) {
    const pid_t pid = fork_child([] {
        {
            mp::Queue<std::vector<char>> queue;
            queue.put(std::vector<char>(1 << 20, 'x'));  // more than the pipe holds
        }
        {
            mp::Queue<int> queue;
            for (int i = 0; i < 1000; ++i) queue.put(i);
            queue.cancel_join_thread();
        }
        return 0;
    });
    EXPECT_EQ(join_child(pid), 0);
}

// multiprocessing.Queue: a forked child starts with its own, empty backlog (Python's _after_fork); the parent's feeder goes on.
TEST(MpQueue, ForkedChildDoesNotInheritBacklog) {
    mp::Queue<int> queue;
    for (int i = 0; i < 100; ++i) queue.put(i);  // the feeder holds most of them
    const pid_t pid = fork_child([&] {
        // No feeder here, so join_thread() has nothing to wait for.
        for (int i = 0; i < 10; ++i) {
            if (queue.get(long_wait) != i) return 1;
        }
        queue.close();
        queue.join_thread();
        return 0;
    });
    EXPECT_EQ(join_child(pid), 0);
    bool in_order = true;
    for (int i = 10; i < 100; ++i) in_order = in_order && queue.get(long_wait) == i;
    EXPECT_TRUE(in_order);
    EXPECT_THROW((void)queue.get(0s), tandem::Empty);
}

// multiprocessing.JoinableQueue: join() returns once every item put has been task_done() by the consumers.
TEST(MpJoinableQueue, JoinAcrossProcesses) {
    mp::JoinableQueue<int> queue;
    mp::Queue<int> done_count;
    std::vector<pid_t> workers;
    for (int w = 0; w < 2; ++w) {
        workers.push_back(fork_child([&] {
            int handled = 0;
            for (;;) {
                const int item = queue.get(long_wait);
                queue.task_done();
                if (item < 0) break;
                ++handled;
            }
            done_count.put(handled);
            done_count.close();
            done_count.join_thread();
            return 0;
        }));
    }
    for (int i = 0; i < 200; ++i) queue.put(i);
    queue.put(-1);
    queue.put(-1);
    EXPECT_TRUE(queue.join(long_wait));
    queue.join();
    EXPECT_EQ(done_count.get(long_wait) + done_count.get(long_wait), 200);
    for (pid_t pid : workers) EXPECT_EQ(join_child(pid), 0);
}

// multiprocessing.JoinableQueue: task_done() more often than put() raises ValueError; join(timeout) gives up while items are unfinished.
TEST(MpJoinableQueue, TaskDoneTooOftenAndJoinTimeout) {
    mp::JoinableQueue<int> queue(4);
    EXPECT_THROW(queue.task_done(), tandem::ValueError);
    EXPECT_TRUE(queue.join(0s));
    queue.put(1);
    EXPECT_FALSE(queue.join(20ms));
    EXPECT_EQ(queue.get(), 1);
    EXPECT_FALSE(queue.join(0s));  // taken, not yet done
    queue.task_done();
    EXPECT_TRUE(queue.join(0s));
    EXPECT_THROW(queue.task_done(), tandem::ValueError);
    // A put that fails (Full) does not count as unfinished.
    for (int i = 0; i < 4; ++i) queue.put(i);
    EXPECT_THROW(queue.put_nowait(5), tandem::Full);
    for (int i = 0; i < 4; ++i) {
        (void)queue.get();
        queue.task_done();
    }
    EXPECT_TRUE(queue.join(0s));
}

// multiprocessing.SimpleQueue: put/get/empty between processes; close() makes later calls fail.
TEST(MpSimpleQueue, AcrossProcesses) {
    mp::SimpleQueue<std::string> requests;
    mp::SimpleQueue<std::string> replies;
    EXPECT_TRUE(requests.empty());
    const pid_t pid = fork_child([&] {
        for (;;) {
            const std::string request = requests.get();
            if (request.empty()) return 0;
            replies.put(request + "!");
        }
    });
    for (int i = 0; i < 100; ++i) {
        requests.put(std::to_string(i));
        EXPECT_EQ(replies.get(), std::to_string(i) + "!");
    }
    requests.put(std::string(100000, 'x'));  // larger than the pipe: put() blocks until the child reads
    EXPECT_EQ(replies.get().size(), 100001u);
    requests.put("");
    EXPECT_EQ(join_child(pid), 0);
    EXPECT_TRUE(replies.empty());
    replies.close();
    EXPECT_THROW(replies.put("x"), tandem::ValueError);
    EXPECT_THROW((void)replies.get(), tandem::ValueError);
}

// ============================== crashes and resources ===============================

// tandem: a consumer killed while blocked in get() (holding the reader lock) does not block the other consumers.
TEST(MpQueue, ConsumerKilledInGet) {
    mp::Queue<int> queue;
    const pid_t pid = fork_child([&] { return queue.get(); });
    ASSERT_TRUE(eventually([&] { return blocked_in_read(pid); }));
    ::kill(pid, SIGKILL);
    EXPECT_EQ(join_child(pid), -SIGKILL);
    queue.put(5);
    EXPECT_EQ(queue.get(long_wait), 5);
}

// tandem: a producer killed in the middle of writing a large item makes get() raise FrameError instead of hanging (Python hangs or corrupts).
TEST(MpQueue, ProducerKilledMidItem) {
    mp::Queue<std::vector<char>> queue;
    const pid_t pid = fork_child([&] {
        queue.put(std::vector<char>(1 << 20, 'x'));  // the feeder writes what the pipe holds, then waits
        for (;;) ::pause();  // until killed
        return 0;
    });
    ASSERT_TRUE(eventually([&] { return !queue.empty(); }));  // part of the item is in the pipe
    ::kill(pid, SIGKILL);
    EXPECT_EQ(join_child(pid), -SIGKILL);
    EXPECT_THROW((void)queue.get(long_wait), tandem::FrameError);
    EXPECT_THROW(queue.put(std::vector<char>{'y'}), tandem::FrameError);
    EXPECT_THROW((void)queue.get(0s), tandem::FrameError);
}

// tandem: garbage or an oversized header written raw into a queue's pipe makes get() raise FrameError (before any allocation), and the queue stays broken.
TEST(MpQueue, CorruptedFramesBreakTheQueue) {
    for (const bool oversized : {false, true}) {
        mp::Queue<int> queue;
        tandem::detail::HandoffWriter out;  // the handoff names the queue's descriptors: reader, writer, memory
        tandem::detail::Handoff<mp::Queue<int>>::send(out, queue);
        const int writer = out.fds()[1];
        std::array<std::byte, 24> header{};
        if (oversized) {
            // A well-formed header (its checksum matches) announcing 4 GiB.
            std::memcpy(header.data(), "TNDM", 4);
            header[4] = std::byte{1};
            header[5] = std::byte{5};
            const std::uint32_t size = 0xFFFF'FFFFu;
            std::memcpy(header.data() + 8, &size, 4);
            const std::uint32_t header_crc = tandem::detail::crc32c(std::span(header).first(20));
            std::memcpy(header.data() + 20, &header_crc, 4);
        } else {
            header.fill(std::byte{0x5A});
        }
        ASSERT_EQ(::write(writer, header.data(), header.size()), 24);
        EXPECT_THROW((void)queue.get(long_wait), tandem::FrameError);
        EXPECT_THROW((void)queue.get(0s), tandem::FrameError);
        EXPECT_THROW(queue.put(1), tandem::FrameError);
    }
}

// tandem: queues hold no descriptor after their last handle is gone (feeder eventfds included), and all are close-on-exec.
TEST(MpQueue, NoDescriptorLeaks) {
    const std::size_t before = open_fd_count();
    {
        mp::Queue<int> queue;
        mp::JoinableQueue<int> joinable;
        mp::SimpleQueue<int> simple;
        for (int i = 0; i < 100; ++i) queue.put(i);  // starts the feeder
        for (int i = 0; i < 100; ++i) (void)queue.get(long_wait);
        joinable.put(1);
        simple.put(1);
        mp::Queue<int> copy = queue;  // copies share the queue
        copy.put(7);
        EXPECT_EQ(queue.get(long_wait), 7);
    }
    EXPECT_EQ(open_fd_count(), before);
}

// tandem: a queue handed to another process through SCM_RIGHTS is the same queue; its kind is checked.
TEST(MpQueue, HandoffOverSocket) {
    int channel[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, channel), 0);
    const std::size_t before = open_fd_count();
    {
        mp::JoinableQueue<int> queue(3);
        tandem::detail::HandoffWriter out;
        tandem::detail::Handoff<mp::JoinableQueue<int>>::send(out, queue);
        tandem::detail::send_with_fds(channel[0], out.bytes(), out.fds());
        tandem::detail::send_with_fds(channel[0], out.bytes(), out.fds());
        {
            auto message = tandem::detail::receive_with_fds(channel[1], 1024);
            tandem::detail::HandoffReader in(message.bytes, std::move(message.fds));
            auto copy = tandem::detail::Handoff<mp::JoinableQueue<int>>::receive(in);
            EXPECT_TRUE(in.at_end());
            EXPECT_EQ(copy.maxsize(), 3);
            copy.put(11);
            EXPECT_EQ(queue.get(long_wait), 11);
            EXPECT_FALSE(copy.join(0s));
            queue.task_done();
            EXPECT_TRUE(copy.join(0s));
        }
        auto message = tandem::detail::receive_with_fds(channel[1], 1024);
        tandem::detail::HandoffReader in(message.bytes, std::move(message.fds));
        EXPECT_THROW((void)tandem::detail::Handoff<mp::Queue<int>>::receive(in), tandem::FrameError);
    }
    EXPECT_EQ(open_fd_count(), before);
    ::close(channel[0]);
    ::close(channel[1]);
}
