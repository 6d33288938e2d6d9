// The process-pool engine: dispatch, the collector thread, crash handling.
// See tandem/detail/process_pool/engine.hpp.
#include "tandem/detail/process_pool/engine.hpp"

#include <fcntl.h>        // fcntl(F_DUPFD_CLOEXEC)
#include <poll.h>         // checking that a pidfd really fired
#include <sys/epoll.h>    // the collector's wait
#include <sys/eventfd.h>  // the workers' wake-up for the collector
#include <sys/socket.h>   // socketpair for control sockets
#include <unistd.h>       // read, write

#include <algorithm>     // std::min
#include <cerrno>        // errno
#include <csignal>       // SIGKILL
#include <cstring>       // std::memcpy, strsignal
#include <new>           // placement new of the region's structures
#include <string>        // messages
#include <system_error>  // std::system_error
#include <utility>       // std::move

#include "tandem/detail/os/futex.hpp"                     // spin_until, Clock
#include "tandem/detail/launch/launcher.hpp"                  // pidfd_send_signal
#include "tandem/detail/process_pool/spill.hpp"        // write_message, read_message
#include "tandem/detail/process_pool/worker.hpp"  // worker_main, WorkerChannel
#include "tandem/errors.hpp"                           // BrokenProcessPool, WorkerCrashed, TimeoutError
#include "tandem/multiprocessing/context.hpp"          // resolve_default_start_method

namespace tandem::detail::process_pool {

namespace {

constexpr std::uint32_t kEventTag = 0xffffffffu;
// How long the collector polls the reply rings before it sleeps in epoll:
// a busy pipeline's next reply is usually microseconds away.
constexpr std::chrono::microseconds kSpinBudget{50};
// Workers that die before finishing start-up (not by SIGKILL) in a row
// before the pool counts as broken.
constexpr int kCrashLoopLimit = 3;

[[noreturn]] void throw_errno(const char* what) { throw std::system_error(errno, std::generic_category(), what); }

UniqueFd duplicate(int fd) {
    const int copy = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (copy < 0) throw_errno("process pool: dup");
    return UniqueFd(copy);
}

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

std::exception_ptr crashed(pid_t pid, int exitcode) {
    const int signal_number = exitcode < 0 ? -exitcode : 0;
    const int status = exitcode < 0 ? 0 : exitcode;
    return std::make_exception_ptr(
        WorkerCrashed(pid, signal_number, status, describe_exit(pid, exitcode) + " while running the task"));
}

}  // namespace

struct PoolEngine::Task {
    std::uint64_t id = 0;
    StatePtr<FutureStateBase> future;
    Deliver deliver = nullptr;
    /// The encoded call and its descriptors, kept until the task ends (a
    /// retry sends them again).
    std::vector<std::byte> bytes;
    std::vector<UniqueFd> fds;
    std::optional<std::chrono::nanoseconds> timeout;
    std::size_t retries_left = 0;
    bool marked_running = false;
    bool timed_out = false;
};

struct PoolEngine::WorkerSlot {
    std::uint32_t index = 0;
    WorkerArea* area = nullptr;
    std::optional<multiprocessing::Process> process;
    int pidfd = -1;
    pid_t pid = 0;
    UniqueFd socket;
    SpillWriter request_spills;  // large calls to this worker
    SpillReader reply_spills;    // large replies from it
    bool alive = false;     // may be given tasks
    bool retiring = false;  // told to stop after max_tasks_per_child
    bool killed_for_timeout = false;
    std::size_t dispatched = 0;
    std::deque<std::unique_ptr<Task>> in_flight;  // in the order sent
};

PoolEngine::PoolEngine(EngineOptions options)
    : options_(std::move(options)), region_(region_size(options_.workers), "tandem:process-pool") {
    // Resolved once, now: the default refuses to fork a process with several
    // threads, and the collector thread is about to exist.
    if (!options_.start_method) options_.start_method = detail::resolve_default_start_method();
    for (const UniqueFd& fd : options_.initializer_fds) initializer_fd_numbers_.push_back(fd.get());
    new (header_of(region_.data())) PoolHeader;
    event_fd_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!event_fd_) throw_errno("process pool: eventfd");
    epoll_fd_.reset(::epoll_create1(EPOLL_CLOEXEC));
    if (!epoll_fd_) throw_errno("process pool: epoll_create1");
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.u32 = kEventTag;
    if (::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, event_fd_.get(), &event) != 0) throw_errno("process pool: epoll_ctl");
    for (std::size_t i = 0; i < options_.workers; ++i) {
        auto worker = std::make_unique<WorkerSlot>();
        worker->index = static_cast<std::uint32_t>(i);
        worker->area = new (area_of(region_.data(), i)) WorkerArea;
        workers_.push_back(std::move(worker));
    }
    try {
        for (auto& worker : workers_) start_worker(*worker);
    } catch (...) {
        for (auto& worker : workers_) {
            if (worker->process) static_cast<void>(pidfd_send_signal(worker->pidfd, SIGKILL));
        }
        throw;  // each Process reaps its child as it is destroyed
    }
    collector_ = std::thread(&PoolEngine::collector_main, this);
}

