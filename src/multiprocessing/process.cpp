// multiprocessing::Process, the table of children behind active_children(),
// current_process() / parent_process(), and what every child does to become
// itself and to end (see detail/launch/launcher.hpp).
#include "tandem/multiprocessing/process.hpp"  // the declarations

#include <poll.h>      // poll on pidfds and status sockets
#include <pthread.h>   // pthread_atfork
#include <sys/wait.h>  // waitid, WEXITED, WNOHANG
#include <unistd.h>    // getpid, _exit

#include <algorithm>  // std::find
#include <cerrno>     // errno
#include <climits>    // INT_MAX
#include <csignal>    // SIGTERM, SIGKILL, SIGINT
#include <cstdio>     // stderr, std::fflush
#include <iostream>   // std::cout / std::cerr flushed before _exit
#include <mutex>      // the state and table locks
#include <typeinfo>   // typeid of a thrown exception

#include "tandem/detail/launch/launcher.hpp"  // ProcessTarget, ChildSetup, LaunchedChild, ...
#include "tandem/detail/launch/reexec.hpp"    // require_init
#include "tandem/detail/os/cpu_count.hpp"     // detail::process_cpu_count
#include "tandem/detail/os/pidfd.hpp"         // pidfd_open, pidfd_send_signal, exit_code_from
#include "tandem/detail/os/system_error.hpp"  // throw_errno
#include "tandem/detail/wire/encoding.hpp"    // detail::decode, demangle
#include "tandem/detail/wire/fd_passing.hpp"  // receive_with_fds for forkserver exit codes
#include "tandem/serialization.hpp"           // decode_exception

namespace tandem::detail {

using multiprocessing::Process;
using multiprocessing::StartMethod;

namespace {

// waitid() on a pidfd (Linux 5.4); glibc 2.36's idtype_t does not name it yet.
constexpr auto kWaitPidfd = static_cast<idtype_t>(3);

// Waits until `fd` is readable or `deadline` passes; false on timeout.
bool wait_readable(int fd, Deadline deadline) {
    for (;;) {
        int timeout_ms = -1;
        if (deadline) {
            const auto left = std::chrono::ceil<std::chrono::milliseconds>(*deadline - Clock::now()).count();
            timeout_ms = left <= 0 ? 0 : static_cast<int>(std::min<long long>(left, INT_MAX));
        }
        pollfd entry{fd, POLLIN, 0};
        const int ready = ::poll(&entry, 1, timeout_ms);
        if (ready > 0) return true;
        if (ready == 0) {
            if (!deadline || Clock::now() >= *deadline) return false;
            continue;
        }
        if (errno != EINTR) detail::throw_errno("poll");
    }
}

}  // namespace

struct ProcessState {
    enum class Kind { child, current };

    Kind kind = Kind::child;
    std::mutex mutex;  // guards everything below
    Process* owner = nullptr;  // guarded by the table's mutex instead
    std::string name;
    bool daemon = false;
    std::vector<std::int32_t> identity;
    std::optional<StartMethod> method;
    bool fork_only = false;
    std::unique_ptr<ProcessTarget> target;  // dropped once started, as Python
    pid_t creator = ::getpid();
    bool started = false;
    bool closed = false;
    pid_t pid = 0;
    UniqueFd pidfd;
    UniqueFd status;  // forkserver children: where the exit code arrives
    std::optional<int> exitcode;

    // Collects the exit code if the child ended, without waiting (the
    // forkserver's report is waited for once the pidfd says the child ended,
    // so that a readable sentinel always means !is_alive()). True if ended.
    bool reap_locked();
};

namespace {

struct ParentInfo {
    std::string name;
    pid_t pid = 0;
    std::shared_ptr<ParentHandle> handle;
};

// Python's module globals: _children, _process_counter, _current_process,
// _parent_process.
struct ProcessTable {
    std::mutex mutex;
    std::vector<std::shared_ptr<ProcessState>> children;  // started, not yet reaped
    std::int32_t counter = 0;
    Process* current = nullptr;
    // Current-process objects of the images this one was forked from: no
    // longer current here, yet still reachable (a leak checker would
    // report them at exit otherwise).
    std::vector<Process*> retired;
    std::optional<ParentInfo> parent;

