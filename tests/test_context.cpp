// Start methods and contexts: names, get_context, set_start_method's rules,
// the default method's choice, and what a program without tandem::init() gets
// (checked in a re-execution of this test program with init() skipped).
#include <gtest/gtest.h>  // TEST, EXPECT_*

#include <poll.h>         // bounded wait on the re-executed program
#include <sys/syscall.h>  // SYS_pidfd_open (glibc 2.36 cannot link pidfd_open from C++)
#include <sys/wait.h>     // waitpid
#include <unistd.h>       // fork, execve

#include <atomic>   // the extra thread's stop flag
#include <cstdlib>  // std::getenv, std::exit
#include <string>   // messages
#include <thread>   // a second thread for the default-method rule
#include <vector>   // arguments and environment

#include "tandem/detail/os/unique_fd.hpp"      // detail::UniqueFd
#include "tandem/errors.hpp"                   // ValueError, RuntimeError, ProcessError
#include "tandem/init.hpp"                     // tandem::initialized
#include "tandem/multiprocessing/context.hpp"  // get_context, set_start_method, ...

namespace {

using namespace tandem::multiprocessing;
using tandem::detail::UniqueFd;

void exit_with(int code) { std::exit(code); }

// Restores the default context whatever a test did to it.
class DefaultContextTest : public testing::Test {
protected:
    void TearDown() override { set_start_method(std::nullopt, true); }
};

// Python: the start methods are named "fork", "forkserver" and "spawn".
TEST(StartMethods, NamesRoundTrip) {
    for (StartMethod method : {StartMethod::fork, StartMethod::forkserver, StartMethod::spawn}) {
        EXPECT_EQ(parse_start_method(start_method_name(method)), method);
    }
}

// Python: get_context('nonsense') raises ValueError("cannot find context for 'nonsense'").
TEST(StartMethods, UnknownNameIsValueError) {
    try {
        get_context("nonsense");
        FAIL() << "no ValueError";
    } catch (const tandem::ValueError& e) {
        EXPECT_STREQ(e.what(), "cannot find context for 'nonsense'");
    }
    EXPECT_THROW(set_start_method("Fork"), tandem::ValueError);
}

// Python: after init (3.14) the default is forkserver, listed first.
TEST(StartMethods, AllMethodsAfterInitDefaultFirst) {
    ASSERT_TRUE(tandem::initialized());
    EXPECT_EQ(get_all_start_methods(), (std::vector<std::string>{"forkserver", "fork", "spawn"}));
}

// Python: a context reports its own method and starts processes with it.
TEST(StartMethods, ContextStartsItsMethod) {
    for (const char* name : {"fork", "forkserver", "spawn"}) {
        const Context context = get_context(name);
        EXPECT_EQ(context.get_start_method(), name);
        Process p = context.Process(&exit_with, 9);
        p.start();
        p.join();
        EXPECT_EQ(p.exitcode(), 9) << name;
        Process named = context.Process({.name = "ctx-child"}, &exit_with, 0);
        EXPECT_EQ(named.name(), "ctx-child");
    }
}

// Python: set_start_method twice raises RuntimeError('context has already been set') unless force.
TEST_F(DefaultContextTest, SetTwiceNeedsForce) {
    set_start_method("spawn", true);
    EXPECT_EQ(get_start_method(), "spawn");
    try {
        set_start_method("fork");
        FAIL() << "no RuntimeError";
    } catch (const tandem::RuntimeError& e) {
        EXPECT_STREQ(e.what(), "context has already been set");
    }
    set_start_method(StartMethod::fork, true);
    EXPECT_EQ(get_start_method(), "fork");
    EXPECT_EQ(get_context().get_start_method(), "fork");
}

// Python: get_start_method(allow_none=True) is None until fixed; get_start_method() fixes it.
TEST_F(DefaultContextTest, GetStartMethodFixesTheDefault) {
    set_start_method(std::nullopt, true);
    EXPECT_EQ(get_start_method(true), std::nullopt);
    EXPECT_EQ(get_start_method(), "forkserver");  // after init()
    EXPECT_EQ(get_start_method(true), "forkserver");
    EXPECT_THROW(set_start_method("spawn"), tandem::RuntimeError);
}

// tandem: the default start method (after set_start_method) is used by a plain Process.
TEST_F(DefaultContextTest, ProcessUsesTheDefault) {
    set_start_method("spawn", true);
    Process p(&exit_with, 4);
    p.start();
    p.join();
    EXPECT_EQ(p.exitcode(), 4);
}

// --- a program that never called tandem::init() ------------------------------------------

// Runs in the re-executed program only (TANDEM_TEST_WITHOUT_INIT set, see
// test_main.cpp); in a normal run it has nothing to check.
TEST(WithoutInit, ChildChecks) {
    if (std::getenv("TANDEM_TEST_WITHOUT_INIT") == nullptr) return;
    ASSERT_FALSE(tandem::initialized());
    EXPECT_EQ(get_all_start_methods(), std::vector<std::string>{"fork"});
    // spawn and forkserver: a clear error saying what to do.
    for (const char* name : {"spawn", "forkserver"}) {
        try {
            get_context(name);
            ADD_FAILURE() << name << ": no ProcessError";
        } catch (const tandem::ProcessError& e) {
            EXPECT_NE(std::string(e.what()).find("tandem::init(argc, argv)"), std::string::npos) << e.what();
        }
        Process p({.start_method = parse_start_method(name)}, &exit_with, 0);
        EXPECT_THROW(p.start(), tandem::ProcessError) << name;
    }
    // One thread: the default forks.
    EXPECT_EQ(get_start_method(), "fork");
    Process single(&exit_with, 5);
    single.start();
    single.join();
    EXPECT_EQ(single.exitcode(), 5);
    // Two threads: the default refuses to fork (CPython gh-50970).
    std::atomic<bool> stop{false};
    std::thread other([&] {
        while (!stop) std::this_thread::yield();
    });
    Process refused(&exit_with, 0);
    try {
        refused.start();
        ADD_FAILURE() << "the default forked a multi-threaded process";
    } catch (const tandem::ProcessError& e) {
        EXPECT_NE(std::string(e.what()).find("gh-50970"), std::string::npos) << e.what();
    }
    // An explicit fork is the caller's choice.
    Process explicit_fork({.start_method = StartMethod::fork}, &exit_with, 6);
    explicit_fork.start();
    explicit_fork.join();
    EXPECT_EQ(explicit_fork.exitcode(), 6);
    stop = true;
    other.join();
}

// tandem: without tandem::init(), spawn/forkserver are a clear error and the default never
// forks a multi-threaded process (checked by WithoutInit.ChildChecks in a re-execution).
TEST(WithoutInit, ReExecutedProgramPassesItsChecks) {
    if (std::getenv("TANDEM_TEST_WITHOUT_INIT") != nullptr) return;  // we are the re-execution
    std::vector<std::string> environment{"TANDEM_TEST_WITHOUT_INIT=1"};
    for (char** entry = environ; *entry != nullptr; ++entry) environment.emplace_back(*entry);
    std::vector<char*> envp;
    for (auto& entry : environment) envp.push_back(entry.data());
    envp.push_back(nullptr);
    std::string program = "/proc/self/exe";
    std::string filter = "--gtest_filter=WithoutInit.ChildChecks";
    char* argv[] = {program.data(), filter.data(), nullptr};
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::execve("/proc/self/exe", argv, envp.data());
        ::_exit(127);
    }
    ASSERT_GT(pid, 0);
    UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0u)));
    ASSERT_TRUE(pidfd);
    pollfd entry{pidfd.get(), POLLIN, 0};
    const bool ended = ::poll(&entry, 1, 60'000) == 1;
    if (!ended) ::kill(pid, SIGKILL);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(ended) << "the re-executed test program hung";
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0) << "WithoutInit.ChildChecks failed in the re-executed program";
}

}  // namespace
