// Tests for tandem/threading/thread.hpp: Thread and the module functions,
// ported from CPython's Lib/test/test_threading.py (ThreadTests,
// ThreadJoinOnShutdown, ExceptHookTests, MiscTestCase).
#include "tandem/threading/thread.hpp"

#include <gtest/gtest.h>  // TEST, EXPECT_*, CaptureStderr

#include <algorithm>   // std::find
#include <atomic>      // results shared with threads
#include <chrono>      // timeouts
#include <functional>  // std::ref
#include <memory>      // move-only arguments, shared flags
#include <optional>    // idents
#include <pthread.h>   // pthread_getname_np
#include <stdexcept>   // exceptions thrown by targets
#include <string>      // names and messages
#include <sys/wait.h>  // waitpid in the fork test
#include <thread>      // a thread tandem did not start
#include <unistd.h>    // fork, getpid, gettid, _exit
#include <vector>      // enumerate()

#include "tandem/errors.hpp"           // RuntimeError, ValueError
#include "tandem/threading/event.hpp"  // Event, to hold threads in place

using namespace std::chrono_literals;
using tandem::threading::current_thread;
using tandem::threading::Event;
using tandem::threading::ExceptHookArgs;
using tandem::threading::Thread;
using tandem::threading::ThreadOptions;
namespace threading = tandem::threading;

namespace {

template <class Body>
std::string runtime_error_of(Body body) {
    try {
        body();
    } catch (const tandem::RuntimeError& error) {
        return error.what();
    }
    return "no RuntimeError";
}

bool listed(Thread* thread) {
    const auto all = threading::enumerate();
    return std::find(all.begin(), all.end(), thread) != all.end();
}

// The number N in "Thread-N".
int number_of(const std::string& name) { return std::stoi(name.substr(name.find('-') + 1)); }

std::string os_thread_name() {
    char name[16] = {};
    pthread_getname_np(pthread_self(), name, sizeof name);
    return name;
}

// Installs an excepthook for the duration of a test.
class HookGuard {
public:
    explicit HookGuard(threading::ExceptHook hook) : previous_(threading::set_excepthook(std::move(hook))) {}
    ~HookGuard() { threading::set_excepthook(std::move(previous_)); }
    HookGuard(const HookGuard&) = delete;
    HookGuard& operator=(const HookGuard&) = delete;

private:
    threading::ExceptHook previous_;
};

}  // namespace

// threading: start() runs the target; is_alive() is True while it runs and False after join() (test_various_ops).
TEST(Thread, StartJoinIsAlive) {
    Event release;
    std::atomic<bool> ran{false};
    Thread thread([&] {
        ASSERT_TRUE(release.wait(10s));
        ran = true;
    });
    EXPECT_FALSE(thread.is_alive());
    thread.start();
    EXPECT_TRUE(thread.is_alive());
    release.set();
    thread.join();
    EXPECT_FALSE(thread.is_alive());
    EXPECT_TRUE(ran);
    thread.join();  // joining a finished thread again returns at once
}

// threading: start() twice raises RuntimeError (test_start_thread_again).
TEST(Thread, StartTwiceRaises) {
    Thread thread([] {});
    thread.start();
    EXPECT_EQ(runtime_error_of([&] { thread.start(); }), "threads can only be started once");
    thread.join();
    EXPECT_EQ(runtime_error_of([&] { thread.start(); }), "threads can only be started once");
}

// threading: join() before start() raises RuntimeError (test_joining_inactive_thread).
TEST(Thread, JoinBeforeStartRaises) {
    Thread thread([] {});
    EXPECT_EQ(runtime_error_of([&] { thread.join(); }), "cannot join thread before it is started");
    EXPECT_EQ(runtime_error_of([&] { thread.join(1s); }), "cannot join thread before it is started");
}

