// The process-pool engine: dispatch, the collector thread, crash handling.
// See engine_impl.hpp.
#include "engine_impl.hpp"

#include <fcntl.h>        // fcntl(O_NONBLOCK)
#include <poll.h>         // checking that a pidfd really fired
#include <sys/epoll.h>    // the collector's wait
#include <sys/eventfd.h>  // the workers' wake-up for the collector
#include <sys/socket.h>   // socketpair for control sockets
#include <unistd.h>       // read, write

#include <algorithm>     // std::clamp, std::any_of
#include <atomic>        // std::atomic_signal_fence
#include <cerrno>        // errno
#include <csignal>       // SIGKILL
#include <cstring>       // std::memcpy, strnlen, sigabbrev_np
#include <new>           // placement new of a worker's area
#include <string>        // messages
#include <system_error>  // std::system_error
#include <utility>       // std::move

#include "caller_collector.hpp"                         // a submitter collects while it waits
#include "tandem/detail/os/futex.hpp"                   // spin_until, futex_wake, Clock
#include "tandem/detail/os/pidfd.hpp"                   // pidfd_send_signal
#include "tandem/detail/os/shared_region.hpp"           // each worker's region
#include "tandem/detail/os/system_error.hpp"            // throw_errno
#include "tandem/detail/process_pool/crash_report.hpp"  // read_crash_stack: a dead worker's stack
#include "tandem/detail/process_pool/reply_reader.hpp"  // ReplyReader: replies, checked
#include "tandem/detail/process_pool/spill.hpp"         // write_message, ProtocolError
#include "tandem/detail/process_pool/task_ring.hpp"     // WorkerArea, RingWriter
#include "tandem/detail/process_pool/worker.hpp"        // worker_main, WorkerChannel
#include "tandem/errors.hpp"                            // BrokenProcessPool, WorkerCrashed, TimeoutError
#include "tandem/multiprocessing/context.hpp"           // resolve_default_start_method

namespace tandem::detail::process_pool {

namespace {

// What an epoll event of the collector's is about: the high half of its
// tag; the low half is the worker's index.
enum class Source : std::uint32_t {
    wake,    // wake_fd_: this process wants the collector's attention
    death,   // a worker's pidfd: it ended
    replies, // a worker's event fd: it published a reply or became ready
};

std::uint64_t tag(Source source, std::uint32_t index) noexcept {
    return (static_cast<std::uint64_t>(source) << 32) | index;
}
// How long the collector polls the reply rings before it sleeps in epoll:
// a busy pipeline's next reply is usually microseconds away.
constexpr std::chrono::microseconds kSpinBudget{50};
// Workers that die before finishing start-up (not by SIGKILL) in a row
// before the pool counts as broken.
constexpr int kCrashLoopLimit = 3;
// How often the collector looks whether a worker started a task that was
// stopped while it waited in the worker's ring.
constexpr std::chrono::milliseconds kStoppedPoll{1};

// How long a caller waiting in result() collects before it sleeps on its
// future (and the collector thread takes over).
constexpr std::chrono::microseconds kCallerSpinBudget{50};

// The pool whose reply rings this thread reads now (it holds that pool's
// collect_mutex_), if any: a done-callback run while collecting must not
// lock it again, nor wait for the collector thread that waits for it.
thread_local const EngineImpl* collecting_here = nullptr;

std::string describe_exit(pid_t pid, int exitcode) {
    std::string text = "worker process " + std::to_string(pid);
    if (exitcode < 0) {
        const char* name = ::sigabbrev_np(-exitcode);
        text += " was killed by signal " + std::to_string(-exitcode) + (name ? std::string(" (SIG") + name + ")" : "");
    } else {
        text += " exited with status " + std::to_string(exitcode);
    }
    return text;
}

// `protocol_error`: why the collector killed the worker, if it did; `stack`
// and `last_stderr`: what its crash record and its stderr said.
std::exception_ptr crashed(pid_t pid, int exitcode, const std::string& protocol_error, const std::string& stack,
                           const std::string& last_stderr) {
    const int signal_number = exitcode < 0 ? -exitcode : 0;
    const int status = exitcode < 0 ? 0 : exitcode;
    std::string text = describe_exit(pid, exitcode) + " while running the task";
    if (!protocol_error.empty()) text += " (the pool killed it: " + protocol_error + ")";
    return std::make_exception_ptr(WorkerCrashed(pid, signal_number, status, text, stack, last_stderr));
}

// The initializer's failure a worker wrote into its area: copied once, and
// never read past the buffer, NUL or not.
std::string initializer_failure(const WorkerArea& area) {
    char copy[sizeof area.failure];
    std::memcpy(copy, area.failure, sizeof copy);
    std::atomic_signal_fence(std::memory_order_seq_cst);
    return std::string(copy, ::strnlen(copy, sizeof copy));
}

std::string describe_current_exception() {
    try {
        throw;
    } catch (const std::exception& error) {
        return error.what();
    } catch (...) {
        return "an unknown exception";
    }
}

UniqueFd make_fd(int fd, const char* what) {
    if (fd < 0) throw_errno(what);
    return UniqueFd(fd);
}

}  // namespace

struct EngineImpl::Task {
    std::uint64_t id = 0;
    StatePtr<FutureStateBase> future;
    Deliver deliver = nullptr;
    /// The encoded call and its descriptors, kept until the task ends (a
    /// retry sends them again).
    std::vector<std::byte> bytes;
    std::vector<UniqueFd> fds;
    /// Set instead of `bytes` for a call written in place: the spill buffer
    /// of its worker it lies in, held until the task leaves that worker.
    std::optional<SpillRef> placed;
    std::optional<std::chrono::nanoseconds> timeout;
    // For a task with a timeout: when it was last sent to a worker, and when
    // it started there (the worker's word, clamped to what the parent saw).
    std::optional<Clock::time_point> sent_at;
    std::optional<Clock::time_point> started_at;
    std::size_t retries_left = 0;
    bool marked_running = false;
    bool written = false;  // in its worker's request ring
    bool timed_out = false;
    // stop() completed its future with CancelledError: no reply is delivered
    // to it, and it never runs again; its worker is killed once it runs it.
    bool stopped = false;
};

struct EngineImpl::WorkerSlot {
    std::uint32_t index = 0;
    // The worker's region, mapped here and in that worker only; each worker
    // started in the slot gets a new one.
    std::optional<SharedRegion> region;
    WorkerArea* area = nullptr;
    RingWriter requests;
    ReplyReader replies;
    std::optional<multiprocessing::Process> process;
    int pidfd = -1;  // the Process's; listed (private_fds.hpp) while it lives
    pid_t pid = 0;
    std::uint64_t relay_id = 0;  // its stdout and stderr in relay_
    PrivateFd socket;    // the parent's end of the control socket, non-blocking
    PrivateFd event_fd;  // written by the worker when it finds the collector asleep
    SpillWriter request_spills;  // large calls to this worker
    SpillReader reply_spills;    // large replies from it
    bool alive = false;     // may be given tasks
    // Killed by the pool: its ring is not looked at again (read without the
    // lock by the collector's spin).
    std::atomic<bool> killed{false};
    // The collector saw it ready: tasks go to it only then (read without a
    // lock by the collector's spin).
    std::atomic<bool> ready{false};
    bool retiring = false;  // to stop after max_tasks_per_child
    bool stop_sent = false;
    bool killed_for_timeout = false;
    bool killed_for_stop = false;
    // Why the collector killed it for breaking the protocol (empty: it did
    // not), and the task that fails for it.
    std::string protocol_error;
    std::uint64_t blamed_task = 0;
    // The last task whose reply was delivered (the collector's alone): the
    // worker clears its current task only after publishing, so for a moment
    // this is still current.
    std::uint64_t last_delivered = 0;
    std::size_t dispatched = 0;
    std::deque<std::unique_ptr<Task>> in_flight;  // in the order sent