    static ProcessTable& get() {
        // Never destroyed: Process objects with static storage may outlive it.
        static ProcessTable* table = [] {
            auto* created = new ProcessTable;
            // A forked child has no children of its own; a fork while another
            // thread changes the table must not leave it half-changed.
            pthread_atfork([] { get().mutex.lock(); }, [] { get().mutex.unlock(); },
                           [] {
                               get().children.clear();
                               get().mutex.unlock();
                           });
            return created;
        }();
        return *table;
    }

    void remove(const ProcessState* state) {
        const std::lock_guard guard(mutex);
        std::erase_if(children, [&](const auto& entry) { return entry.get() == state; });
    }
};

}  // namespace

bool ProcessState::reap_locked() {
    if (exitcode) return true;
    if (!started || closed) return false;
    if (!status) {
        siginfo_t info{};
        for (;;) {
            if (::waitid(kWaitPidfd, static_cast<id_t>(pidfd.get()), &info, WEXITED | WNOHANG) == 0) break;
            if (errno == EINTR) continue;
            if (errno == ECHILD) {
                throw ProcessError("process " + name + " (pid " + std::to_string(pid) +
                                   ") was reaped by someone else, its exit code is lost (is SIGCHLD ignored?)");
            }
            detail::throw_errno("waitid");
        }
        if (info.si_pid == 0) return false;
        exitcode = exit_code_from(info);
    } else {
        pollfd entries[2] = {{status.get(), POLLIN, 0}, {pidfd.get(), POLLIN, 0}};
        if (::poll(entries, 2, 0) <= 0) return false;
        // The child ended (pidfd) or the server reported (status): the
        // report follows promptly, or EOF if the server is gone.
        try {
            const ReceivedMessage report = receive_with_fds(status.get(), 64);
            exitcode = decode<std::int32_t>(report.bytes);
        } catch (const EOFError&) {
            // The forkserver died; its children die with it (PR_SET_PDEATHSIG).
            exitcode = -SIGKILL;
        }
    }
    ProcessTable::get().remove(this);
    return true;
}

struct ParentHandle {
    explicit ParentHandle(pid_t parent) : pid(parent) {}
    std::mutex mutex;
    pid_t pid;
    UniqueFd pidfd;  // opened on first use
    bool gone = false;