// threading: a thread joining itself raises RuntimeError (test_joining_current_thread).
TEST(Thread, JoinCurrentThreadRaises) {
    std::string message;
    Thread thread([&] { message = runtime_error_of([] { current_thread().join(); }); });
    thread.start();
    thread.join();
    EXPECT_EQ(message, "cannot join current thread");
    EXPECT_EQ(runtime_error_of([] { threading::main_thread().join(); }), "cannot join current thread");
}

// threading: join(timeout) returns with the thread still alive when it times out (test_various_ops).
TEST(Thread, JoinTimeoutLeavesThreadAlive) {
    Event release;
    Thread thread([&] { ASSERT_TRUE(release.wait(10s)); });
    thread.start();
    const auto start = std::chrono::steady_clock::now();
    EXPECT_FALSE(thread.join(50ms));
    EXPECT_GE(std::chrono::steady_clock::now() - start, 50ms);
    EXPECT_TRUE(thread.is_alive());
    EXPECT_FALSE(thread.join(-1s));  // negative counts as zero, as in Python
    EXPECT_TRUE(thread.is_alive());
    release.set();
    EXPECT_TRUE(thread.join(10s));
    EXPECT_FALSE(thread.is_alive());
}

// threading: unnamed threads are "Thread-N" from one process-wide counter (test_default_name).
TEST(Thread, DefaultNamesCount) {
    Thread first([] {});
    Thread second([] {});
    ASSERT_EQ(first.name().rfind("Thread-", 0), 0U) << first.name();
    ASSERT_EQ(second.name().rfind("Thread-", 0), 0U) << second.name();
    EXPECT_EQ(number_of(second.name()), number_of(first.name()) + 1);
    Thread named(ThreadOptions{.name = "explicit"}, [] {});
    Thread third([] {});
    EXPECT_EQ(number_of(third.name()), number_of(second.name()) + 1);  // a given name uses no number
}

// threading: the name can be given and changed; the OS thread name is set, truncated to 15 bytes (test_set_name, gh-59705).
TEST(Thread, NamesAndOsName) {
    std::string os_name_at_start;
    std::string os_name_after_rename;
    std::string name_inside;
    Thread thread(ThreadOptions{.name = "a-rather-long-thread-name"}, [&] {
        os_name_at_start = os_thread_name();
        name_inside = current_thread().name();
        current_thread().set_name("short");
        os_name_after_rename = os_thread_name();
    });
    EXPECT_EQ(thread.name(), "a-rather-long-thread-name");
    thread.start();
    thread.join();
    EXPECT_EQ(os_name_at_start, "a-rather-long-t");
    EXPECT_EQ(name_inside, "a-rather-long-thread-name");
    EXPECT_EQ(os_name_after_rename, "short");
    EXPECT_EQ(thread.name(), "short");
    thread.set_name("renamed after the end");
    EXPECT_EQ(thread.name(), "renamed after the end");
}

// threading (3.14): start() names the OS thread; a long name keeps its start and its
// distinguishing number (Python keeps the first 15 bytes), and a multi-byte
// character is never cut in half.
TEST(Thread, OsNameKeepsTheNumberAndWholeCharacters) {
    std::vector<std::string> os_names(2);
    Thread numbered(ThreadOptions{.name = "downloader-thread_42"}, [&os_names] { os_names[0] = os_thread_name(); });
    Thread accented(ThreadOptions{.name = "\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9"},
                    [&os_names] { os_names[1] = os_thread_name(); });
    numbered.start();
    accented.start();
    numbered.join();
    accented.join();
    EXPECT_EQ(os_names[0], "downloader-t_42");
    EXPECT_EQ(os_names[1], "\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9");  // 14 bytes: the 8th would be cut
}