    bool has_in_flight(std::uint64_t id) const noexcept {
        return id != 0 &&
               std::any_of(in_flight.begin(), in_flight.end(), [id](const auto& task) { return task->id == id; });
    }
    std::uint64_t oldest_in_flight() const noexcept { return in_flight.empty() ? 0 : in_flight.front()->id; }
};

namespace {

// Holds a pool's collect_mutex_ and says so to this thread (collecting_here).
class Collecting {
public:
    Collecting(const EngineImpl& engine, std::mutex& mutex) : lock_(mutex), outer_(collecting_here) {
        collecting_here = &engine;
    }
    Collecting(const EngineImpl& engine, std::mutex& mutex, std::adopt_lock_t)
        : lock_(mutex, std::adopt_lock), outer_(collecting_here) {
        collecting_here = &engine;
    }
    Collecting(const Collecting&) = delete;
    Collecting& operator=(const Collecting&) = delete;
    ~Collecting() { collecting_here = outer_; }

private:
    std::lock_guard<std::mutex> lock_;
    const EngineImpl* outer_;
};

}  // namespace

std::shared_ptr<PoolEngine> start_engine(EngineOptions options) {
    return std::make_shared<EngineImpl>(std::move(options));
}

EngineImpl::EngineImpl(EngineOptions options)
    : options_(std::move(options)), relay_(options_.prefix_worker_output) {
    // Resolved once, now: the default refuses to fork a process with several
    // threads, and the collector thread is about to exist.
    if (!options_.start_method) options_.start_method = detail::resolve_default_start_method();
    for (const UniqueFd& fd : options_.initializer_fds) initializer_fd_numbers_.push_back(fd.get());
    {
        const auto held = hold_worker_starts();  // listed before any worker can be forked
        wake_fd_ = PrivateFd(make_fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), "process pool: eventfd"));
        epoll_fd_ = PrivateFd(make_fd(::epoll_create1(EPOLL_CLOEXEC), "process pool: epoll_create1"));
    }
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.u64 = tag(Source::wake, 0);
    if (::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, wake_fd_.get(), &event) != 0) {
        throw_errno("process pool: epoll_ctl");
    }
    for (std::size_t i = 0; i < options_.workers; ++i) {
        auto worker = std::make_unique<WorkerSlot>();
        worker->index = static_cast<std::uint32_t>(i);
        workers_.push_back(std::move(worker));
    }
    try {
        for (auto& worker : workers_) start_worker(*worker);
    } catch (...) {
        std::lock_guard lock(mutex_);
        for (auto& worker : workers_) {
            if (!worker->process) continue;
            static_cast<void>(pidfd_send_signal(worker->pidfd, SIGKILL));
            worker->process->join();
            release_process_locked(*worker);
        }
        throw;
    }
    collector_ = std::thread(&EngineImpl::collector_main, this);
}

EngineImpl::~EngineImpl() { shutdown(true, false); }

