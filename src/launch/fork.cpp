// The fork start method, and the forking every start method shares: the
// long-lived launcher thread, PR_SET_PDEATHSIG, the child's signal state (see
// detail/launch/fork.hpp and launcher.hpp).
#include <dirent.h>     // opendir on /proc/self/task
#include <pthread.h>    // pthread_atfork, pthread_getattr_np
#include <signal.h>     // kill, sigaction, sigprocmask
#include <sys/prctl.h>  // PR_SET_PDEATHSIG
#include <sys/wait.h>   // waitpid
#include <unistd.h>     // fork, getpid, getppid, gettid, _exit

#include <atomic>              // the launcher pointer
#include <cerrno>              // errno
#include <condition_variable>  // handing a fork to the launcher thread
#include <csignal>             // SIGKILL
#include <cstddef>             // std::size_t
#include <cstdio>              // std::fflush before fork
#include <exception>           // std::current_exception
#include <iostream>            // std::cout / std::cerr flushed before fork
#include <mutex>               // the launcher's lock
#include <thread>              // the launcher thread

#include "tandem/detail/launch/fork.hpp"      // fork_process, die_with_parent, reset_signal_state
#include "tandem/detail/launch/launcher.hpp"  // launch_fork, ProcessTarget, ChildSetup
#include "tandem/detail/os/pidfd.hpp"         // open_pidfd
#include "tandem/detail/os/system_error.hpp"  // throw_errno

// LeakSanitizer's interface, present only in sanitizer builds (weak: null
// otherwise). See Launcher::fork for why a forked child uses it.
extern "C" void __lsan_register_root_region(const void* begin, std::size_t size) __attribute__((weak));

namespace tandem::detail {
namespace {

pid_t fork_here(void (*child_body)(void*), void* context) {
    const pid_t pid = ::fork();
    if (pid == 0) {
        child_body(context);
        ::_exit(127);
    }
    if (pid < 0) throw_errno(errno, "fork");
    return pid;
}

// A thread that lives as long as the process and forks on behalf of
// threads that may not (PR_SET_PDEATHSIG follows the forking thread).
// Never destroyed: a detached thread may still be waiting in it at exit.
class Launcher {
public:
    Launcher() {
        std::thread([this] { loop(); }).detach();
    }

    pid_t fork(void (*child_body)(void*), void* context) {
        // The child runs on the launcher's stack; the caller's stack is copied
        // but has no thread. What the caller's frames point to stays in use by
        // the child (a ForkProcess target may refer to it), so a leak checker
        // in the child must count that stack as a root (LeakSanitizer only).
        const void* caller_stack = nullptr;
        std::size_t caller_stack_size = 0;
        if (__lsan_register_root_region != nullptr) {
            pthread_attr_t attributes;
            if (pthread_getattr_np(pthread_self(), &attributes) == 0) {
                void* address = nullptr;
                if (pthread_attr_getstack(&attributes, &address, &caller_stack_size) == 0) caller_stack = address;
                pthread_attr_destroy(&attributes);
            }
        }
        const std::lock_guard one_at_a_time(calls_);
        std::unique_lock lock(mutex_);
        body_ = child_body;
        context_ = context;
        caller_stack_ = caller_stack;
        caller_stack_size_ = caller_stack_size;
        done_ = false;
        pending_ = true;
        wake_.notify_all();
        wake_.wait(lock, [this] { return done_; });
        if (result_ < 0) throw_errno(error_, "fork");
        return result_;
    }

private:
    void loop() {
        for (;;) {
            std::unique_lock lock(mutex_);
            wake_.wait(lock, [this] { return pending_; });
            pending_ = false;
            void (*body)(void*) = body_;
            void* context = context_;
            const void* caller_stack = caller_stack_;
            const std::size_t caller_stack_size = caller_stack_size_;
            // Not holding the lock across fork(): the child never returns
            // here, and the parent's waiter must be able to wake.
            lock.unlock();
            const pid_t pid = ::fork();
            const int error = errno;
            if (pid == 0) {
                if (caller_stack != nullptr) __lsan_register_root_region(caller_stack, caller_stack_size);
                body(context);
                ::_exit(127);
            }
            lock.lock();
            result_ = pid;
            error_ = error;
            done_ = true;
            wake_.notify_all();
        }
    }