// The OS-name rule itself, on the shapes that matter.
TEST(Thread, OsThreadNameRule) {
    using tandem::detail::os_thread_name;
    EXPECT_EQ(os_thread_name("short"), "short");
    EXPECT_EQ(os_thread_name("exactly-15-byte"), "exactly-15-byte");
    EXPECT_EQ(os_thread_name("ThreadPoolExecutor-3_12"), "ThreadPool-3_12");
    EXPECT_EQ(os_thread_name("ThreadPoolExecutor-0_0"), "ThreadPoolE-0_0");
    EXPECT_EQ(os_thread_name("a-rather-long-thread-name"), "a-rather-long-t");    // no number: the start
    EXPECT_EQ(os_thread_name("name-with-a-long-number-123456789"), "name-with-a-lon");  // too long an end
    EXPECT_EQ(os_thread_name("worker-----------"), "worker---------");  // separators alone are no number
    // 2-byte characters: the cut moves back to the start of the character at byte 14.
    EXPECT_EQ(os_thread_name("\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9"),
              "\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9");
    EXPECT_EQ(os_thread_name("\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9_7"),
              "\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9_7");
}

// threading: daemon comes from the options, else from the creating thread; it is fixed once started (test_daemon_param).
TEST(Thread, DaemonFlag) {
    Thread plain([] {});
    EXPECT_FALSE(plain.daemon());  // created by the main thread
    Thread daemon(ThreadOptions{.daemon = true}, [] {});
    EXPECT_TRUE(daemon.daemon());
    plain.set_daemon(true);
    EXPECT_TRUE(plain.daemon());
    plain.set_daemon(false);

    bool inherited = false;
    bool overridden = true;
    Thread parent(ThreadOptions{.daemon = true}, [&] {
        inherited = Thread([] {}).daemon();
        overridden = Thread(ThreadOptions{.daemon = false}, [] {}).daemon();
    });
    parent.start();
    parent.join();
    EXPECT_TRUE(inherited);
    EXPECT_FALSE(overridden);

    plain.start();
    EXPECT_EQ(runtime_error_of([&] { plain.set_daemon(true); }), "cannot set daemon status of active thread");
    plain.join();
    EXPECT_FALSE(plain.daemon());
}

// threading: ident and native_id are None before start and match get_ident()/get_native_id() inside (test_ident_of_no_threading_threads, test_native_id).
TEST(Thread, IdentAndNativeId) {
    std::uint64_t ident_inside = 0;
    pid_t native_inside = 0;
    Thread thread([&] {
        ident_inside = threading::get_ident();
        native_inside = threading::get_native_id();
    });
    EXPECT_EQ(thread.ident(), std::nullopt);
    EXPECT_EQ(thread.native_id(), std::nullopt);
    thread.start();
    const auto ident = thread.ident();
    const auto native_id = thread.native_id();
    thread.join();
    ASSERT_TRUE(ident.has_value());
    ASSERT_TRUE(native_id.has_value());
    EXPECT_EQ(*ident, ident_inside);
    EXPECT_EQ(*native_id, native_inside);
    EXPECT_NE(*ident, threading::get_ident());
    EXPECT_NE(*native_id, threading::get_native_id());
    EXPECT_EQ(thread.ident(), ident);  // kept after the thread ends
    EXPECT_EQ(threading::get_native_id(), gettid());
}

// threading: current_thread() inside a thread is its Thread object (test_current_thread).
TEST(Thread, CurrentThreadInside) {
    Thread* seen = nullptr;
    std::string seen_name;
    Thread thread(ThreadOptions{.name = "worker"}, [&] {
        seen = &current_thread();
        seen_name = current_thread().name();
    });
    thread.start();
    thread.join();
    EXPECT_EQ(seen, &thread);
    EXPECT_EQ(seen_name, "worker");
}