void EngineImpl::start_worker(WorkerSlot& worker) {
    std::optional<SharedRegion> region;
    WorkerArea* area = nullptr;
    PrivateFd socket;
    PrivateFd event_fd;
    std::optional<multiprocessing::Process> process;
    std::uint64_t relay_id = 0;
    // Until the worker started: the pipes of one that did not are closed.
    struct CloseOutput {
        OutputRelay& relay;
        const std::uint64_t& id;
        bool armed = true;
        ~CloseOutput() {
            if (armed && id != 0) relay.close(id);
        }
    } close_output{relay_, relay_id};
    {
        // What the worker is given is made, and it is forked, while no other
        // worker can be (private_fds.hpp).
        const auto held = hold_worker_starts();
        region.emplace(sizeof(WorkerArea), "tandem:pool-worker", Inherit::no);
        area = new (region->data()) WorkerArea;
        int pair[2];
        if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) throw_errno("process pool: socketpair");
        const UniqueFd child_end(pair[1]);
        socket = PrivateFd(UniqueFd(pair[0]));  // listed already: a forked worker closes the parent's end
        // The collector reads it and never waits: a worker that sends half a
        // message is found out at once (spill.cpp). The worker's end blocks.
        const int flags = ::fcntl(socket.get(), F_GETFL);
        if (flags < 0 || ::fcntl(socket.get(), F_SETFL, flags | O_NONBLOCK) != 0) throw_errno("process pool: fcntl");
        UniqueFd events = make_fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), "process pool: eventfd");
        auto output = relay_.open();
        relay_id = output.first;
        WorkerChannel channel{region->fd(),
                              region->size(),
                              events.get(),
                              child_end.get(),
                              output.second.out.get(),
                              output.second.err.get(),
                              options_.max_memory_per_child,
                              options_.memory_limit_per_child,
                              options_.initializer,
                              initializer_fd_numbers_,
                              nullptr};
        process.emplace(multiprocessing::ProcessOptions{.daemon = true, .start_method = options_.start_method},
                        &worker_main, std::move(channel));
        process->start();
        // The worker has its copies now; the parent keeps the mapping and
        // lists what it keeps.
        event_fd = PrivateFd(std::move(events));
        list_fd(process->sentinel());
        region->close_fd();
    }
    close_output.armed = false;
    relay_.set_name(relay_id, process->name());
    const int pidfd = process->sentinel();
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.u64 = tag(Source::death, worker.index);
    const bool watched = ::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, pidfd, &event) == 0;
    event.data.u64 = tag(Source::replies, worker.index);
    if (!watched || ::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, event_fd.get(), &event) != 0) {
        const int error = errno;
        ::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_DEL, pidfd, nullptr);
        process->kill();
        process->join();
        relay_.close(relay_id);
        {
            const auto held = hold_worker_starts();
            unlist_fd(pidfd);
            process.reset();
        }
        throw_errno(error, "process pool: epoll_ctl");
    }
    std::lock_guard lock(mutex_);
    worker.region = std::move(region);  // the previous worker's region goes now
    worker.area = area;
    worker.requests = RingWriter(area->requests);
    worker.replies = ReplyReader(area->replies);
    worker.pid = *process->pid();
    worker.process = std::move(process);
    worker.pidfd = pidfd;
    worker.relay_id = relay_id;
    worker.socket = std::move(socket);
    worker.event_fd = std::move(event_fd);
    worker.request_spills.reset();
    worker.reply_spills.reset();
    worker.alive = true;
    worker.ready = false;
    worker.retiring = false;
    worker.stop_sent = false;
    worker.killed.store(false, std::memory_order_relaxed);
    worker.killed_for_timeout = false;
    worker.killed_for_stop = false;
    worker.protocol_error.clear();
    worker.blamed_task = 0;
    worker.last_delivered = 0;
    worker.dispatched = 0;
}

void EngineImpl::release_process_locked(WorkerSlot& worker) noexcept {
    // Unlisted and closed with no worker forked in between (private_fds.hpp).
    const auto held = hold_worker_starts();
    unlist_fd(worker.pidfd);
    worker.process.reset();
    worker.pidfd = -1;
}

// --- submitting and dispatching -----------------------------------------------------------

std::unique_ptr<EngineImpl::Task> EngineImpl::make_task(StatePtr<FutureStateBase>& future, Deliver deliver,
                                                        const TaskOptions& options) const {
    auto task = std::make_unique<Task>();
    task->future = std::move(future);
    task->deliver = deliver;
    task->timeout = options.timeout;
    task->retries_left = options.max_retries.value_or(options_.max_retries);
    return task;
}

void EngineImpl::submit_encoded(StatePtr<FutureStateBase> future, Deliver deliver, HandoffWriter&& call,
                                const TaskOptions& options) {
    std::unique_ptr<Task> task = make_task(future, deliver, options);
    for (int fd : call.fds()) task->fds.push_back(duplicate_fd(fd));
    task->bytes = std::move(call.byte_buffer());
    Failures failed;
    {
        std::lock_guard lock(mutex_);
        if (broken_) throw BrokenProcessPool(broken_reason_);
        if (shutting_down_) throw RuntimeError("cannot schedule new futures after shutdown");
        task->id = next_id_++;
        queue_.push_back(std::move(task));
        dispatch_locked(failed);
    }
    fail_all(failed);
    collect_while_waiting_here(*this);
}