    // The parent's pidfd, or -1 if it had already ended when first asked.
    int fd() {
        const std::lock_guard guard(mutex);
        if (!pidfd && !gone) {
            const int opened = detail::pidfd_open(pid);
            if (opened >= 0) {
                pidfd.reset(opened);
            } else if (errno == ESRCH) {
                gone = true;
            } else {
                detail::throw_errno("pidfd_open");
            }
        }
        return pidfd.get();
    }
};

// --- what a child does ------------------------------------------------------------

void become_child(const ChildSetup& setup) {
    auto state = std::make_shared<ProcessState>();
    state->kind = ProcessState::Kind::current;
    state->name = setup.name;
    state->daemon = setup.daemon;
    state->identity = setup.identity;
    auto* self = new Process(std::move(state));
    ProcessTable& table = ProcessTable::get();
    const std::lock_guard guard(table.mutex);
    table.children.clear();
    table.counter = 0;
    // The parent's current-process object may still be referred to by code
    // copied from the parent (a ForkProcess target): it is kept, not freed.
    if (table.current != nullptr) table.retired.push_back(table.current);
    table.current = self;
    table.parent = ParentInfo{setup.parent_name, setup.parent_pid, std::make_shared<ParentHandle>(setup.parent_pid)};
}

std::string describe_exception(std::exception_ptr error) {
    try {
        std::rethrow_exception(error);
    } catch (const RemoteError& e) {
        return e.type_name() + ": " + e.message();
    } catch (const std::exception& e) {
        return demangle(typeid(e).name()) + ": " + e.what();
    } catch (...) {
        return "unknown: an exception not derived from std::exception";
    }
}

void report_target_exception(const std::string& process_name, const std::string& description) noexcept {
    std::fprintf(stderr, "Process %s: %s\n", process_name.c_str(), description.c_str());
    std::fflush(stderr);
}

int run_encoded_target(HandoffReader& in, const std::string& process_name) noexcept {
    try {
        const CallOutcome outcome = run_call(in);
        if (!outcome.raised) return 0;
        report_target_exception(process_name, describe_exception(decode_exception(outcome.payload)));
    } catch (...) {
        try {
            report_target_exception(process_name, describe_exception(std::current_exception()));
        } catch (...) {
            report_target_exception(process_name, "unknown: an error while reporting an error");
        }
    }
    return 1;
}

void exit_child(int code) noexcept {
    try {
        std::cout.flush();
        std::cerr.flush();
    } catch (...) {
        // Flushing is best effort: the exit code says what happened.
    }
    std::fflush(nullptr);
    ::_exit(code);
}

namespace {

// Starts a child with `method` (never the "default": resolved before).
LaunchedChild launch(StartMethod method, ProcessTarget& target, const ChildSetup& setup) {
    switch (method) {
        case StartMethod::fork:
            return launch_fork(target, setup);
        case StartMethod::spawn:
        case StartMethod::forkserver: {
            const bool spawn = method == StartMethod::spawn;
            require_init(spawn ? "spawn" : "forkserver");
            if (!target.can_encode()) {
                throw ProcessError("a ForkProcess can only be started by fork");
            }
            return spawn ? launch_spawn(target, setup) : launch_forkserver(target, setup);
        }
    }
    throw ValueError("unknown start method");
}

}  // namespace

}  // namespace tandem::detail