    std::mutex calls_;  // one fork at a time
    std::mutex mutex_;
    std::condition_variable wake_;
    void (*body_)(void*) = nullptr;
    void* context_ = nullptr;
    const void* caller_stack_ = nullptr;
    std::size_t caller_stack_size_ = 0;
    bool pending_ = false;
    bool done_ = false;
    pid_t result_ = 0;
    int error_ = 0;
};

// The launcher of this process; a forked child has none (the thread did not
// come along), so the atfork handler forgets it there (leaking the copy).
std::atomic<Launcher*> launcher{nullptr};
std::mutex launcher_creation;

Launcher& get_launcher() {
    if (Launcher* existing = launcher.load(std::memory_order_acquire)) return *existing;
    const std::lock_guard guard(launcher_creation);
    if (Launcher* existing = launcher.load(std::memory_order_acquire)) return *existing;
    static const bool registered = [] {
        pthread_atfork(nullptr, nullptr, [] { launcher.store(nullptr, std::memory_order_relaxed); });
        return true;
    }();
    static_cast<void>(registered);
    auto* created = new Launcher;
    launcher.store(created, std::memory_order_release);
    return *created;
}

// What the fork start method's child needs, read from the copied memory.
struct ForkJob {
    ProcessTarget* target;
    const ChildSetup* setup;
    pid_t parent;
};

void run_forked_child(void* context) {
    const auto& job = *static_cast<const ForkJob*>(context);
    reset_signal_state();
    die_with_parent(job.parent);
    int code = 0;
    try {
        become_child(*job.setup);
        job.target->run();
    } catch (...) {
        try {
            report_target_exception(job.setup->name, describe_exception(std::current_exception()));
        } catch (...) {
            report_target_exception(job.setup->name, "unknown: an error while reporting an error");
        }
        code = 1;
    }
    exit_child(code);
}

}  // namespace

pid_t fork_process(void (*child_body)(void*), void* context) {
    // Output buffered but not yet written would be written twice, by the
    // parent and by the child when it flushes at exit (Python flushes its
    // standard streams before forking for the same reason).
    std::cout.flush();
    std::cerr.flush();
    std::fflush(nullptr);
    // The main thread lives as long as the process (short of pthread_exit in
    // main), so forking there costs no thread hop.
    if (::gettid() == ::getpid()) return fork_here(child_body, context);
    return get_launcher().fork(child_body, context);
}

std::size_t user_thread_count() {
    DIR* tasks = ::opendir("/proc/self/task");
    // Unknown means "maybe several": the caller then refuses to fork.
    if (tasks == nullptr) return 2;
    std::size_t count = 0;
    while (const dirent* entry = ::readdir(tasks)) {
        if (entry->d_name[0] != '.') ++count;
    }
    ::closedir(tasks);
    if (launcher.load(std::memory_order_acquire) != nullptr && count > 1) --count;
    return count == 0 ? 1 : count;
}

void die_with_parent(pid_t expected_parent) noexcept {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    // The parent may have died before the prctl: we would be an orphan
    // already, and no signal would ever come.
    if (::getppid() != expected_parent) ::_exit(1);
}

void reset_signal_state() noexcept {
    struct sigaction default_action {};
    default_action.sa_handler = SIG_DFL;
    ::sigemptyset(&default_action.sa_mask);
    // SIGKILL and SIGSTOP cannot be changed, and glibc keeps the two
    // real-time signals it uses for itself: sigaction refuses those, harmlessly.
    for (int signal_number = 1; signal_number < NSIG; ++signal_number) {
        ::sigaction(signal_number, &default_action, nullptr);
    }
    sigset_t none;
    ::sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
}

LaunchedChild launch_fork(ProcessTarget& target, const ChildSetup& setup) {
    ForkJob job{&target, &setup, ::getpid()};
    const pid_t pid = fork_process(&run_forked_child, &job);
    LaunchedChild child;
    child.pid = pid;
    try {
        child.pidfd = open_pidfd(pid);
    } catch (...) {
        // Without a pidfd the child cannot be supervised: end it now.
        ::kill(pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
        throw;
    }
    return child;
}

}  // namespace tandem::detail