bool EngineImpl::submit_in_place(StatePtr<FutureStateBase>& future, Deliver deliver, const InPlaceCall& call,
                                 const TaskOptions& options) {
    std::unique_ptr<Task> task = make_task(future, deliver, options);
    {
        std::lock_guard lock(mutex_);
        // Only when the call would be written at once anyway: nothing
        // queued before it, a worker ready with room and nothing unwritten.
        WorkerSlot* chosen = queue_.empty() && !broken_ && !shutting_down_ ? least_busy_locked() : nullptr;
        const auto unwritten = [](const WorkerSlot& worker) {
            return std::any_of(worker.in_flight.begin(), worker.in_flight.end(),
                               [](const auto& queued) { return !queued->written; });
        };
        std::optional<SpillWriter::Place> place;
        if (chosen && chosen->ready && !unwritten(*chosen) && !chosen->requests.corrupt() &&
            !chosen->requests.full()) {
            try {
                place = chosen->request_spills.claim(call.size, chosen->requests, chosen->socket.get(), true);
            } catch (const std::system_error&) {
                kill_worker_locked(*chosen);  // gone, or no longer reading its control socket
            }
        }
        if (!place) {
            future = std::move(task->future);
            return false;
        }
        // A new future: pending, and not yet seen by anyone who could cancel it.
        static_cast<void>(task->future->set_running_or_notify_cancel());
        task->marked_running = true;
        task->id = next_id_++;
        task->placed = place->ref;
        call.write(call.call, place->data);  // the one copy, under the lock as send_task_locked's is
        SlotHeader* slot = chosen->requests.slot();
        slot->task_id = task->id;
        slot->kind = MessageKind::call;
        name_spill(*slot, place->ref);
        Task& sent = *task;
        hand_over_locked(*chosen, std::move(task));
        publish_task_locked(*chosen, sent);
        if (chosen->retiring && !chosen->stop_sent) send_stop_locked(*chosen);
        if (sent.timeout) wake_collector();
    }
    collect_while_waiting_here(*this);
    return true;
}

EngineImpl::WorkerSlot* EngineImpl::least_busy_locked() const {
    // Among equals the first, so that a trickle of tasks keeps going to one
    // worker that is still spinning for more rather than waking a sleeping one.
    WorkerSlot* chosen = nullptr;
    for (const auto& candidate : workers_) {
        if (!candidate->alive || candidate->retiring || candidate->in_flight.size() >= kDispatchDepth) continue;
        if (!chosen || candidate->in_flight.size() < chosen->in_flight.size()) chosen = candidate.get();
    }
    return chosen;
}

void EngineImpl::hand_over_locked(WorkerSlot& worker, std::unique_ptr<Task> task) {
    worker.in_flight.push_back(std::move(task));
    ++worker.dispatched;
    if (options_.max_tasks_per_child && worker.dispatched >= *options_.max_tasks_per_child) worker.retiring = true;
}

void EngineImpl::dispatch_locked(Failures& failed) {
    if (broken_) return;
    while (!queue_.empty()) {
        WorkerSlot* chosen = least_busy_locked();
        if (!chosen) return;
        std::unique_ptr<Task> task = std::move(queue_.front());
        queue_.pop_front();
        if (!task->marked_running) {
            bool run = false;
            try {
                run = task->future->set_running_or_notify_cancel();
            } catch (...) {
                failed.emplace_back(std::move(task), std::current_exception());
                continue;
            }
            if (!run) continue;  // cancelled while queued: dropped, as Python does
            task->marked_running = true;
        }
        const bool timed = task->timeout.has_value();
        task->written = false;
        hand_over_locked(*chosen, std::move(task));
        send_pending_locked(*chosen);
        if (timed) wake_collector();  // it must bound its sleep by this deadline
    }
}

void EngineImpl::send_pending_locked(WorkerSlot& worker) {
    // A worker is handed tasks at once (their futures run, as Python's do),
    // but they are written to its ring only once the collector saw it ready:
    // no task of the pool runs in it before, so what it says of its start-up
    // until then comes from tandem and the initializer alone.
    if (!worker.ready || !worker.alive) return;
    for (auto& task : worker.in_flight) {
        // On failure the worker is killed; its death hands its tasks back.
        if (!task->written && !send_task_locked(worker, *task)) return;
    }
    if (worker.retiring && !worker.stop_sent) send_stop_locked(worker);
}

bool EngineImpl::send_task_locked(WorkerSlot& worker, Task& task) {
    // Never full while the worker keeps to the protocol: kDispatchDepth tasks
    // and a stop message fit.
    if (worker.requests.corrupt() || worker.requests.full()) {
        kill_worker_locked(worker, "its request ring was written over", worker.oldest_in_flight());
        return false;
    }
    SlotHeader* slot = worker.requests.slot();
    slot->task_id = task.id;
    slot->kind = MessageKind::call;
    std::vector<int> fds;
    for (const UniqueFd& fd : task.fds) fds.push_back(fd.get());
    try {
        write_message(*slot, task.bytes, fds, worker.request_spills, worker.requests, worker.socket.get());
    } catch (const std::system_error&) {
        // Gone, or no longer reading its control socket.
        kill_worker_locked(worker);
        return false;
    }
    publish_task_locked(worker, task);
    return true;
}

void EngineImpl::publish_task_locked(WorkerSlot& worker, Task& task) {
    if (task.timeout) {
        task.sent_at = Clock::now();
        task.started_at.reset();
    }
    task.written = true;
    if (worker.requests.publish()) futex_wake(worker.area->requests.consumer_sleeping, 1, FutexScope::shared);
}

void EngineImpl::send_stop_locked(WorkerSlot& worker) {
    if (worker.stop_sent) return;
    worker.stop_sent = true;
    if (worker.requests.corrupt() || worker.requests.full()) {
        kill_worker_locked(worker, "its request ring was written over", worker.oldest_in_flight());
        return;
    }
    SlotHeader* slot = worker.requests.slot();
    slot->task_id = 0;
    slot->kind = MessageKind::stop;
    slot->carrier = Carrier::slot;
    slot->size = 0;
    if (worker.requests.publish()) futex_wake(worker.area->requests.consumer_sleeping, 1, FutexScope::shared);
}

