// Tests for detail/wire/handoff.hpp's specialisations: every shared object
// (synchronize.hpp, sharedctypes.hpp, shared_memory.hpp, connection.hpp,
// queues.hpp) handed to a fresh program, as a spawn or forkserver start
// method does with Process arguments. The parent forks and the child execs
// this very test program (/proc/self/exe); the program notices, before
// GoogleTest starts, that it is such a child (an environment variable names
// the scenario and the socket), receives the objects with SCM_RIGHTS,
// re-creates them, uses them, and exits with a code that says what failed.
// The parent observes the effects through its own handles.
#include "tandem/detail/wire/handoff.hpp"

#include "tandem/detail/wire/fd_passing.hpp"         // send_with_fds / receive_with_fds
#include "tandem/errors.hpp"                         // FrameError, ValueError
#include "tandem/multiprocessing/connection.hpp"     // Pipe, Connection, Handoff<Connection>
#include "tandem/multiprocessing/queues.hpp"         // Queue, JoinableQueue, SimpleQueue and their handoffs
#include "tandem/multiprocessing/shared_memory.hpp"  // SharedMemory, Handoff<SharedMemory>
#include "tandem/multiprocessing/sharedctypes.hpp"   // Value, Array, RawValue, RawArray and their handoffs
#include "tandem/multiprocessing/synchronize.hpp"    // the locks and their handoffs

#include <gtest/gtest.h>  // TEST, EXPECT_*

#include <cerrno>         // errno
#include <chrono>         // timeouts
#include <csignal>        // SIGKILL
#include <cstdlib>        // std::getenv, std::atoi
#include <cstring>        // std::memcpy, std::strcmp
#include <dirent.h>       // counting /proc/self/fd
#include <fcntl.h>        // fcntl, to keep the socket across exec
#include <mutex>          // std::lock_guard, std::unique_lock
#include <numeric>        // std::accumulate
#include <poll.h>         // bounded waits on children
#include <string>         // scenario names, environment
#include <sys/socket.h>   // socketpair
#include <sys/stat.h>     // stat, to look into /dev/shm
#include <sys/syscall.h>  // SYS_pidfd_open
#include <sys/wait.h>     // waitpid
#include <unistd.h>       // fork, execve, _exit
#include <utility>        // std::move
#include <vector>         // environment, items

extern char** environ;

using namespace std::chrono_literals;
namespace mp = tandem::multiprocessing;
using tandem::detail::Handoff;
using tandem::detail::HandoffReader;
using tandem::detail::HandoffWriter;