PoolEngine::~PoolEngine() { shutdown(true, false); }

void PoolEngine::start_worker(WorkerSlot& worker) {
    worker.area->reset();
    int pair[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) throw_errno("process pool: socketpair");
    UniqueFd parent_end(pair[0]);
    UniqueFd child_end(pair[1]);
    WorkerChannel channel{region_.fd(),   region_.size(),        worker.index, event_fd_.get(),
                          child_end.get(), options_.initializer, initializer_fd_numbers_, nullptr};
    multiprocessing::Process process(
        multiprocessing::ProcessOptions{.daemon = true, .start_method = options_.start_method}, &worker_main,
        std::move(channel));
    process.start();
    const int pidfd = process.sentinel();
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.u32 = worker.index;
    if (::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, pidfd, &event) != 0) {
        const int error = errno;
        process.kill();
        process.join();
        throw std::system_error(error, std::generic_category(), "process pool: epoll_ctl");
    }
    std::lock_guard lock(mutex_);
    worker.pid = *process.pid();
    worker.process.emplace(std::move(process));
    worker.pidfd = pidfd;
    worker.socket = std::move(parent_end);
    worker.request_spills.reset();
    worker.reply_spills.reset();
    worker.alive = true;
    worker.retiring = false;
    worker.killed_for_timeout = false;
    worker.dispatched = 0;
}

// --- submitting and dispatching -----------------------------------------------------------

void PoolEngine::submit(StatePtr<FutureStateBase> future, Deliver deliver, HandoffWriter&& call,
                        const TaskOptions& options) {
    auto task = std::make_unique<Task>();
    task->future = std::move(future);
    task->deliver = deliver;
    task->timeout = options.timeout;
    task->retries_left = options.max_retries.value_or(options_.max_retries);
    for (int fd : call.fds()) task->fds.push_back(duplicate(fd));
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
}

void PoolEngine::dispatch_locked(Failures& failed) {
    if (broken_) return;
    while (!queue_.empty()) {
        // The least busy worker; among equals the first, so that a trickle
        // of tasks keeps going to one worker that is still spinning for
        // more rather than waking a sleeping one.
        WorkerSlot* chosen = nullptr;
        for (auto& candidate : workers_) {
            if (!candidate->alive || candidate->retiring || candidate->in_flight.size() >= kDispatchDepth) continue;
            if (!chosen || candidate->in_flight.size() < chosen->in_flight.size()) chosen = candidate.get();
        }
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
        Task& sent = *task;
        if (!send_task_locked(*chosen, sent)) {
            // The worker is gone (its control socket broke); its death is
            // handled from its pidfd. The task was never started.
            chosen->alive = false;
            queue_.push_front(std::move(task));
            continue;
        }
        chosen->in_flight.push_back(std::move(task));
        ++chosen->dispatched;
        if (options_.max_tasks_per_child && chosen->dispatched >= *options_.max_tasks_per_child) {
            send_stop_locked(*chosen);
            chosen->retiring = true;
        }
        if (sent.timeout) wake_collector();  // it must bound its sleep by this deadline
    }
}

bool PoolEngine::send_task_locked(WorkerSlot& worker, Task& task) {
    Ring& ring = worker.area->requests;
    if (ring.full()) return false;
    SlotHeader* slot = ring.producer_slot();
    slot->task_id = task.id;
    slot->kind = MessageKind::call;
    std::vector<int> fds;
    for (const UniqueFd& fd : task.fds) fds.push_back(fd.get());
    try {
        write_message(*slot, task.bytes, fds, worker.request_spills, ring, worker.socket.get());
    } catch (const std::system_error&) {
        return false;
    }
    if (ring.publish()) wake_shared(ring.consumer_sleeping);
    return true;
}

void PoolEngine::send_stop_locked(WorkerSlot& worker) {
    Ring& ring = worker.area->requests;
    if (ring.full()) return;  // cannot happen: kDispatchDepth + 1 < kRingSlots
    SlotHeader* slot = ring.producer_slot();
    slot->task_id = 0;
    slot->kind = MessageKind::stop;
    slot->carrier = Carrier::slot;
    slot->size = 0;
    if (ring.publish()) wake_shared(ring.consumer_sleeping);
}