void EngineImpl::kill_worker_locked(WorkerSlot& worker, const std::string& protocol_error, std::uint64_t blamed) {
    worker.alive = false;
    worker.killed.store(true, std::memory_order_relaxed);
    if (!protocol_error.empty() && worker.protocol_error.empty()) {
        worker.protocol_error = protocol_error;
        worker.blamed_task = blamed;
    }
    static_cast<void>(pidfd_send_signal(worker.pidfd, SIGKILL));
}

void EngineImpl::break_pool_locked(const std::string& reason, Failures& failed) {
    if (broken_) return;
    broken_ = true;
    broken_reason_ = reason;
    // One exception object per future: futures completed on different
    // threads never share one (and ThreadSanitizer cannot see libstdc++'s
    // reference count on a shared exception object).
    const auto error = [&reason] { return std::make_exception_ptr(BrokenProcessPool(reason)); };
    for (auto& task : queue_) failed.emplace_back(std::move(task), error());
    queue_.clear();
    for (auto& worker : workers_) {
        for (auto& task : worker->in_flight) failed.emplace_back(std::move(task), error());
        worker->in_flight.clear();
        worker->alive = false;
        if (worker->process) static_cast<void>(pidfd_send_signal(worker->pidfd, SIGKILL));
    }
}

void EngineImpl::fail_all(Failures& failed) noexcept {
    for (auto& [task, error] : failed) task->future->try_set_exception(error);
    failed.clear();
}

void EngineImpl::cancel_all(std::vector<std::unique_ptr<Task>>& tasks) noexcept {
    for (auto& task : tasks) {
        // A task that already ran on a worker that died (waiting for a
        // retry) cannot be cancelled any more: it is running, as Python sees it.
        if (!task->future->cancel()) {
            task->future->try_set_exception(std::make_exception_ptr(CancelledError()));
        } else {
            static_cast<void>(task->future->set_running_or_notify_cancel());
        }
    }
    tasks.clear();
}

std::vector<std::unique_ptr<EngineImpl::Task>> EngineImpl::take_cancellable_locked() {
    std::vector<std::unique_ptr<Task>> taken;
    for (auto& task : queue_) taken.push_back(std::move(task));
    queue_.clear();
    return taken;
}

// --- stopping a running task ------------------------------------------------------------------

bool EngineImpl::stop(FutureStateBase& future) {
    std::vector<std::unique_ptr<Task>> queued;
    {
        std::lock_guard lock(mutex_);
        for (auto it = queue_.begin(); it != queue_.end(); ++it) {
            if ((*it)->future.get() != &future) continue;
            queued.push_back(std::move(*it));
            queue_.erase(it);
            break;
        }
        if (queued.empty()) {
            Task* found = nullptr;
            WorkerSlot* owner = nullptr;
            for (auto& worker : workers_) {
                for (auto& task : worker->in_flight) {
                    if (task->future.get() == &future) {
                        found = task.get();
                        owner = worker.get();
                    }
                }
            }
            if (found == nullptr || found->stopped) return false;
            found->stopped = true;
            // Running now: its worker goes at once. Still waiting in the
            // worker's ring (it cannot be taken back): the collector kills the
            // worker when it starts it (stop_started_locked).
            const std::uint64_t current = owner->area->current_task.load(std::memory_order_seq_cst);
            if (owner->alive && current == found->id) {
                owner->killed_for_stop = true;
                kill_worker_locked(*owner);
            } else {
                wake_collector();
            }
        }
    }
    if (!queued.empty()) {
        cancel_all(queued);
        return true;
    }
    // Only here: the collector delivers no reply to a stopped task.
    return future.try_set_exception(std::make_exception_ptr(
        CancelledError("the task was stopped while it ran; its worker was killed and replaced")));
}

bool EngineImpl::stop_started_locked(WorkerSlot& worker, std::uint64_t current, Clock::time_point now,
                                     std::optional<Clock::time_point>& earliest) {
    bool waiting = false;
    for (auto& task : worker.in_flight) {
        if (!task->stopped) continue;
        if (task->id == current) {
            worker.killed_for_stop = true;
            kill_worker_locked(worker);
            return true;
        }
        waiting = true;
    }
    // A stopped task still waits in the ring: look again soon, since its
    // worker starts it without telling the collector.
    if (waiting && (!earliest || now + kStoppedPoll < *earliest)) earliest = now + kStoppedPoll;
    return false;
}

// --- shutting down ---------------------------------------------------------------------------

void EngineImpl::shutdown(bool wait, bool cancel_futures) {
    std::vector<std::unique_ptr<Task>> cancelled;
    {
        std::lock_guard lock(mutex_);
        shutting_down_ = true;
        if (cancel_futures) cancelled = take_cancellable_locked();
    }
    cancel_all(cancelled);
    wake_collector();
    if (wait) join_collector();
}

void EngineImpl::signal_workers(int signal_number) {
    std::vector<std::unique_ptr<Task>> cancelled;
    {
        std::lock_guard lock(mutex_);
        shutting_down_ = true;
        if (terminate_signal_ == 0) terminate_signal_ = signal_number;
        cancelled = take_cancellable_locked();
        for (auto& worker : workers_) {
            worker->alive = false;
            if (worker->process) static_cast<void>(pidfd_send_signal(worker->pidfd, signal_number));
        }
    }
    cancel_all(cancelled);
    wake_collector();
    join_collector();
}

void EngineImpl::join_collector() {
    // A done-callback runs on the collector, or on a caller collecting while
    // it waits; shutting down from there must not wait for the collector,
    // which may wait for this very thread (it finishes on its own).
    if (std::this_thread::get_id() == collector_.get_id() || collecting_here == this) return;
    std::lock_guard lock(join_mutex_);
    if (collector_.joinable()) collector_.join();
}