namespace {

constexpr auto long_wait = 10s;  // for waits that should succeed: a bug fails instead of hanging
constexpr const char* scenario_variable = "TANDEM_TEST_HANDOFF_SCENARIO";
constexpr const char* socket_variable = "TANDEM_TEST_HANDOFF_SOCKET";

template <class T>
void send(HandoffWriter& out, const T& object) {
    Handoff<T>::send(out, object);
}
template <class T>
T receive(HandoffReader& in) {
    return Handoff<T>::receive(in);
}

// --- the child, after exec ------------------------------------------------------------
// Each scenario receives what the parent sent, in the same order, and returns
// 0 when everything behaved, or the number of the first check that failed.

int locks_child(HandoffReader& in) {
    auto lock = receive<mp::Lock>(in);
    auto rlock = receive<mp::RLock>(in);
    auto semaphore = receive<mp::Semaphore>(in);
    auto bounded = receive<mp::BoundedSemaphore>(in);
    auto event = receive<mp::Event>(in);
    if (lock.acquire(false)) return 2;  // the parent holds it
    if (!lock.locked()) return 3;
    if (rlock.acquire(false)) return 4;
    semaphore.release(2);
    if (!bounded.acquire(false)) return 5;
    bounded.release();
    try {
        bounded.release();
        return 6;
    } catch (const tandem::ValueError&) {
    }
    event.set();
    return 0;
}

int condition_barrier_child(HandoffReader& in) {
    auto condition = receive<mp::Condition>(in);        // with its own RLock
    auto lock_condition = receive<mp::Condition>(in);   // bound to a Lock
    auto barrier = receive<mp::Barrier>(in);
    auto stage = receive<mp::Value<int>>(in);
    {
        const std::lock_guard guard(condition);
        stage.value(1);
        condition.notify_all();
    }
    {
        const std::lock_guard guard(lock_condition);
        stage.value(2);
        lock_condition.notify_all();
    }
    const int index = barrier.wait(long_wait);
    return index == 0 || index == 1 ? 0 : 2;
}

int shared_data_child(HandoffReader& in) {
    auto value = receive<mp::Value<double>>(in);
    auto array = receive<mp::Array<int>>(in);
    auto locked_elsewhere = receive<mp::Value<long>>(in);
    auto raw_value = receive<mp::RawValue<long>>(in);
    auto raw_array = receive<mp::RawArray<char>>(in);
    {
        auto memory = receive<mp::SharedMemory>(in);
        if (memory.size() < 4) return 2;
        std::memcpy(memory.buf().data(), "tndm", 4);
    }  // an attached SharedMemory never unlinks
    value.value(2.5);
    {
        const std::lock_guard guard(array.get_lock());
        for (std::size_t i = 0; i < array.size(); ++i) array[i] = static_cast<int>(i * i);
    }
    if (array.size() != 10) return 3;
    locked_elsewhere.value(locked_elsewhere.value() + 1);
    raw_value.value(77);
    if (raw_array.size() != 3) return 4;
    raw_array[0] = 'h';
    raw_array[1] = 'i';
    return 0;
}

int connection_child(HandoffReader& in) {
    auto duplex = receive<mp::Connection>(in);
    auto one_way = receive<mp::Connection>(in);
    if (!duplex.readable() || !duplex.writable()) return 2;
    if (one_way.readable() || !one_way.writable()) return 3;
    const int x = duplex.recv<int>();
    duplex.send(x * 2);
    one_way.send(std::string("through the one-way pipe"));
    return 0;
}

int queues_child(HandoffReader& in) {
    auto queue = receive<mp::Queue<int>>(in);
    auto joinable = receive<mp::JoinableQueue<std::string>>(in);
    auto simple = receive<mp::SimpleQueue<std::vector<int>>>(in);
    int sum = 0;
    for (int i = 0; i < 100; ++i) {
        const int item = queue.get(long_wait);
        if (item != i) return 2;
        sum += item;
    }
    for (int i = 0; i < 3; ++i) {
        (void)joinable.get(long_wait);
        joinable.task_done();
    }
    simple.put({sum});
    queue.put(1 << 18);
    auto big = receive<mp::Queue<std::vector<int>>>(in);
    // Larger than the pipe: this process's feeder writes it, and the queue's
    // destructor at the end of this scope waits until the parent took it in.
    big.put(std::vector<int>(1 << 18, 3));
    return 0;
}

int run_child(const std::string& scenario, int socket) {
    auto message = tandem::detail::receive_with_fds(socket, 1 << 20);
    HandoffReader in(message.bytes, std::move(message.fds));
    int code = 90;
    if (scenario == "locks") code = locks_child(in);
    if (scenario == "condition_barrier") code = condition_barrier_child(in);
    if (scenario == "shared_data") code = shared_data_child(in);
    if (scenario == "connection") code = connection_child(in);
    if (scenario == "queues") code = queues_child(in);
    if (code == 0 && !in.at_end()) code = 91;  // everything sent was received
    return code;
}

// Runs before GoogleTest's main() in every process of this program; in a
// handoff child it runs the scenario and exits, so the child never reaches
// GoogleTest.
const bool handoff_child_checked = [] {
    const char* scenario = std::getenv(scenario_variable);
    const char* socket = std::getenv(socket_variable);
    if (scenario == nullptr || socket == nullptr) return false;
    int code = 100;
    try {
        code = run_child(scenario, std::atoi(socket));
    } catch (...) {
        code = 101;
    }
    ::_exit(code);
}();

// --- the parent -----------------------------------------------------------------------

std::size_t open_fd_count() {
    std::size_t count = 0;
    DIR* directory = ::opendir("/proc/self/fd");
    while (::readdir(directory) != nullptr) ++count;
    ::closedir(directory);
    return count;
}

// A child that execs this program in handoff mode, connected by a socket.
class SpawnedChild {
public:
    explicit SpawnedChild(const std::string& scenario) {
        int pair[2];
        if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
            ADD_FAILURE() << "socketpair: " << std::strerror(errno);
            return;
        }
        // Everything exec needs is built before fork(): the child only calls
        // async-signal-safe functions.
        std::vector<std::string> variables = {std::string(scenario_variable) + "=" + scenario,
                                              std::string(socket_variable) + "=" + std::to_string(pair[1])};
        std::vector<char*> environment;
        for (char** entry = environ; *entry != nullptr; ++entry) environment.push_back(*entry);
        for (auto& variable : variables) environment.push_back(variable.data());
        environment.push_back(nullptr);
        std::string program = "/proc/self/exe";
        std::string filter = "--gtest_filter=-*";  // never used: the child exits before GoogleTest
        char* arguments[] = {program.data(), filter.data(), nullptr};
        pid_ = ::fork();
        if (pid_ == 0) {
            ::fcntl(pair[1], F_SETFD, 0);  // the one descriptor the new program keeps
            ::execve(program.c_str(), arguments, environment.data());
            ::_exit(127);
        }
        ::close(pair[1]);
        socket_ = pair[0];
    }
    SpawnedChild(const SpawnedChild&) = delete;
    SpawnedChild& operator=(const SpawnedChild&) = delete;
    ~SpawnedChild() {
        if (pid_ > 0) (void)join();
        if (socket_ >= 0) ::close(socket_);
    }