void PoolEngine::break_pool_locked(const std::string& reason, Failures& failed) {
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

void PoolEngine::fail_all(Failures& failed) noexcept {
    for (auto& [task, error] : failed) task->future->try_set_exception(error);
    failed.clear();
}

void PoolEngine::cancel_all(std::vector<std::unique_ptr<Task>>& tasks) noexcept {
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

std::vector<std::unique_ptr<PoolEngine::Task>> PoolEngine::take_cancellable_locked() {
    std::vector<std::unique_ptr<Task>> taken;
    for (auto& task : queue_) taken.push_back(std::move(task));
    queue_.clear();
    return taken;
}

// --- shutting down ---------------------------------------------------------------------------

void PoolEngine::shutdown(bool wait, bool cancel_futures) {
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

void PoolEngine::signal_workers(int signal_number) {
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

void PoolEngine::join_collector() {
    // A done-callback runs on the collector; shutting down from there must
    // not wait for itself (the collector finishes on its own).
    if (std::this_thread::get_id() == collector_.get_id()) return;
    std::lock_guard lock(join_mutex_);
    if (collector_.joinable()) collector_.join();
}

void PoolEngine::wake_collector() noexcept {
    const std::uint64_t one = 1;
    [[maybe_unused]] const auto written = ::write(event_fd_.get(), &one, sizeof one);
}

std::vector<pid_t> PoolEngine::worker_pids() const {
    std::lock_guard lock(mutex_);
    std::vector<pid_t> pids;
    for (const auto& worker : workers_) {
        if (worker->process && worker->alive) pids.push_back(worker->pid);
    }
    return pids;
}

bool PoolEngine::finished_locked() const {
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

void PoolEngine::collector_main() {
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

bool PoolEngine::any_reply_waiting() const noexcept {
    for (const auto& worker : workers_) {
        const Ring& replies = worker->area->replies;
        if (!replies.empty() && !replies.corrupt()) return true;
    }
    return false;
}

void PoolEngine::collect() {
    PoolHeader& header = *header_of(region_.data());
    epoll_event events[64];
    for (;;) {
        bool progress = false;
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
        const auto wake_at = check_timeouts();
        {
            std::lock_guard lock(mutex_);
            if (finished_locked()) return;
        }
        if (progress) continue;
        if (spin_until([this] { return any_reply_waiting(); }, kSpinBudget)) continue;
        header.collector_sleeping.store(1, std::memory_order_seq_cst);
        if (any_reply_waiting()) {
            header.collector_sleeping.store(0, std::memory_order_relaxed);
            continue;
        }
        int timeout_ms = -1;
        if (wake_at) {
            const auto left = std::chrono::ceil<std::chrono::milliseconds>(*wake_at - Clock::now()).count();
            timeout_ms = static_cast<int>(std::clamp<long long>(left, 0, 60'000));
        }
        const int ready = ::epoll_wait(epoll_fd_.get(), events, 64, timeout_ms);
        header.collector_sleeping.store(0, std::memory_order_relaxed);
        if (ready < 0) {
            if (errno == EINTR) continue;
            throw_errno("process pool: epoll_wait");
        }
        for (int i = 0; i < ready; ++i) {
            const std::uint32_t tag = events[i].data.u32;
            if (tag == kEventTag) {
                std::uint64_t count = 0;
                [[maybe_unused]] const auto got = ::read(event_fd_.get(), &count, sizeof count);
            } else if (tag < workers_.size()) {
                handle_death(*workers_[tag]);
            }
        }
    }
}

bool PoolEngine::drain_replies(WorkerSlot& worker) {
    Ring& replies = worker.area->replies;
    bool any = false;
    while (!replies.empty()) {
        if (replies.corrupt()) {
            // Its task fails as a crash once the pidfd reports the death.
            static_cast<void>(pidfd_send_signal(worker.pidfd, SIGKILL));
            return any;
        }
        SlotHeader* slot = replies.consumer_slot();
        std::unique_ptr<Task> task;
        {
            std::lock_guard lock(mutex_);
            if (!worker.in_flight.empty() && worker.in_flight.front()->id == slot->task_id) {
                task = std::move(worker.in_flight.front());
                worker.in_flight.pop_front();
            }
        }
        try {
            if (slot->kind != MessageKind::result && slot->kind != MessageKind::raised) {
                throw FrameError("process pool: unknown reply kind");
            }
            const SlotMessage message = read_message(*slot, worker.reply_spills, worker.socket.get());
            if (task) task->deliver(*task->future, slot->kind == MessageKind::raised, message.bytes);
        } catch (...) {
            if (task) task->future->try_set_exception(std::current_exception());
        }
        replies.consume();
        any = true;
    }
    return any;
}

std::optional<std::chrono::steady_clock::time_point> PoolEngine::check_timeouts() {
    std::optional<Clock::time_point> earliest;
    const auto now = Clock::now();
    std::lock_guard lock(mutex_);
    for (auto& worker : workers_) {
        if (!worker->process || worker->killed_for_timeout) continue;
        const std::uint64_t current = worker->area->current_task.load(std::memory_order_seq_cst);
        for (auto& task : worker->in_flight) {
            if (!task->timeout) continue;
            Clock::time_point deadline;
            if (task->id == current) {
                const auto started = Clock::time_point(
                    std::chrono::nanoseconds(worker->area->started_ns.load(std::memory_order_relaxed)));
                deadline = started + std::chrono::duration_cast<Clock::duration>(*task->timeout);
                if (deadline <= now) {
                    task->timed_out = true;
                    worker->killed_for_timeout = true;
                    worker->alive = false;
                    static_cast<void>(pidfd_send_signal(worker->pidfd, SIGKILL));
                    break;
                }
            } else {
                // Not started: its deadline is at least a full timeout away.
                deadline = now + std::chrono::duration_cast<Clock::duration>(*task->timeout);
            }
            if (!earliest || deadline < *earliest) earliest = deadline;
        }
    }
    return earliest;
}

void PoolEngine::handle_death(WorkerSlot& worker) {
    if (!worker.process) return;
    pollfd gone{worker.pidfd, POLLIN, 0};
    if (::poll(&gone, 1, 0) != 1) return;  // not dead after all
    drain_replies(worker);
    ::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_DEL, worker.pidfd, nullptr);
    worker.process->join();
    const int exitcode = worker.process->exitcode().value_or(-SIGKILL);
    const pid_t pid = worker.pid;

    Failures failed;
    bool replace = false;
    {
        std::lock_guard lock(mutex_);
        worker.alive = false;
        const std::uint64_t current = worker.area->current_task.load(std::memory_order_seq_cst);
        const WorkerPhase phase = worker.area->phase.load(std::memory_order_seq_cst);
        std::unique_ptr<Task> running;
        auto tasks = std::move(worker.in_flight);
        worker.in_flight.clear();
        for (auto it = tasks.rbegin(); it != tasks.rend(); ++it) {
            if (current != 0 && (*it)->id == current) {
                running = std::move(*it);
            } else if (terminate_signal_ != 0) {
                failed.emplace_back(std::move(*it), std::make_exception_ptr(BrokenProcessPool(
                                                        "the pool's workers were terminated")));
            } else {
                queue_.push_front(std::move(*it));  // never started: runs elsewhere
            }
        }
        if (running) {
            if (terminate_signal_ != 0) {
                failed.emplace_back(std::move(running), std::make_exception_ptr(BrokenProcessPool(
                                                            "the pool's workers were terminated")));
            } else if (running->timed_out) {
                failed.emplace_back(std::move(running), std::make_exception_ptr(TimeoutError(
                                                            "the task ran past its timeout; " +
                                                            describe_exit(pid, exitcode) + " and was replaced")));
            } else if (worker.killed_for_timeout) {
                // Another task of this worker overran its timeout; this one
                // started just before the kill landed and is not to blame.
                queue_.push_front(std::move(running));
            } else if (running->retries_left > 0) {
                --running->retries_left;
                queue_.push_front(std::move(running));
            } else {
                failed.emplace_back(std::move(running), crashed(pid, exitcode));
            }
        }
        if (phase == WorkerPhase::init_failed) {
            break_pool_locked(std::string("a worker's initializer failed: ") + worker.area->failure, failed);
        } else if (phase == WorkerPhase::ready) {
            failed_starts_ = 0;
        } else if (exitcode != -SIGKILL && terminate_signal_ == 0 && !worker.retiring) {
            if (++failed_starts_ >= kCrashLoopLimit) {
                break_pool_locked("workers keep dying at start-up (the last: " + describe_exit(pid, exitcode) + ")",
                                  failed);
            }
        }
        replace = !broken_ && terminate_signal_ == 0 && !(shutting_down_ && queue_.empty());
        worker.process.reset();  // reaped above
        worker.socket.reset();
        worker.pidfd = -1;
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

void PoolEngine::replace_worker(WorkerSlot& worker) {
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

void PoolEngine::finish_workers() {
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
        ::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_DEL, worker->pidfd, nullptr);
        std::lock_guard lock(mutex_);
        worker->process.reset();
        worker->socket.reset();
        worker->pidfd = -1;
    }
}

}  // namespace tandem::detail::process_pool