void EngineImpl::wake_collector() noexcept {
    const std::uint64_t one = 1;
    [[maybe_unused]] const auto written = ::write(wake_fd_.get(), &one, sizeof one);
}

std::vector<pid_t> EngineImpl::worker_pids() const {
    std::lock_guard lock(mutex_);
    std::vector<pid_t> pids;
    for (const auto& worker : workers_) {
        if (worker->process && worker->alive) pids.push_back(worker->pid);
    }
    return pids;
}

bool EngineImpl::finished_locked() const {
    if (broken_ || terminate_signal_ != 0) {
        for (const auto& worker : workers_) {
            if (worker->process) return false;  // not yet reaped
        }
        return true;
    }
    if (!shutting_down_ || !queue_.empty()) return false;
    for (const auto& worker : workers_) {
        if (!worker->in_flight.empty()) return false;
    }
    return true;
}

// --- the collector ---------------------------------------------------------------------------

void EngineImpl::collector_main() {
    try {
        collect();
    } catch (const std::exception& error) {
        Failures failed;
        {
            std::lock_guard lock(mutex_);
            break_pool_locked(std::string("the pool's collector failed: ") + error.what(), failed);
        }
        fail_all(failed);
    }
    finish_workers();
}

bool EngineImpl::work_waiting() const noexcept {
    // Read by the collector's spin without collect_mutex_: only atomics
    // (the processes and regions change only under it, on this thread).
    for (const auto& worker : workers_) {
        if (!worker->process || worker->killed.load(std::memory_order_relaxed)) continue;
        if (worker->replies.maybe_waiting()) return true;
        if (!worker->ready && worker->area->phase.load(std::memory_order_seq_cst) == WorkerPhase::ready) return true;
    }
    return false;
}

void EngineImpl::set_collector_sleeping(bool sleeping) noexcept {
    // In every worker's area: a worker sees only its own flag, so it can
    // delay only its own replies.
    for (const auto& worker : workers_) {
        if (!worker->process) continue;
        worker->area->collector_sleeping.store(sleeping ? 1 : 0,
                                               sleeping ? std::memory_order_seq_cst : std::memory_order_relaxed);
    }
}

bool EngineImpl::note_ready_workers() {
    bool any = false;
    for (auto& worker : workers_) {
        if (!worker->process || worker->ready) continue;
        if (worker->area->phase.load(std::memory_order_seq_cst) != WorkerPhase::ready) continue;
        std::lock_guard lock(mutex_);
        worker->ready = true;
        send_pending_locked(*worker);
        any = true;
    }
    return any;
}

bool EngineImpl::collect_once() {
    bool progress = note_ready_workers();
    for (auto& worker : workers_) {
        if (worker->process && drain_replies(*worker)) progress = true;
    }
    if (progress) {
        Failures failed;
        {
            std::lock_guard lock(mutex_);
            dispatch_locked(failed);
        }
        fail_all(failed);
    }
    return progress;
}

bool EngineImpl::park_collector_locked() {
    collector_parked_ = true;
    // While callers collect, the flags stay down: they see every reply
    // without a wake-up, and the last of them raises the flags.
    if (callers_collecting_.load(std::memory_order_relaxed) > 0) return true;
    set_collector_sleeping(true);
    if (!work_waiting()) return true;
    wake_from_park_locked();
    return false;
}

void EngineImpl::wake_from_park_locked() noexcept {
    collector_parked_ = false;
    set_collector_sleeping(false);
}