// threading: main_thread() is current_thread() in the main thread, named MainThread (test_main_thread).
TEST(Thread, MainThread) {
    Thread& main = threading::main_thread();
    EXPECT_EQ(&current_thread(), &main);
    EXPECT_EQ(main.name(), "MainThread");
    EXPECT_TRUE(main.is_alive());
    EXPECT_FALSE(main.daemon());
    EXPECT_EQ(main.ident(), threading::get_ident());
    EXPECT_EQ(main.native_id(), getpid());
    EXPECT_TRUE(listed(&main));
    EXPECT_EQ(runtime_error_of([&] { main.start(); }), "threads can only be started once");

    Thread* main_seen_from_thread = nullptr;
    Thread thread([&] { main_seen_from_thread = &threading::main_thread(); });
    thread.start();
    thread.join();
    EXPECT_EQ(main_seen_from_thread, &main);
}

// threading: a thread not started by threading gets a daemon "Dummy-N" Thread that cannot be joined (test_foreign_thread, test_dummy_thread_after_fork).
TEST(Thread, DummyThreadForForeignThreads) {
    const std::size_t before = threading::active_count();
    Thread* dummy = nullptr;
    std::string name;
    bool daemon = false;
    bool alive = false;
    bool same_object = false;
    bool is_listed = false;
    std::size_t count_inside = 0;
    std::optional<std::uint64_t> ident;
    std::string join_error;
    std::thread foreign([&] {
        dummy = &current_thread();
        name = dummy->name();
        daemon = dummy->daemon();
        alive = dummy->is_alive();
        same_object = &current_thread() == dummy;
        is_listed = listed(dummy);
        count_inside = threading::active_count();
        ident = dummy->ident();
        join_error = runtime_error_of([&] { dummy->join(); });
        EXPECT_EQ(ident, threading::get_ident());
    });
    foreign.join();
    EXPECT_EQ(name.rfind("Dummy-", 0), 0U) << name;
    EXPECT_TRUE(daemon);
    EXPECT_TRUE(alive);
    EXPECT_TRUE(same_object);
    EXPECT_TRUE(is_listed);
    EXPECT_EQ(count_inside, before + 1);
    EXPECT_EQ(join_error, "cannot join a dummy thread");
    EXPECT_EQ(threading::active_count(), before);  // forgotten when the thread exited
}

// threading: active_count() and enumerate() list live threads only (test_enumerate_after_join).
TEST(Thread, ActiveCountAndEnumerate) {
    const std::size_t before = threading::active_count();
    Event release;
    std::vector<std::unique_ptr<Thread>> threads;
    for (int i = 0; i < 3; ++i) {
        threads.push_back(std::make_unique<Thread>([&] { ASSERT_TRUE(release.wait(10s)); }));
        EXPECT_FALSE(listed(threads.back().get()));  // not started yet
        threads.back()->start();
    }
    EXPECT_EQ(threading::active_count(), before + 3);
    for (const auto& thread : threads) EXPECT_TRUE(listed(thread.get()));
    EXPECT_EQ(threading::enumerate().size(), before + 3);
    release.set();
    for (const auto& thread : threads) thread->join();
    for (const auto& thread : threads) EXPECT_FALSE(listed(thread.get()));
    EXPECT_EQ(threading::active_count(), before);
}

// threading: an exception escaping run() goes to excepthook with the exception and the thread (ExceptHookTests.test_excepthook).
TEST(Thread, ExceptHookReceivesException) {
    std::vector<ExceptHookArgs> calls;
    HookGuard guard([&](const ExceptHookArgs& args) { calls.push_back(args); });
    Thread thread(ThreadOptions{.name = "failing"}, [] { throw tandem::ValueError("boom"); });
    thread.start();
    thread.join();
    EXPECT_FALSE(thread.is_alive());
    ASSERT_EQ(calls.size(), 1U);
    const ExceptHookArgs& args = calls.front();
    EXPECT_EQ(args.exc_type, "tandem::ValueError");
    EXPECT_EQ(args.thread, &thread);
    EXPECT_EQ(args.thread_name, "failing");
    EXPECT_EQ(std::optional(args.thread_ident), thread.ident());
    try {
        std::rethrow_exception(args.exc_value);
    } catch (const tandem::ValueError& error) {
        EXPECT_STREQ(error.what(), "boom");
    }
}