namespace tandem::multiprocessing {

using detail::ProcessState;
using detail::ProcessTable;

namespace {
const char* const kClosedMessage = "process object is closed";
}  // namespace

Process::Process(detail::BoundTargetTag, ProcessOptions options, std::unique_ptr<detail::ProcessTarget> target,
                 bool fork_only)
    : state_(std::make_shared<ProcessState>()) {
    if (fork_only && options.start_method && *options.start_method != StartMethod::fork) {
        throw ValueError("a ForkProcess can only be started by fork, not " +
                         std::string(start_method_name(*options.start_method)));
    }
    Process& parent = current_process();
    ProcessState& state = *state_;
    state.target = std::move(target);
    state.fork_only = fork_only;
    state.method = fork_only ? std::optional(StartMethod::fork) : options.start_method;
    {
        const std::lock_guard guard(parent.state_->mutex);
        state.identity = parent.state_->identity;
        state.daemon = options.daemon.value_or(parent.state_->daemon);
    }
    {
        ProcessTable& table = ProcessTable::get();
        const std::lock_guard guard(table.mutex);
        state.identity.push_back(++table.counter);
        state.owner = this;
    }
    if (options.name) {
        state.name = std::move(*options.name);
    } else {
        state.name = "Process-";
        for (std::size_t i = 0; i < state.identity.size(); ++i) {
            if (i != 0) state.name += ':';
            state.name += std::to_string(state.identity[i]);
        }
    }
}

Process::Process(std::shared_ptr<ProcessState> state) noexcept : state_(std::move(state)) { state_->owner = this; }

Process::Process(Process&& other) noexcept {
    const std::lock_guard guard(ProcessTable::get().mutex);
    state_ = std::move(other.state_);
    if (state_) state_->owner = this;
}

Process& Process::operator=(Process&& other) noexcept {
    if (this != &other) {
        finish();
        const std::lock_guard guard(ProcessTable::get().mutex);
        state_ = std::move(other.state_);
        if (state_) state_->owner = this;
    }
    return *this;
}

Process::~Process() { finish(); }

void Process::finish() noexcept {
    if (!state_ || state_->kind == ProcessState::Kind::current) return;
    ProcessState& state = *state_;
    try {
        bool running = false;
        {
            const std::lock_guard guard(state.mutex);
            running = state.started && !state.closed && state.creator == ::getpid() && !state.reap_locked();
        }
        if (running) {
            if (daemon()) {
                send_signal(SIGTERM);
                if (!join(std::chrono::seconds(1))) {
                    send_signal(SIGKILL);
                    join();
                }
            } else {
                join();
            }
        }
    } catch (...) {
        // A destructor cannot report it; the child was signalled or joined as
        // far as possible.
    }
    ProcessTable& table = ProcessTable::get();
    {
        const std::lock_guard guard(table.mutex);
        std::erase_if(table.children, [&](const auto& entry) { return entry.get() == &state; });
        if (state.owner == this) state.owner = nullptr;
    }
    state_.reset();
}

ProcessState& Process::state() const {
    if (!state_) throw ValueError("the Process object was moved from");
    return *state_;
}

void Process::start() {
    ProcessState& state = this->state();
    const std::lock_guard guard(state.mutex);
    if (state.closed) throw ValueError(kClosedMessage);
    if (state.kind == ProcessState::Kind::current || state.started) {
        throw RuntimeError("cannot start a process twice");
    }
    if (state.creator != ::getpid()) {
        throw RuntimeError("can only start a process object created by current process");
    }
    if (current_process().daemon()) throw RuntimeError("daemonic processes are not allowed to have children");
    const StartMethod method = state.method ? *state.method : detail::resolve_default_start_method();
    detail::ChildSetup setup;
    setup.name = state.name;
    setup.identity = state.identity;
    setup.daemon = state.daemon;
    setup.parent_name = current_process().name();
    setup.parent_pid = ::getpid();
    detail::LaunchedChild child = detail::launch(method, *state.target, setup);
    state.pid = child.pid;
    state.pidfd = std::move(child.pidfd);
    state.status = std::move(child.status);
    state.started = true;
    state.target.reset();
    ProcessTable& table = ProcessTable::get();
    const std::lock_guard table_guard(table.mutex);
    table.children.push_back(state_);
}

bool Process::join_until(detail::Deadline deadline) {
    ProcessState& state = this->state();
    int wait_fd = -1;
    {
        const std::lock_guard guard(state.mutex);
        if (state.closed) throw ValueError(kClosedMessage);
        if (state.kind == ProcessState::Kind::current) throw RuntimeError("cannot join current process");
        if (!state.started) throw RuntimeError("can only join a started process");
        if (state.creator != ::getpid()) throw RuntimeError("can only join a child process");
        if (state.reap_locked()) return true;
        wait_fd = state.pidfd.get();
    }
    // The pidfd stays open while the child is unreaped (close() refuses).
    for (;;) {
        const bool ready = detail::wait_readable(wait_fd, deadline);
        const std::lock_guard guard(state.mutex);
        if (state.reap_locked()) return true;
        if (!ready) return false;
    }
}

bool Process::is_alive() {
    ProcessState& state = this->state();
    const std::lock_guard guard(state.mutex);
    if (state.closed) throw ValueError(kClosedMessage);
    if (state.kind == ProcessState::Kind::current) return true;
    if (!state.started || state.creator != ::getpid()) return false;
    return !state.reap_locked();
}

void Process::send_signal(int signal_number) {
    ProcessState& state = this->state();
    const std::lock_guard guard(state.mutex);
    if (state.closed) throw ValueError(kClosedMessage);
    if (state.kind == ProcessState::Kind::current || !state.started) {
        throw RuntimeError("can only signal a started child process");
    }
    if (state.exitcode) return;
    // Through the pidfd: a pid recycled after the child ended is never hit.
    if (detail::pidfd_send_signal(state.pidfd.get(), signal_number) != 0 && errno != ESRCH) {
        detail::throw_errno("pidfd_send_signal");
    }
}

void Process::terminate() { send_signal(SIGTERM); }
void Process::kill() { send_signal(SIGKILL); }
void Process::interrupt() { send_signal(SIGINT); }

void Process::close() {
    ProcessState& state = this->state();
    {
        const std::lock_guard guard(state.mutex);
        if (state.closed) return;
        if (state.kind == ProcessState::Kind::current) throw ValueError("cannot close the current process");
        if (state.started && state.creator == ::getpid() && !state.reap_locked()) {
            throw ValueError(
                "Cannot close a process while it is still running. You should first call join() or terminate().");
        }
        state.pidfd.reset();
        state.status.reset();
        state.target.reset();
        state.closed = true;
    }
    ProcessTable::get().remove(&state);
}

std::optional<pid_t> Process::pid() const {
    ProcessState& state = this->state();
    const std::lock_guard guard(state.mutex);
    if (state.closed) throw ValueError(kClosedMessage);
    if (state.kind == ProcessState::Kind::current) return ::getpid();
    if (!state.started) return std::nullopt;
    return state.pid;
}

std::optional<int> Process::exitcode() {
    ProcessState& state = this->state();
    const std::lock_guard guard(state.mutex);
    if (state.closed) throw ValueError(kClosedMessage);
    if (state.kind == ProcessState::Kind::current || !state.started) return std::nullopt;
    if (state.creator == ::getpid()) state.reap_locked();
    return state.exitcode;
}

std::string Process::name() const {
    ProcessState& state = this->state();
    const std::lock_guard guard(state.mutex);
    return state.name;
}

void Process::set_name(std::string name) {
    ProcessState& state = this->state();
    const std::lock_guard guard(state.mutex);
    state.name = std::move(name);
}

bool Process::daemon() const {
    ProcessState& state = this->state();
    const std::lock_guard guard(state.mutex);
    return state.daemon;
}

void Process::set_daemon(bool daemon) {
    ProcessState& state = this->state();
    const std::lock_guard guard(state.mutex);
    if (state.started) throw RuntimeError("process has already started");
    state.daemon = daemon;
}

int Process::sentinel() const {
    ProcessState& state = this->state();
    const std::lock_guard guard(state.mutex);
    if (state.closed) throw ValueError(kClosedMessage);
    if (state.kind == ProcessState::Kind::current || !state.started) throw ValueError("process not started");
    return state.pidfd.get();
}

// --- ParentProcess ----------------------------------------------------------------

bool ParentProcess::is_alive() const {
    const int fd = handle_->fd();
    if (fd < 0) return false;
    pollfd entry{fd, POLLIN, 0};
    return ::poll(&entry, 1, 0) == 0;
}

void ParentProcess::join() const { join_until(std::nullopt); }

bool ParentProcess::join_until(detail::Deadline deadline) const {
    const int fd = handle_->fd();
    if (fd < 0) return true;
    return detail::wait_readable(fd, deadline);
}

int ParentProcess::sentinel() const {
    const int fd = handle_->fd();
    if (fd < 0) detail::throw_errno(ESRCH, "pidfd_open: the parent has ended");
    return fd;
}

// --- module functions ---------------------------------------------------------------

Process& current_process() {
    ProcessTable& table = ProcessTable::get();
    const std::lock_guard guard(table.mutex);
    if (table.current == nullptr) {
        auto state = std::make_shared<ProcessState>();
        state->kind = ProcessState::Kind::current;
        state->name = "MainProcess";
        table.current = new Process(std::move(state));  // lives as long as the process
    }
    return *table.current;
}

std::optional<ParentProcess> parent_process() {
    ProcessTable& table = ProcessTable::get();
    const std::lock_guard guard(table.mutex);
    if (!table.parent) return std::nullopt;
    return ParentProcess(table.parent->name, table.parent->pid, table.parent->handle);
}

std::vector<Process*> active_children() {
    ProcessTable& table = ProcessTable::get();
    std::vector<std::shared_ptr<ProcessState>> children;
    {
        const std::lock_guard guard(table.mutex);
        children = table.children;
    }
    std::vector<Process*> alive;
    for (const auto& state : children) {
        bool running = false;
        {
            const std::lock_guard guard(state->mutex);
            running = !state->reap_locked();
        }
        if (!running) continue;
        const std::lock_guard guard(table.mutex);
        if (state->owner != nullptr) alive.push_back(state->owner);
    }
    return alive;
}

std::size_t cpu_count() noexcept { return detail::process_cpu_count(); }

}  // namespace tandem::multiprocessing