void EngineImpl::collect() {
    epoll_event events[64];
    for (;;) {
        bool progress = false;
        std::optional<Clock::time_point> wake_at;
        {
            const Collecting collecting(*this, collect_mutex_);
            progress = collect_once();
            wake_at = check_timeouts();
            std::lock_guard lock(mutex_);
            if (finished_locked()) return;
        }
        if (progress) continue;
        // A caller that collects makes this thread's spin pointless: it parks
        // at once, leaving the cores to the caller and the workers.
        if (spin_until([this] { return work_waiting() || callers_collecting_.load(std::memory_order_relaxed) > 0; },
                       kSpinBudget) &&
            work_waiting()) {
            continue;
        }
        {
            const Collecting collecting(*this, collect_mutex_);
            if (!park_collector_locked()) continue;
        }
        int timeout_ms = -1;
        if (wake_at) {
            const auto left = std::chrono::ceil<std::chrono::milliseconds>(*wake_at - Clock::now()).count();
            timeout_ms = static_cast<int>(std::clamp<long long>(left, 0, 60'000));
        }
        const int ready = ::epoll_wait(epoll_fd_.get(), events, 64, timeout_ms);
        const int error = errno;
        const Collecting collecting(*this, collect_mutex_);
        wake_from_park_locked();
        if (ready < 0) {
            if (error == EINTR) continue;
            errno = error;
            throw_errno("process pool: epoll_wait");
        }
        for (int i = 0; i < ready; ++i) {
            const auto source = static_cast<Source>(events[i].data.u64 >> 32);
            const auto index = static_cast<std::uint32_t>(events[i].data.u64);
            std::uint64_t count = 0;
            if (source == Source::wake) {
                [[maybe_unused]] const auto got = ::read(wake_fd_.get(), &count, sizeof count);
            } else if (index < workers_.size() && source == Source::replies) {
                [[maybe_unused]] const auto got = ::read(workers_[index]->event_fd.get(), &count, sizeof count);
            } else if (index < workers_.size() && source == Source::death) {
                handle_death(*workers_[index]);
            }
        }
    }
}

bool EngineImpl::collect_while_waiting(HelpedWait& wait, Deadline deadline) {
    if (collecting_here == this) return wait.ready();  // a done-callback of ours: no second lock
    bool helping = false;
    bool done = false;
    const auto collect_or_check = [&]() -> bool {
        if (wait.ready()) return true;
        if (!collect_mutex_.try_lock()) return false;
        const Collecting collecting(*this, collect_mutex_, std::adopt_lock);
        if (!helping) {
            helping = true;
            callers_collecting_.fetch_add(1, std::memory_order_relaxed);
            // The collector thread may sleep with the flags up: down they go,
            // this caller sees every reply while it spins.
            if (collector_parked_) set_collector_sleeping(false);
        }
        try {
            collect_once();
        } catch (...) {
            Failures failed;
            {
                std::lock_guard lock(mutex_);
                break_pool_locked("a caller collecting replies failed: " + describe_current_exception(), failed);
            }
            fail_all(failed);
        }
        return wait.ready();
    };
    const auto budget = deadline ? std::min<Clock::duration>(kCallerSpinBudget, *deadline - Clock::now())
                                 : Clock::duration(kCallerSpinBudget);
    done = spin_until(collect_or_check, budget);
    if (helping) {
        const Collecting collecting(*this, collect_mutex_);
        stop_helping_locked();
    }
    return done || wait.ready();
}

void EngineImpl::stop_helping_locked() {
    if (callers_collecting_.fetch_sub(1, std::memory_order_relaxed) != 1 || !collector_parked_) return;
    // The last caller out: the collector thread sleeps, so the flags go up,
    // then the rings are read once more (a reply published before a worker
    // could see the flag would wait unseen otherwise).
    set_collector_sleeping(true);
    if (!work_waiting()) return;
    try {
        collect_once();
    } catch (...) {
        wake_collector();  // the collector thread finds it again, and reports it
    }
}

bool EngineImpl::drain_replies(WorkerSlot& worker) {
    bool any = false;
    while (worker.replies.waiting()) {
        // The reply must be for the oldest task in flight: taken out now (one
        // lock per reply; only this thread removes tasks from in_flight), put
        // back if the reply turns out not to be there.
        std::unique_ptr<Task> task;
        {
            std::lock_guard lock(mutex_);
            if (!worker.protocol_error.empty()) return any;  // its ring is not read again
            if (!worker.in_flight.empty()) {
                task = std::move(worker.in_flight.front());
                worker.in_flight.pop_front();
            }
        }
        const std::uint64_t expected = task ? task->id : 0;
        std::optional<Reply> reply;
        std::string broken;
        try {
            reply = worker.replies.next(expected, worker.reply_spills, worker.socket.get());
        } catch (const ProtocolError& error) {
            broken = error.what();
        }
        if (!reply) {  // a ProtocolError, or a count moved back since waiting()
            std::lock_guard lock(mutex_);
            if (task) worker.in_flight.push_front(std::move(task));
            if (!broken.empty()) kill_worker_locked(worker, broken, expected);
            return any;
        }
        worker.last_delivered = reply->task_id;
        if (task->placed) {
            std::lock_guard lock(mutex_);
            worker.request_spills.release(task->placed->buffer);
        }
        if (task->stopped) {
            // stop() completed its future already.
        } else if (reply->error) {
            task->future->try_set_exception(reply->error);
        } else {
            try {
                task->deliver(task->future, reply->raised, reply->message.bytes);
            } catch (...) {
                task->future->try_set_exception(std::current_exception());
            }
        }
        reply.reset();  // unmaps a memfd message before its slot is the worker's again
        worker.replies.consume();
        any = true;
    }
    return any;
}

std::optional<std::chrono::steady_clock::time_point> EngineImpl::check_timeouts() {
    std::optional<Clock::time_point> earliest;
    const auto now = Clock::now();
    std::lock_guard lock(mutex_);
    for (auto& worker : workers_) {
        if (!worker->process || !worker->alive) continue;
        // Read once; it must name a task this worker was sent (or the one
        // whose reply was just delivered: the worker clears it after).
        const std::uint64_t current = worker->area->current_task.load(std::memory_order_seq_cst);
        if (current != 0 && current != worker->last_delivered && !worker->has_in_flight(current)) {
            kill_worker_locked(*worker, "it named a task it was not sent as the one it runs",
                               worker->oldest_in_flight());
            continue;
        }
        if (stop_started_locked(*worker, current, now, earliest)) continue;
        for (auto& task : worker->in_flight) {
            if (!task->timeout) continue;
            const auto timeout = std::chrono::duration_cast<Clock::duration>(*task->timeout);
            if (!task->started_at && task->id == current) {
                // The worker's word, but no earlier than the task was sent and
                // no later than now: a worker cannot stretch a deadline, nor
                // bring it forward beyond its own task.
                const Clock::time_point said{std::chrono::duration_cast<Clock::duration>(
                    std::chrono::nanoseconds(worker->area->started_ns.load(std::memory_order_relaxed)))};
                task->started_at = std::clamp(said, task->sent_at.value_or(now), now);
            }
            // Not started: its deadline is at least a full timeout away.
            const Clock::time_point deadline = task->started_at ? *task->started_at + timeout : now + timeout;
            if (deadline <= now) {
                task->timed_out = true;
                worker->killed_for_timeout = true;
                kill_worker_locked(*worker);
                break;
            }
            if (!earliest || deadline < *earliest) earliest = deadline;
        }
    }
    return earliest;
}

void EngineImpl::handle_death(WorkerSlot& worker) {
    if (!worker.process) return;
    pollfd gone{worker.pidfd, POLLIN, 0};
    if (::poll(&gone, 1, 0) != 1) return;  // not dead after all
    drain_replies(worker);
    ::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_DEL, worker.pidfd, nullptr);
    ::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_DEL, worker.event_fd.get(), nullptr);
    worker.process->join();
    const int exitcode = worker.process->exitcode().value_or(-SIGKILL);
    const pid_t pid = worker.pid;
    // Read before the lock: symbolizing a crash takes milliseconds.
    const std::string last_stderr = relay_.close(worker.relay_id);
    const std::string stack = read_crash_stack(worker.area->crash);

    Failures failed;
    bool replace = false;
    {
        std::lock_guard lock(mutex_);
        worker.alive = false;
        // The task to blame: the one the collector killed it over, else the
        // one it said it ran if it was sent that one; a worker that named
        // another task lied about the one it ran, the oldest it was sent.
        const std::uint64_t current = worker.area->current_task.load(std::memory_order_seq_cst);
        std::uint64_t blamed = 0;
        if (!worker.protocol_error.empty()) {
            blamed = worker.blamed_task;
        } else if (worker.has_in_flight(current)) {
            blamed = current;
        } else if (current != 0 && current != worker.last_delivered) {
            blamed = worker.oldest_in_flight();
        }
        std::unique_ptr<Task> running;
        auto tasks = std::move(worker.in_flight);
        worker.in_flight.clear();
        for (auto& task : tasks) {
            // A call written in place may run elsewhere: its bytes leave
            // the dead worker's buffer (held until now, so still the call's).
            if (!task->placed) continue;
            const std::span<const std::byte> written = worker.request_spills.written(*task->placed);
            task->bytes.assign(written.begin(), written.end());
            task->placed.reset();
        }
        for (auto it = tasks.rbegin(); it != tasks.rend(); ++it) {
            if ((*it)->stopped) {
                continue;  // its future is complete (CancelledError): dropped
            } else if (terminate_signal_ != 0) {
                failed.emplace_back(std::move(*it), std::make_exception_ptr(BrokenProcessPool(
                                                        "the pool's workers were terminated")));
            } else if ((*it)->timed_out) {
                failed.emplace_back(std::move(*it), std::make_exception_ptr(TimeoutError(
                                                        "the task ran past its timeout; " +
                                                        describe_exit(pid, exitcode) + " and was replaced")));
            } else if ((*it)->id == blamed) {
                running = std::move(*it);
            } else {
                queue_.push_front(std::move(*it));  // never started: runs elsewhere
            }
        }
        if (running) {
            if (worker.killed_for_timeout || worker.killed_for_stop) {
                // Another task of this worker overran its timeout or was
                // stopped; this one started just before the kill landed and
                // is not to blame.
                queue_.push_front(std::move(running));
            } else if (running->retries_left > 0) {
                --running->retries_left;
                queue_.push_front(std::move(running));
            } else {
                failed.emplace_back(std::move(running),
                                    crashed(pid, exitcode, worker.protocol_error, stack, last_stderr));
            }
        }
        // What the worker says of its start-up counts only until the
        // collector saw it ready: no task of the pool ran in it before.
        const WorkerPhase phase =
            worker.ready ? WorkerPhase::ready : worker.area->phase.load(std::memory_order_seq_cst);
        if (phase == WorkerPhase::init_failed) {
            break_pool_locked("a worker's initializer failed: " + initializer_failure(*worker.area), failed);
        } else if (phase == WorkerPhase::ready) {
            failed_starts_ = 0;
        } else if (exitcode != -SIGKILL && terminate_signal_ == 0 && !worker.retiring) {
            if (++failed_starts_ >= kCrashLoopLimit) {
                break_pool_locked("workers keep dying at start-up (the last: " + describe_exit(pid, exitcode) + ")",
                                  failed);
            }
        }
        replace = !broken_ && terminate_signal_ == 0 && !(shutting_down_ && queue_.empty());
        release_process_locked(worker);  // reaped above
        worker.socket.reset();
        worker.event_fd.reset();
        worker.request_spills.reset();
        worker.reply_spills.reset();
    }
    fail_all(failed);
    if (replace) replace_worker(worker);
    Failures more;
    {
        std::lock_guard lock(mutex_);
        dispatch_locked(more);
    }
    fail_all(more);
}

void EngineImpl::replace_worker(WorkerSlot& worker) {
    try {
        start_worker(worker);
    } catch (const std::exception& error) {
        Failures failed;
        {
            std::lock_guard lock(mutex_);
            if (++failed_starts_ >= kCrashLoopLimit) {
                break_pool_locked(std::string("cannot start a replacement worker: ") + error.what(), failed);
            }
        }
        fail_all(failed);
        // Below the limit, the slot stays empty until the next death or
        // shutdown; the other workers carry on with the queue.
    }
}

void EngineImpl::finish_workers() {
    {
        std::lock_guard lock(mutex_);
        for (auto& worker : workers_) {
            if (worker->process && worker->alive) send_stop_locked(*worker);
            worker->alive = false;
        }
    }
    for (auto& worker : workers_) {
        if (!worker->process) continue;
        worker->process->join();
        relay_.close(worker->relay_id);
        ::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_DEL, worker->pidfd, nullptr);
        ::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_DEL, worker->event_fd.get(), nullptr);
        const Collecting collecting(*this, collect_mutex_);
        std::lock_guard lock(mutex_);
        release_process_locked(*worker);
        worker->socket.reset();
        worker->event_fd.reset();
    }
}

}  // namespace tandem::detail::process_pool
