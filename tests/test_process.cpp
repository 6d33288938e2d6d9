// multiprocessing::Process under every start method: lifecycle, exit codes,
// errors, names, hygiene (descriptors, zombies, children dying with the
// thread-independent parent), and forking while other threads hold locks.
#include <gtest/gtest.h>  // TEST_P, EXPECT_*

#include <dirent.h>      // listing /proc/self/fd, /proc/self/task
#include <fcntl.h>       // open, O_CLOEXEC
#include <poll.h>        // bounded waits on sentinels and sockets
#include <sched.h>       // sched_getaffinity
#include <sys/socket.h>  // the abstract socket a child answers on
#include <sys/stat.h>    // stat for /proc/self/task/<tid>
#include <sys/un.h>      // sockaddr_un
#include <sys/wait.h>    // waitid on a dup of a sentinel
#include <unistd.h>      // pipe2, read, write, getpid, gettid

#include <atomic>     // the busy malloc thread's stop flag
#include <chrono>     // timeouts
#include <csignal>    // SIGKILL, SIGTERM, SIGABRT, SIGINT, sigtimedwait
#include <cstdio>     // reading the captured stderr
#include <cstdlib>    // std::exit, std::abort
#include <fstream>    // /proc/<pid>/stat
#include <memory>     // the malloc loop's allocations
#include <mutex>      // the lock another thread holds during starts
#include <numeric>    // std::accumulate
#include <optional>   // exit codes
#include <pthread.h>  // pthread_sigmask
#include <stdexcept>  // std::runtime_error, std::invalid_argument from targets
#include <string>     // names, messages
#include <thread>     // other threads while processes start
#include <vector>     // arguments, process lists

#include "tandem/detail/launch/launcher.hpp"       // ChildSetup
#include "tandem/detail/launch/reexec.hpp"         // exec_worker
#include "tandem/detail/os/pidfd.hpp"              // open_pidfd
#include "tandem/detail/os/unique_fd.hpp"          // detail::UniqueFd
#include "tandem/detail/wire/encoding.hpp"         // detail::encode for a hand-made start message
#include "tandem/detail/wire/fd_passing.hpp"       // send_with_fds / receive_with_fds to a spawned child
#include "tandem/errors.hpp"                       // RuntimeError, ValueError, ProcessError
#include "tandem/multiprocessing/connection.hpp"   // Pipe, Connection: handed-off arguments
#include "tandem/multiprocessing/process.hpp"      // Process, ForkProcess, current_process, ...
#include "tandem/multiprocessing/synchronize.hpp"  // Event: a handed-off shared object

#include "support/child_process.hpp"  // fork_child, join_child: a fresh process per signal test