    void send(const HandoffWriter& out) const { tandem::detail::send_with_fds(socket_, out.bytes(), out.fds()); }

    // The child's exit code (minus the signal that killed it); a child that
    // outlives the bound is killed and the test fails.
    int join() {
        const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0));
        pollfd entry{pidfd, POLLIN, 0};
        if (pidfd < 0 || ::poll(&entry, 1, 30'000) != 1) {
            ::kill(pid_, SIGKILL);
            ADD_FAILURE() << "child " << pid_ << " did not finish in time";
        }
        if (pidfd >= 0) ::close(pidfd);
        int status = 0;
        ::waitpid(pid_, &status, 0);
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
    }

private:
    pid_t pid_ = -1;
    int socket_ = -1;
};

}  // namespace

// multiprocessing (spawn): a Lock, RLock, Semaphore, BoundedSemaphore and Event passed to a child are the parent's objects.
TEST(Handoff, LocksSemaphoresEventToSpawnedChild) {
    const std::size_t before = open_fd_count();
    {
        mp::Lock lock;
        mp::RLock rlock;
        mp::Semaphore semaphore(0);
        mp::BoundedSemaphore bounded(1);
        mp::Event event;
        ASSERT_TRUE(lock.acquire());
        ASSERT_TRUE(rlock.acquire());
        SpawnedChild child("locks");
        HandoffWriter out;
        send(out, lock);
        send(out, rlock);
        send(out, semaphore);
        send(out, bounded);
        send(out, event);
        child.send(out);
        EXPECT_EQ(child.join(), 0);
        EXPECT_EQ(semaphore.get_value(), 2);
        EXPECT_EQ(bounded.get_value(), 1);
        EXPECT_TRUE(event.is_set());
        EXPECT_TRUE(lock.locked());
        lock.release();
        rlock.release();
    }
    EXPECT_EQ(open_fd_count(), before);
}

// multiprocessing (spawn): a Condition (with an RLock or a Lock), a Barrier and a Value passed to a child synchronise with the parent.
TEST(Handoff, ConditionBarrierToSpawnedChild) {
    const std::size_t before = open_fd_count();
    {
        mp::Condition condition;
        mp::Condition lock_condition{mp::Lock()};
        mp::Barrier barrier(2);
        mp::Value<int> stage(0);
        SpawnedChild child("condition_barrier");
        HandoffWriter out;
        send(out, condition);
        send(out, lock_condition);
        send(out, barrier);
        send(out, stage);
        child.send(out);
        {
            std::unique_lock guard(condition);
            EXPECT_TRUE(condition.wait_for([&] { return stage.value() >= 1; }, long_wait));
        }
        {
            std::unique_lock guard(lock_condition);
            EXPECT_TRUE(lock_condition.wait_for([&] { return stage.value() >= 2; }, long_wait));
        }
        const int index = barrier.wait(long_wait);
        EXPECT_TRUE(index == 0 || index == 1);
        EXPECT_EQ(child.join(), 0);
    }
    EXPECT_EQ(open_fd_count(), before);
}

// multiprocessing (spawn): Value, Array, RawValue, RawArray and a SharedMemory passed to a child share their memory; the child never unlinks the segment.
TEST(Handoff, SharedDataToSpawnedChild) {
    // The first SharedMemory of a process connects it to its reaper for good.
    { mp::SharedMemory warm_up(std::nullopt, true, 1); }
    const std::size_t before = open_fd_count();
    {
        mp::Value<double> value(1.0);
        mp::Array<int> array(10);
        mp::Value<long> locked_elsewhere(41, mp::RLock());  // its lock lives in another region
        mp::RawValue<long> raw_value(0);
        mp::RawArray<char> raw_array(3);
        mp::SharedMemory memory(std::nullopt, true, 4096);
        SpawnedChild child("shared_data");
        HandoffWriter out;
        send(out, value);
        send(out, array);
        send(out, locked_elsewhere);
        send(out, raw_value);
        send(out, raw_array);
        send(out, memory);
        child.send(out);
        EXPECT_EQ(child.join(), 0);
        EXPECT_EQ(value.value(), 2.5);
        for (std::size_t i = 0; i < array.size(); ++i) EXPECT_EQ(array[i], static_cast<int>(i * i));
        EXPECT_EQ(locked_elsewhere.value(), 42);
        EXPECT_EQ(raw_value.value(), 77);
        EXPECT_EQ(raw_array[0], 'h');
        EXPECT_EQ(raw_array[1], 'i');
        EXPECT_EQ(std::string(reinterpret_cast<const char*>(memory.buf().data()), 4), "tndm");
        struct stat info {};
        EXPECT_EQ(::stat(("/dev/shm/" + memory.name()).c_str(), &info), 0) << "the child unlinked the segment";
    }
    EXPECT_EQ(open_fd_count(), before);
}