// threading: excepthook gets exceptions of any type, not only Exception subclasses.
TEST(Thread, ExceptHookForNonStdException) {
    std::string type;
    HookGuard guard([&](const ExceptHookArgs& args) { type = args.exc_type; });
    Thread thread([] { throw 42; });
    thread.start();
    thread.join();
    EXPECT_EQ(type, "int");
}

// threading: the default excepthook prints "Exception in thread NAME:" and the error to stderr (test_excepthook_thread_None, test_print_exception).
TEST(Thread, DefaultExceptHookPrints) {
    HookGuard guard({});  // an empty hook means the default
    testing::internal::CaptureStderr();
    Thread thread(ThreadOptions{.name = "noisy"}, [] { throw std::runtime_error("it broke"); });
    thread.start();
    thread.join();
    const std::string output = testing::internal::GetCapturedStderr();
    EXPECT_NE(output.find("Exception in thread noisy:"), std::string::npos) << output;
    EXPECT_NE(output.find("std::runtime_error: it broke"), std::string::npos) << output;
}

// threading: an excepthook that raises is reported instead of killing the process (test_custom_excepthook_fail).
TEST(Thread, FailingExceptHookIsReported) {
    HookGuard guard([](const ExceptHookArgs&) { throw std::logic_error("hook failed"); });
    testing::internal::CaptureStderr();
    Thread thread([] { throw std::runtime_error("first"); });
    thread.start();
    thread.join();
    const std::string output = testing::internal::GetCapturedStderr();
    EXPECT_NE(output.find("Exception in threading.excepthook"), std::string::npos) << output;
    EXPECT_FALSE(thread.is_alive());
}

// threading: set_excepthook returns the previous hook, so hooks can chain.
TEST(Thread, SetExceptHookReturnsPrevious) {
    int first_calls = 0;
    HookGuard outer([&](const ExceptHookArgs&) { ++first_calls; });
    auto previous = threading::set_excepthook([](const ExceptHookArgs&) {});
    ASSERT_TRUE(previous);
    previous(ExceptHookArgs{});
    EXPECT_EQ(first_calls, 1);
    threading::set_excepthook(previous);
}

// threading: a Thread subclass overriding run() runs that instead of a target (test_subclass / MyThread).
TEST(Thread, SubclassOverridesRun) {
    class Counter : public Thread {
    public:
        explicit Counter(int limit) : Thread(ThreadOptions{.name = "counter"}), limit_(limit) {}
        ~Counter() override {
            if (is_alive()) join();
        }
        void run() override {
            for (int i = 0; i < limit_; ++i) total += i;
            name_seen = current_thread().name();
            self_seen = &current_thread() == this;
        }
        long total = 0;
        std::string name_seen;
        bool self_seen = false;

    private:
        int limit_;
    };
    Counter counter(100);
    counter.start();
    counter.join();
    EXPECT_EQ(counter.total, 4950);
    EXPECT_EQ(counter.name_seen, "counter");
    EXPECT_TRUE(counter.self_seen);
}

// threading: Thread(target, args) passes the arguments; they are copied, std::ref passes a reference.
TEST(Thread, TargetArguments) {
    int sum = 0;
    std::string text = "original";
    Thread thread(
        [](int a, std::unique_ptr<int> b, int& out, std::string copy) {
            out = a + *b;
            copy = "changed";
        },
        40, std::make_unique<int>(2), std::ref(sum), text);
    thread.start();
    thread.join();
    EXPECT_EQ(sum, 42);
    EXPECT_EQ(text, "original");
}

// threading: run() drops the target and its arguments when it ends (test_no_refcycle_through_target).
TEST(Thread, TargetReleasedAfterRun) {
    auto resource = std::make_shared<int>(7);
    Thread thread([](const std::shared_ptr<int>&) {}, resource);
    EXPECT_EQ(resource.use_count(), 2);
    thread.start();
    thread.join();
    EXPECT_EQ(resource.use_count(), 1);  // the Thread object still exists
}