namespace {

using namespace std::chrono_literals;
using tandem::detail::UniqueFd;
using namespace tandem::multiprocessing;

// --- targets (free functions: they run in other program images) ---------------------

void do_nothing() {}
void exit_with(int code) { std::exit(code); }
void throw_invalid_argument(std::string message) { throw std::invalid_argument(message); }
void abort_now() { std::abort(); }
void block_forever() {
    for (;;) ::pause();
}
// Says it runs, then blocks until a signal ends it.
void ready_then_block(Connection ready) {
    ready.send(1);
    block_forever();
}
// Exits 0 if the arguments arrived intact.
void check_arguments(std::string text, std::vector<int> numbers, double value) {
    const bool intact = text == "héllo" && numbers == std::vector<int>{1, 2, 3} && value == 2.5;
    std::exit(intact ? 0 : 10);
}
// Exits 0 if current_process() and parent_process() describe this child and
// tandem's worker marker is gone from its environment.
void check_identity(std::string expected_name, int expected_parent_pid, bool expected_daemon) {
    if (current_process().name() != expected_name) std::exit(10);
    if (current_process().pid() != ::getpid()) std::exit(11);
    if (current_process().daemon() != expected_daemon) std::exit(12);
    const auto parent = parent_process();
    if (!parent) std::exit(13);
    if (parent->name() != "MainProcess" || parent->pid() != expected_parent_pid) std::exit(14);
    if (!parent->is_alive()) std::exit(15);
    if (!active_children().empty()) std::exit(16);
    if (std::getenv("TANDEM_WORKER") != nullptr) std::exit(17);  // removed before the target runs
    std::exit(0);
}
// Exits with the number of open descriptors besides 0, 1 and 2.
int count_fds() {
    DIR* directory = ::opendir("/proc/self/fd");
    if (directory == nullptr) return -1;
    int count = 0;
    while (const dirent* entry = ::readdir(directory)) {
        if (entry->d_name[0] != '.') ++count;
    }
    ::closedir(directory);
    return count - 1;  // the directory's own descriptor
}
void exit_with_extra_fd_count() { std::exit(count_fds() - 3); }
// A daemon child tries to start a child of its own: exits 7 on the expected error.
void start_grandchild() {
    Process grandchild({.start_method = StartMethod::fork}, &do_nothing);
    try {
        grandchild.start();
    } catch (const tandem::RuntimeError&) {
        std::exit(7);
    }
    grandchild.join();
    std::exit(1);
}
// Connects to the abstract socket `name` and echoes one byte. Returns rather
// than calling exit(): under LeakSanitizer, exit() in a child forked from a
// thread other than main reports what only the parent's other threads
// referenced (process.hpp).
void echo_once(std::string name) {
    UniqueFd socket(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    name.copy(address.sun_path + 1, sizeof address.sun_path - 2);
    const auto length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
    if (::connect(socket.get(), reinterpret_cast<const sockaddr*>(&address), length) != 0) {
        throw std::runtime_error("connect failed");
    }
    char byte = 0;
    if (::read(socket.get(), &byte, 1) != 1 || ::write(socket.get(), &byte, 1) != 1) {
        throw std::runtime_error("echo failed");
    }
}
// Says it is running, then waits to be interrupted: SIGINT's default action ends it.
void wait_for_interrupt(Event running) {
    running.set();
    for (;;) ::pause();
}
// Takes SIGINT itself (as a Python target catching KeyboardInterrupt): blocks it,
// says it is ready, and exits 7 once it came (1 if it never did in 20 s).
void exit_seven_when_interrupted(Event ready) {
    sigset_t interrupt;
    ::sigemptyset(&interrupt);
    ::sigaddset(&interrupt, SIGINT);
    ::sigprocmask(SIG_BLOCK, &interrupt, nullptr);
    ready.set();
    const timespec limit{20, 0};
    std::exit(::sigtimedwait(&interrupt, nullptr, &limit) == SIGINT ? 7 : 1);
}

// Sends value * 2 back through a handed-off Connection, after waiting for a handed-off Event.
void reply_through(Connection connection, Event go, int value) {
    if (!go.wait(std::chrono::seconds(30))) std::exit(30);
    connection.send(value * 2);
}
// Allocates a little and exits 0: a child of a parent busy in malloc.
void allocate_and_exit() {
    std::vector<std::unique_ptr<int>> blocks;
    for (int i = 0; i < 100; ++i) blocks.push_back(std::make_unique<int>(i));
    std::exit(blocks.size() == 100 ? 0 : 1);
}

// --- helpers ---------------------------------------------------------------------------

std::string method_name(const testing::TestParamInfo<StartMethod>& info) {
    return std::string(start_method_name(info.param));
}

// True if `fd` becomes readable within `timeout`.
bool readable_within(int fd, std::chrono::milliseconds timeout) {
    pollfd entry{fd, POLLIN, 0};
    return ::poll(&entry, 1, static_cast<int>(timeout.count())) == 1;
}

// The zombie children of this process (from /proc/<pid>/stat: state Z, ppid us).
std::vector<pid_t> zombie_children() {
    std::vector<pid_t> zombies;
    DIR* proc = ::opendir("/proc");
    while (const dirent* entry = ::readdir(proc)) {
        const pid_t pid = static_cast<pid_t>(std::atoi(entry->d_name));
        if (pid <= 0) continue;
        std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
        std::string line;
        if (!std::getline(stat, line)) continue;
        const auto close = line.rfind(')');
        if (close == std::string::npos) continue;
        char state = 0;
        int parent = 0;
        if (std::sscanf(line.c_str() + close + 1, " %c %d", &state, &parent) != 2) continue;
        if (state == 'Z' && parent == ::getpid()) zombies.push_back(pid);
    }
    ::closedir(proc);
    return zombies;
}

// Captures what this process and its children write to stderr meanwhile.
class StderrCapture {
public:
    StderrCapture() : file_(std::tmpfile()), saved_(::dup(2)) {
        std::fflush(stderr);
        ::dup2(::fileno(file_), 2);
    }
    ~StderrCapture() {
        restore();
        std::fclose(file_);
    }
    std::string text() {
        restore();
        std::string result;
        std::rewind(file_);
        char buffer[512];
        while (const std::size_t got = std::fread(buffer, 1, sizeof buffer, file_)) result.append(buffer, got);
        return result;
    }

private:
    void restore() {
        if (saved_.get() < 0) return;
        std::fflush(stderr);
        ::dup2(saved_.get(), 2);
        saved_.reset();
    }
    std::FILE* file_;
    UniqueFd saved_;
};

class ProcessTest : public testing::TestWithParam<StartMethod> {
protected:
    ProcessOptions options(std::optional<std::string> name = std::nullopt) const {
        return ProcessOptions{.name = std::move(name), .start_method = GetParam()};
    }
    void TearDown() override { EXPECT_TRUE(zombie_children().empty()); }
};

INSTANTIATE_TEST_SUITE_P(StartMethods, ProcessTest,
                         testing::Values(StartMethod::fork, StartMethod::forkserver, StartMethod::spawn), method_name);

// --- lifecycle and exit codes -------------------------------------------------------------

// Python: a target that returns gives exitcode 0; pid is set, is_alive() false after join().
TEST_P(ProcessTest, TargetThatReturnsExitsZero) {
    Process p(options(), &do_nothing);
    EXPECT_FALSE(p.pid().has_value());
    EXPECT_FALSE(p.exitcode().has_value());
    EXPECT_FALSE(p.is_alive());
    p.start();
    ASSERT_TRUE(p.pid().has_value());
    EXPECT_GT(*p.pid(), 0);
    p.join();
    EXPECT_EQ(p.exitcode(), 0);
    EXPECT_FALSE(p.is_alive());
}

// Python: sys.exit(n) in the target gives exitcode n; here exit(n).
TEST_P(ProcessTest, ExitInsideTargetGivesItsCode) {
    Process p(options(), &exit_with, 3);
    p.start();
    p.join();
    EXPECT_EQ(p.exitcode(), 3);
}

// Python: an exception in the target gives exitcode 1 and a report on stderr.
TEST_P(ProcessTest, ThrowingTargetExitsOneAndReportsOnStderr) {
    StderrCapture capture;
    Process p(options("thrower"), &throw_invalid_argument, std::string("boom"));
    p.start();
    p.join();
    EXPECT_EQ(p.exitcode(), 1);
    EXPECT_NE(capture.text().find("Process thrower: std::invalid_argument: boom"), std::string::npos)
        << capture.text();
}

// Python: a child killed by a signal has exitcode -signum (abort -> -6).
TEST_P(ProcessTest, AbortGivesMinusSix) {
    Process p(options(), &abort_now);
    p.start();
    p.join();
    EXPECT_EQ(p.exitcode(), -SIGABRT);
}

// Python: kill() sends SIGKILL, exitcode -9.
TEST_P(ProcessTest, KillGivesMinusNine) {
    Process p(options(), &block_forever);
    p.start();
    EXPECT_TRUE(p.is_alive());
    p.kill();
    p.join();
    EXPECT_EQ(p.exitcode(), -SIGKILL);
    p.kill();  // after the end: nothing happens, as Python
}

// Python: terminate() sends SIGTERM, exitcode -15.
TEST_P(ProcessTest, TerminateGivesMinusFifteen) {
    Process p(options(), &block_forever);
    p.start();
    p.terminate();
    p.join();
    EXPECT_EQ(p.exitcode(), -SIGTERM);
}

// Sets SIGINT's action in this (the parent) process for a scope: fork and spawn
// children start with the parent's disposition if it is "ignore".
class SigintAction {
public:
    explicit SigintAction(void (*handler)(int)) { ::sigaction(SIGINT, nullptr, &saved_); ::signal(SIGINT, handler); }
    ~SigintAction() { ::sigaction(SIGINT, &saved_, nullptr); }
    SigintAction(const SigintAction&) = delete;
    SigintAction& operator=(const SigintAction&) = delete;

private:
    struct sigaction saved_ {};
};

// Starts target(ready), interrupts it once it has set `ready`, and returns its
// exit code (nullopt if it never got ready or did not end in time).
std::optional<int> exitcode_after_interrupt(ProcessOptions options, void (*target)(Event)) {
    Event ready;
    Process p(std::move(options), target, ready);
    p.start();
    const bool got_ready = ready.wait(20s);
    p.interrupt();
    if (!got_ready || !p.join(30s)) {
        p.kill();
        p.join();
        return std::nullopt;
    }
    p.interrupt();  // after the end: nothing happens, as with terminate() and kill()
    return p.exitcode();
}

// Python 3.14: interrupt() sends SIGINT. A C++ child has no KeyboardInterrupt: with
// SIGINT's default action it ends, exitcode -SIGINT (Python: 1, from the uncaught
// KeyboardInterrupt).
TEST_P(ProcessTest, InterruptEndsAChildThatDoesNotHandleIt) {
    const SigintAction default_action(SIG_DFL);  // the test runner might ignore SIGINT
    EXPECT_EQ(exitcode_after_interrupt(options(), &wait_for_interrupt), -SIGINT);
}

// Python 3.14: a target that handles the interrupt (catches KeyboardInterrupt) goes on.
TEST_P(ProcessTest, InterruptReachesATargetThatHandlesIt) {
    EXPECT_EQ(exitcode_after_interrupt(options(), &exit_seven_when_interrupted), 7);
}

// interrupt() before start() is a RuntimeError, as terminate() and kill() are.
TEST_P(ProcessTest, InterruptBeforeStartRaises) {
    Process p(options(), &do_nothing);
    EXPECT_THROW(p.interrupt(), tandem::RuntimeError);
}

// Runs in a fresh child of the test (fork_child), so that the forkserver too
// is started by a thread in the state `prepare` makes: starts a child with
// `method`, waits until its target runs, terminates it, and joins it within
// a bound. 0 if it ended by SIGTERM.
template <class Prepare>
int terminate_started_child(StartMethod method, Prepare prepare) {
    prepare();
    auto [reader, writer] = Pipe(false);
    Process child({.start_method = method}, &ready_then_block, std::move(writer));
    child.start();
    if (!reader.poll(30s) || reader.recv<int>() != 1) return 2;
    child.terminate();
    if (!child.join(10s)) {
        child.kill();
        child.join();
        return 3;
    }
    return child.exitcode() == -SIGTERM ? 0 : 4;
}

// Python: terminate() ends a child with SIGTERM (exitcode -15). tandem: every
// child starts with an empty signal mask, whatever the thread that started
// it had blocked, so SIGTERM blocked in main() does not make children immune.
TEST_P(ProcessTest, TerminateEndsAChildStartedWithSigtermBlocked) {
    const pid_t pid = tandem_test::fork_child([method = GetParam()] {
        return terminate_started_child(method, [] {
            sigset_t terminate;
            ::sigemptyset(&terminate);
            ::sigaddset(&terminate, SIGTERM);
            ::pthread_sigmask(SIG_BLOCK, &terminate, nullptr);
        });
    });
    EXPECT_EQ(tandem_test::join_child(pid, 60s), 0);
}

// tandem: every child starts with the default action for every signal, so
// SIGTERM ignored in the parent is not ignored in its children.
TEST_P(ProcessTest, TerminateEndsAChildStartedWithSigtermIgnored) {
    const pid_t pid = tandem_test::fork_child([method = GetParam()] {
        return terminate_started_child(method, [] { ::signal(SIGTERM, SIG_IGN); });
    });
    EXPECT_EQ(tandem_test::join_child(pid, 60s), 0);
}

// Python: join(timeout) returns when the time is up; is_alive() is then still true.
TEST_P(ProcessTest, JoinTimeoutThenIsAlive) {
    Process p(options(), &block_forever);
    p.start();
    EXPECT_FALSE(p.join(20ms));
    EXPECT_TRUE(p.is_alive());
    EXPECT_FALSE(p.exitcode().has_value());
    EXPECT_FALSE(p.join(-1s));  // a negative timeout counts as zero
    p.kill();
    EXPECT_TRUE(p.join(10s));
    EXPECT_FALSE(p.is_alive());
}

// Python: the arguments reach the target (str, list, float).
TEST_P(ProcessTest, ArgumentsArriveIntact) {
    Process p(options(), &check_arguments, "héllo", std::vector<int>{1, 2, 3}, 2.5);
    p.start();
    p.join();
    EXPECT_EQ(p.exitcode(), 0);
}

// Python: a captureless lambda works as a target too (here under every method).
TEST_P(ProcessTest, CapturelessLambdaTarget) {
    Process p(options(), [](int code) { std::exit(code + 1); }, 4);
    p.start();
    p.join();
    EXPECT_EQ(p.exitcode(), 5);
}

// Python: a Pipe end and an Event passed as arguments work in the child (handed off with
// SCM_RIGHTS under spawn and forkserver, inherited under fork); the parent's copy of the
// child's end is dropped once the child started, so EOF follows the child's exit.
TEST_P(ProcessTest, HandedOffArgumentsReachTheChild) {
    auto [parent_end, child_end] = Pipe();
    Event go;
    Process p(options(), &reply_through, std::move(child_end), go, 21);
    p.start();
    go.set();
    ASSERT_TRUE(parent_end.poll(30s));
    EXPECT_EQ(parent_end.recv<int>(), 42);
    p.join();
    EXPECT_EQ(p.exitcode(), 0);
    EXPECT_THROW(static_cast<void>(parent_end.recv<int>()), tandem::EOFError);
}

// Python: current_process() and parent_process() inside the child describe it.
TEST_P(ProcessTest, ChildKnowsItselfAndItsParent) {
    Process p(options("worker-7"), &check_identity, std::string("worker-7"), static_cast<int>(::getpid()), false);
    p.start();
    p.join();
    EXPECT_EQ(p.exitcode(), 0);
}

// Python: daemonic processes are not allowed to have children.
TEST_P(ProcessTest, DaemonCannotStartChildren) {
    ProcessOptions daemon_options = options();
    daemon_options.daemon = true;
    Process p(daemon_options, &start_grandchild);
    EXPECT_TRUE(p.daemon());
    p.start();
    p.join();
    EXPECT_EQ(p.exitcode(), 7);
}

// Python: the sentinel becomes ready when the process ends; then is_alive() is false.
TEST_P(ProcessTest, SentinelIsReadableOnceTheChildEnded) {
    Process p(options(), &exit_with, 0);
    p.start();
    ASSERT_TRUE(readable_within(p.sentinel(), 10s));
    EXPECT_FALSE(p.is_alive());
    EXPECT_EQ(p.exitcode(), 0);
}

// Python: multiprocessing.connection.wait() over sentinels returns those of ended processes.
TEST_P(ProcessTest, WaitOverSentinels) {
    Process running(options(), &block_forever);
    Process ending(options(), &exit_with, 0);
    running.start();
    ending.start();
    const auto ready = tandem::multiprocessing::wait({running.sentinel(), ending.sentinel()}, 30s);
    ASSERT_EQ(ready.size(), 1u);
    EXPECT_EQ(ready[0].fileno(), ending.sentinel());
    running.kill();
    running.join();
    ending.join();
}

// Python: active_children() lists live children and drops the finished ones.
TEST_P(ProcessTest, ActiveChildrenTracksLiveChildren) {
    Process a(options(), &block_forever);
    Process b(options(), &block_forever);
    a.start();
    b.start();
    auto children = active_children();
    ASSERT_EQ(children.size(), 2u);
    EXPECT_EQ(children[0], &a);
    EXPECT_EQ(children[1], &b);
    a.kill();
    a.join();
    children = active_children();
    ASSERT_EQ(children.size(), 1u);
    EXPECT_EQ(children[0], &b);
    b.kill();
    ASSERT_TRUE(readable_within(b.sentinel(), 10s));
    EXPECT_TRUE(active_children().empty());  // reaps b
    EXPECT_EQ(b.exitcode(), -SIGKILL);
}

// tandem: a daemon child still running when its Process is destroyed is terminated and reaped.
TEST_P(ProcessTest, DestroyingARunningDaemonTerminatesIt) {
    UniqueFd watch;
    pid_t pid = 0;
    {
        ProcessOptions daemon_options = options();
        daemon_options.daemon = true;
        Process p(daemon_options, &block_forever);
        p.start();
        pid = *p.pid();
        watch.reset(::fcntl(p.sentinel(), F_DUPFD_CLOEXEC, 0));
    }
    EXPECT_TRUE(readable_within(watch.get(), 0ms));  // ended before the destructor returned
    EXPECT_TRUE(zombie_children().empty());
    if (GetParam() != StartMethod::forkserver) {
        siginfo_t info{};
        EXPECT_EQ(::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG), -1);  // already reaped
        EXPECT_EQ(errno, ECHILD);
    }
}

// --- hygiene -----------------------------------------------------------------------------

// tandem: starting, joining and closing processes leaves no descriptor behind.
TEST_P(ProcessTest, NoDescriptorLeaks) {
    {
        Process warm_up(options(), &do_nothing);  // the forkserver keeps one socket for good
        warm_up.start();
        warm_up.join();
    }
    const int before = count_fds();
    for (int i = 0; i < 3; ++i) {
        Process p(options(), &exit_with, i);
        p.start();
        p.join();
        EXPECT_EQ(p.exitcode(), i);
        p.close();
    }
    {
        Process killed(options(), &block_forever);
        killed.start();
        killed.kill();
    }
    EXPECT_EQ(count_fds(), before);
}

// tandem: a spawned or forkserver child gets only 0, 1 and 2 (a forked one inherits everything, as fork does).
TEST_P(ProcessTest, FreshChildGetsOnlyStandardDescriptors) {
    if (GetParam() == StartMethod::fork) {
        Process p(options(), &exit_with_extra_fd_count);  // fork: everything open here is inherited
        p.start();
        p.join();
        EXPECT_GE(p.exitcode().value_or(-1), 0);
        return;
    }
    UniqueFd unrelated(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    Process p(options(), &exit_with_extra_fd_count);
    p.start();
    p.join();
    EXPECT_EQ(p.exitcode(), 0);
}

// tandem: PR_SET_PDEATHSIG follows the forking thread, yet a Process started from a
// short-lived thread survives that thread's exit.
TEST_P(ProcessTest, ChildSurvivesTheThreadThatStartedIt) {
    const std::string name = "tandem-test-" + std::to_string(::getpid()) + "-" + std::string(start_method_name(GetParam()));
    UniqueFd listener(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    name.copy(address.sun_path + 1, sizeof address.sun_path - 2);
    const auto length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
    ASSERT_EQ(::bind(listener.get(), reinterpret_cast<const sockaddr*>(&address), length), 0);
    ASSERT_EQ(::listen(listener.get(), 1), 0);

    std::optional<Process> p;
    pid_t starter = 0;
    std::thread([&] {
        starter = ::gettid();
        p.emplace(options(), &echo_once, name);
        p->start();
    }).join();
    // The thread is gone from /proc once its exit (and any PDEATHSIG it sends) is complete.
    const std::string task = "/proc/self/task/" + std::to_string(starter);
    struct stat info{};
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (::stat(task.c_str(), &info) == 0 && std::chrono::steady_clock::now() < deadline) {
        ::poll(nullptr, 0, 1);  // no descriptor reports a thread's end: check again shortly
    }
    ASSERT_NE(::stat(task.c_str(), &info), 0);

    ASSERT_TRUE(readable_within(listener.get(), 10s));
    UniqueFd connection(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
    ASSERT_TRUE(connection);
    const char ping = 'x';
    ASSERT_EQ(::write(connection.get(), &ping, 1), 1);
    ASSERT_TRUE(readable_within(connection.get(), 10s));
    char pong = 0;
    EXPECT_EQ(::read(connection.get(), &pong, 1), 1);  // a child killed by PDEATHSIG could not answer
    EXPECT_EQ(pong, 'x');
    p->join();
    EXPECT_EQ(p->exitcode(), 0);
}

// --- errors as Python ---------------------------------------------------------------------

// Python: "cannot start a process twice"; join before start; sentinel before start.
TEST_P(ProcessTest, MisuseRaisesAsPython) {
    Process p(options(), &do_nothing);
    EXPECT_THROW(p.join(), tandem::RuntimeError);
    EXPECT_THROW(static_cast<void>(p.sentinel()), tandem::ValueError);
    EXPECT_THROW(p.terminate(), tandem::RuntimeError);
    p.start();
    try {
        p.start();
        FAIL() << "second start() did not throw";
    } catch (const tandem::RuntimeError& e) {
        EXPECT_STREQ(e.what(), "cannot start a process twice");
    }
    EXPECT_THROW(p.set_daemon(true), tandem::RuntimeError);
    p.join();
}

// Python: close() refuses a running process; afterwards only name/daemon/close work.
TEST_P(ProcessTest, CloseErrors) {
    Process p(options(), &block_forever);
    p.start();
    EXPECT_THROW(p.close(), tandem::ValueError);
    p.kill();
    p.join();
    p.close();
    p.close();  // again: nothing
    EXPECT_THROW(p.is_alive(), tandem::ValueError);
    EXPECT_THROW(static_cast<void>(p.exitcode()), tandem::ValueError);
    EXPECT_THROW(static_cast<void>(p.pid()), tandem::ValueError);
    EXPECT_THROW(static_cast<void>(p.sentinel()), tandem::ValueError);
    EXPECT_THROW(p.join(), tandem::ValueError);
    EXPECT_THROW(p.start(), tandem::ValueError);
    EXPECT_THROW(p.kill(), tandem::ValueError);
    EXPECT_FALSE(p.name().empty());
}

// --- not parameterised ----------------------------------------------------------------------

// CPython gh-50970: starting processes while another thread holds a lock and a third is busy in
// malloc must not deadlock the children: the default (forkserver after init), forkserver, spawn.
// (An explicit fork of a multi-threaded process is the caller's risk: context.hpp.)
TEST(Process, StartsWhileOtherThreadsHoldLocksAndAllocate) {
    std::mutex held;
    std::atomic<bool> stop{false};
    std::atomic<bool> holding{false};
    std::thread holder([&] {
        const std::lock_guard guard(held);
        holding = true;
        while (!stop) std::this_thread::yield();
    });
    std::thread allocator([&] {
        while (!stop) {
            auto block = std::make_unique<std::vector<int>>(64, 1);
            static_cast<void>(std::accumulate(block->begin(), block->end(), 0));
        }
    });
    while (!holding) std::this_thread::yield();
    std::vector<Process> children;
    const std::optional<StartMethod> methods[] = {std::nullopt, StartMethod::forkserver, StartMethod::spawn};
    for (int i = 0; i < 6; ++i) {
        children.emplace_back(ProcessOptions{.start_method = methods[i % 3]}, &allocate_and_exit);
        children.back().start();
    }
    for (Process& child : children) {
        EXPECT_TRUE(child.join(30s));
        EXPECT_EQ(child.exitcode(), 0);
    }
    stop = true;
    holder.join();
    allocator.join();
}


// Python: Process names default to "Process-N", counting up.
TEST(Process, DefaultNamesCountUp) {
    Process a(&do_nothing);
    Process b(&do_nothing);
    ASSERT_EQ(a.name().rfind("Process-", 0), 0u);
    const int first = std::stoi(a.name().substr(8));
    EXPECT_EQ(b.name(), "Process-" + std::to_string(first + 1));
    b.set_name("renamed");
    EXPECT_EQ(b.name(), "renamed");
}

// Python: current_process() is "MainProcess"; parent_process() is None there.
TEST(Process, CurrentProcessInTheMainProgram) {
    Process& self = current_process();
    EXPECT_EQ(self.name(), "MainProcess");
    EXPECT_EQ(self.pid(), ::getpid());
    EXPECT_TRUE(self.is_alive());
    EXPECT_FALSE(self.daemon());
    EXPECT_THROW(self.join(), tandem::RuntimeError);
    EXPECT_FALSE(parent_process().has_value());
}

// Python: cpu_count() is at least 1 and (3.13) honours the affinity mask.
TEST(Process, CpuCountHonoursAffinity) {
    cpu_set_t set;
    CPU_ZERO(&set);
    ASSERT_EQ(::sched_getaffinity(0, sizeof set, &set), 0);
    EXPECT_EQ(cpu_count(), static_cast<std::size_t>(CPU_COUNT(&set)));
}

// Python's ForkProcess: any callable, captured state copied into the child.
TEST(Process, ForkProcessRunsCapturingLambdas) {
    int base = 40;
    ForkProcess p([&base](int extra) { std::exit(base + extra); }, 2);
    p.start();
    p.join();
    EXPECT_EQ(p.exitcode(), 42);
}

// tandem: a ForkProcess cannot be told to use another start method.
TEST(Process, ForkProcessRefusesOtherMethods) {
    EXPECT_THROW(ForkProcess({.start_method = StartMethod::spawn}, [] {}), tandem::ValueError);
}

// tandem: a non-daemon child still running when its Process is destroyed is joined.
TEST(Process, DestroyingARunningChildJoinsIt) {
    int pipe[2];
    ASSERT_EQ(::pipe2(pipe, O_CLOEXEC), 0);
    UniqueFd read_end(pipe[0]);
    UniqueFd write_end(pipe[1]);
    UniqueFd watch;
    std::thread releaser;
    {
        ForkProcess p([fd = read_end.get()] {
            char byte = 0;
            std::exit(::read(fd, &byte, 1) == 1 ? 0 : 1);
        });
        p.start();
        watch.reset(::fcntl(p.sentinel(), F_DUPFD_CLOEXEC, 0));
        EXPECT_FALSE(readable_within(watch.get(), 0ms));
        const char byte = 'x';
        ASSERT_EQ(::write(write_end.get(), &byte, 1), 1);
    }  // joins here
    EXPECT_TRUE(readable_within(watch.get(), 0ms));
}

// tandem: a Process can be moved; active_children() follows the move.
TEST(Process, MovedProcessKeepsItsChild) {
    Process original({.start_method = StartMethod::fork}, &block_forever);
    original.start();
    Process moved(std::move(original));
    ASSERT_EQ(active_children().size(), 1u);
    EXPECT_EQ(active_children()[0], &moved);
    moved.kill();
    moved.join();
    EXPECT_EQ(moved.exitcode(), -SIGKILL);
}

// tandem: a spawned child that runs a different build than its parent refuses to start
// (faked here by sending the child a wrong build id), and start() reports why.
TEST(Process, SpawnedChildRefusesADifferentBuild) {
    int pair[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
    UniqueFd ours(pair[0]);
    UniqueFd theirs(pair[1]);
    const pid_t pid = tandem::detail::exec_worker("spawn", theirs.get());
    UniqueFd pidfd = tandem::detail::open_pidfd(pid);
    theirs.reset();
    tandem::detail::HandoffWriter message;
    message.write_bytes(std::vector<std::byte>(20, std::byte{0xab}));  // not our build id
    message.write_bytes(tandem::detail::encode(tandem::detail::ChildSetup{.name = "impostor"}));
    tandem::detail::send_with_fds(ours.get(), message.bytes());
    ASSERT_TRUE(readable_within(ours.get(), 30s));
    const auto reply = tandem::detail::receive_with_fds(ours.get(), 1 << 16);
    const std::string text(reinterpret_cast<const char*>(reply.bytes.data()), reply.bytes.size());
    EXPECT_NE(text.find("different build"), std::string::npos) << text;
    ASSERT_TRUE(readable_within(pidfd.get(), 30s));
    siginfo_t info{};
    ASSERT_EQ(::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED), 0);
    EXPECT_EQ(info.si_status, 1);
}

// tandem: the target must be a function pointer or captureless lambda (checked at compile time).
TEST(Process, RemoteCallableTargets) {
    static_assert(tandem::detail::RemoteCallable<decltype(&do_nothing)>);
    static_assert(tandem::detail::RemoteCallable<decltype([](int) {})>);
    int captured = 0;
    auto capturing = [&captured] { ++captured; };
    static_assert(!tandem::detail::RemoteCallable<decltype(capturing)>);
    // Process(capturing) fails to compile with a message naming ForkProcess.
    SUCCEED();
}

}  // namespace