// multiprocessing (spawn): both ends of Pipe() can be passed to a child and keep their directions.
TEST(Handoff, ConnectionsToSpawnedChild) {
    const std::size_t before = open_fd_count();
    {
        auto [parent_end, child_end] = mp::Pipe();
        auto [reader, writer] = mp::Pipe(false);
        SpawnedChild child("connection");
        HandoffWriter out;
        send(out, child_end);
        send(out, writer);
        child.send(out);
        child_end.close();  // the child has its own copies now
        writer.close();
        parent_end.send(21);
        ASSERT_TRUE(parent_end.poll(long_wait));
        EXPECT_EQ(parent_end.recv<int>(), 42);
        EXPECT_EQ(reader.recv<std::string>(), "through the one-way pipe");
        EXPECT_EQ(child.join(), 0);
        // Every copy of the other ends is closed now.
        EXPECT_THROW((void)reader.recv<std::string>(), tandem::EOFError);
        EXPECT_THROW((void)parent_end.recv<int>(), tandem::EOFError);
    }
    EXPECT_EQ(open_fd_count(), before);
}

// multiprocessing (spawn): a Queue, JoinableQueue and SimpleQueue passed to a child carry items both ways; task_done() in the child ends the parent's join().
TEST(Handoff, QueuesToSpawnedChild) {
    const std::size_t before = open_fd_count();
    {
        mp::Queue<int> queue;
        mp::JoinableQueue<std::string> joinable;
        mp::SimpleQueue<std::vector<int>> simple;
        mp::Queue<std::vector<int>> big;
        for (int i = 0; i < 100; ++i) queue.put(i);
        for (const char* word : {"a", "b", "c"}) joinable.put(word);
        SpawnedChild child("queues");
        HandoffWriter out;
        send(out, queue);
        send(out, joinable);
        send(out, simple);
        send(out, big);
        child.send(out);
        EXPECT_TRUE(joinable.join(long_wait));
        EXPECT_EQ(simple.get(), std::vector<int>{4950});
        EXPECT_EQ(queue.get(long_wait), 1 << 18);
        const auto item = big.get(long_wait);
        EXPECT_EQ(item.size(), std::size_t{1} << 18);
        EXPECT_EQ(child.join(), 0);
    }
    EXPECT_EQ(open_fd_count(), before);
}

// tandem: a malformed handoff (missing descriptor, short message, wrong object at the offset) is an error, never memory misread.
TEST(Handoff, MalformedMessagesAreRejected) {
    mp::Lock lock;
    HandoffWriter out;
    send(out, lock);
    {
        HandoffReader in(out.bytes(), {});  // the descriptor is missing
        EXPECT_THROW((void)receive<mp::Lock>(in), tandem::FrameError);
    }
    int channel[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, channel), 0);
    auto round_trip = [&](std::span<const std::byte> bytes) {
        tandem::detail::send_with_fds(channel[0], bytes, out.fds());
        return tandem::detail::receive_with_fds(channel[1], 1024);
    };
    {
        auto message = round_trip(out.bytes().first(out.bytes().size() - 1));  // short
        HandoffReader in(message.bytes, std::move(message.fds));
        EXPECT_THROW((void)receive<mp::Lock>(in), tandem::FrameError);
    }
    {
        auto message = round_trip(out.bytes());
        HandoffReader in(message.bytes, std::move(message.fds));
        EXPECT_THROW((void)receive<mp::Event>(in), tandem::ValueError);  // a Lock is there, not an Event
    }
    {
        std::vector<std::byte> bad(out.bytes().begin(), out.bytes().end());
        bad.back() = std::byte{0x40};  // the offset now points past the region
        auto message = round_trip(bad);
        HandoffReader in(message.bytes, std::move(message.fds));
        EXPECT_THROW((void)receive<mp::Lock>(in), tandem::ValueError);
    }
    {
        HandoffWriter condition_out;
        mp::Condition condition;
        send(condition_out, condition);
        std::vector<std::byte> bad(condition_out.bytes().begin(), condition_out.bytes().end());
        bad.front() = std::byte{7};  // neither Lock nor RLock
        tandem::detail::send_with_fds(channel[0], bad, condition_out.fds());
        auto message = tandem::detail::receive_with_fds(channel[1], 1024);
        HandoffReader in(message.bytes, std::move(message.fds));
        EXPECT_THROW((void)receive<mp::Condition>(in), tandem::FrameError);
    }
    ::close(channel[0]);
    ::close(channel[1]);
}