// threading: a Thread without target does nothing (Thread()).
TEST(Thread, NoTarget) {
    Thread thread;
    thread.start();
    EXPECT_TRUE(thread.join(10s));
}

// C++ lifetime rule: destroying a started non-daemon Thread joins it, as Python waits for non-daemon threads.
TEST(Thread, DestructorJoinsNonDaemon) {
    Event release;
    std::atomic<bool> finished{false};
    {
        Thread thread([&] {
            ASSERT_TRUE(release.wait(10s));
            finished = true;
        });
        thread.start();
        release.set();
    }
    EXPECT_TRUE(finished);
}

// C++ lifetime rule: destroying a running daemon Thread detaches it; it runs on with a stand-in current_thread().
TEST(Thread, DestructorDetachesDaemon) {
    auto release = std::make_shared<Event>();
    auto done = std::make_shared<Event>();
    auto name_after = std::make_shared<std::string>();
    auto listed_after = std::make_shared<bool>(false);
    std::uint64_t ident = 0;
    {
        Thread thread(ThreadOptions{.name = "detached", .daemon = true}, [=] {
            if (!release->wait(10s)) return;
            Thread& self = current_thread();
            *name_after = self.name();
            *listed_after = listed(&self) && self.is_alive() && self.daemon();
            done->set();
        });
        thread.start();
        ident = thread.ident().value_or(0);
    }  // returns without waiting: the thread is blocked on `release`
    release->set();
    ASSERT_TRUE(done->wait(10s));
    EXPECT_EQ(*name_after, "detached");
    EXPECT_TRUE(*listed_after);
    EXPECT_NE(ident, 0U);
}

// C++ lifetime rule: a thread that destroys its own Thread object detaches instead of joining itself.
TEST(Thread, ThreadDestroyingItsOwnObject) {
    auto self = std::make_shared<std::atomic<Thread*>>(nullptr);
    auto finished = std::make_shared<Event>();
    auto* heap = new Thread([self, finished] {
        Thread* mine = nullptr;
        while ((mine = self->load()) == nullptr) std::this_thread::yield();
        delete mine;  // must neither throw nor wait for itself
        finished->set();
    });
    heap->start();
    self->store(heap);
    EXPECT_TRUE(finished->wait(10s));
}

// threading: after fork() only the forking thread exists; it is the main thread, the others are not alive (test_after_fork, test_main_thread_after_fork_from_nonmain_thread).
TEST(Thread, AfterForkInChild) {
    Event release;
    Thread busy([&] { ASSERT_TRUE(release.wait(10s)); });
    busy.start();
    const pid_t child = fork();
    ASSERT_NE(child, -1);
    if (child == 0) {
        int failures = 0;
        failures += &current_thread() != &threading::main_thread();
        failures += threading::active_count() != 1;
        failures += busy.is_alive();
        failures += !busy.join(0s);
        failures += threading::main_thread().native_id() != getpid();
        _exit(failures);
    }
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);
    EXPECT_TRUE(busy.is_alive());  // untouched in the parent
    release.set();
    busy.join();
}

// threading: after fork() from a non-main thread, that thread becomes the child's main thread (test_main_thread_after_fork_from_nonmain_thread).
TEST(Thread, ForkFromNonMainThread) {
    int status = -1;
    Thread forker(ThreadOptions{.name = "forker"}, [&] {
        const pid_t child = fork();
        if (child == 0) {
            int failures = 0;
            failures += &threading::main_thread() != &current_thread();
            failures += current_thread().name() != "forker";
            failures += threading::active_count() != 1;
            _exit(failures);
        }
        waitpid(child, &status, 0);
    });
    forker.start();
    forker.join();
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);
}
