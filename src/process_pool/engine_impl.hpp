// Private to the library: the process-pool engine behind the PoolEngine
// interface (tandem/detail/process_pool/engine.hpp), under
// ProcessPoolExecutor and, through it, multiprocessing::Pool.
//
// The engine owns the workers (multiprocessing::Process objects running
// worker_main), one shared region per worker with its rings (task_ring.hpp),
// a queue of tasks not yet handed to a worker, and one collector thread.
//
// A task's journey: submit() encodes the call (remote_call.hpp) and queues
// it; dispatch hands queued tasks to workers that have fewer than
// kDispatchDepth tasks in flight, marking each future running, and writes
// them to a worker's request ring (or a memfd plus a ring slot when the call
// is large or carries descriptors) once the collector saw it ready. The
// collector drains the reply rings (reply_reader.hpp), completes the futures
// (decoding each result with the task's Deliver function, made for its
// result type), and dispatches more. It sleeps in epoll over each worker's
// event fd (written by the worker only when the collector said it sleeps)
// and pidfd, and its own wake-up eventfd.
//
// A caller that waits in result() collects too (caller_collector.hpp): while
// it spins it takes the collector's part, draining every reply ring through
// the same checked reader and completing its own future and others', as
// oneTBB's waiter runs tasks. Whoever collects holds collect_mutex_; a
// caller only ever try-locks it. While a caller collects, the collector
// thread sleeps in epoll and the workers' "collector sleeps" flags stay
// down, so a reply costs no system call and no wake-up: a round trip is two
// hand-offs (caller -> worker -> caller) instead of three. The last caller
// to stop collecting raises the flags again if the collector thread sleeps,
// and looks at the rings once more, so no reply waits unseen. Worker deaths,
// timeouts and start-ups stay the collector thread's (its epoll watches the
// pidfds whatever the flags say).
//
// When a pidfd fires the worker is dead: replies it published are delivered,
// the task whose id it had written as current fails with WorkerCrashed (or
// TimeoutError if the collector killed it for overrunning its timeout, or
// is queued again while it has retries left), the tasks it had not started
// go back to the front of the queue, and a new worker, with a new region,
// takes the slot. Only a worker that dies before it said it was ready counts
// towards a crash loop: a failed initializer, or three such deaths in a row,
// break the pool (BrokenProcessPool for every pending future and every later
// submit).
//
// Nothing a worker writes is believed unchecked (docs/design.md, "Shared
// memory and workers"): its current task must be one it was sent, its start
// time is clamped to what the parent saw, its start-up phase counts only
// until the parent saw it ready, its replies must come in order. A worker
// that breaks the protocol is killed and fails only its own task, with
// WorkerCrashed; the collector never waits on a worker's control socket.
#pragma once

#include <sys/types.h>  // pid_t

#include <atomic>       // how many callers collect
#include <chrono>       // task timeouts
#include <cstddef>      // std::size_t, std::byte
#include <cstdint>      // task ids
#include <deque>        // the queue, each worker's tasks in flight
#include <exception>    // failures delivered after unlocking
#include <memory>       // tasks, workers; enable_shared_from_this for callers that collect
#include <mutex>        // guards the queue and the workers' bookkeeping
#include <optional>     // options, the worker's Process
#include <string>       // the reason a pool broke
#include <thread>       // the collector
#include <utility>      // std::pair
#include <vector>       // workers, descriptors

#include "tandem/detail/future/future_state.hpp"        // HelpedWait
#include "tandem/detail/os/futex.hpp"                  // Deadline
#include "tandem/detail/process_pool/engine.hpp"        // PoolEngine: what this implements
#include "tandem/detail/process_pool/output_relay.hpp"  // OutputRelay: the workers' output
#include "tandem/detail/process_pool/private_fds.hpp"  // PrivateFd: epoll, the wake-up eventfd
#include "tandem/multiprocessing/process.hpp"          // the workers

namespace tandem::detail::process_pool {

class EngineImpl final : public PoolEngine, public std::enable_shared_from_this<EngineImpl> {
public:
    /// See start_engine().
    explicit EngineImpl(EngineOptions options);
    EngineImpl(const EngineImpl&) = delete;
    EngineImpl& operator=(const EngineImpl&) = delete;
    ~EngineImpl() override;

    // PoolEngine: see engine.hpp.
    void submit_encoded(StatePtr<FutureStateBase> future, Deliver deliver, HandoffWriter&& call,
                        const TaskOptions& options) override;
    bool submit_in_place(StatePtr<FutureStateBase>& future, Deliver deliver, const InPlaceCall& call,
                         const TaskOptions& options) override;
    void shutdown(bool wait, bool cancel_futures) override;
    bool stop(FutureStateBase& future) override;
    void signal_workers(int signal_number) override;
    std::size_t max_workers() const noexcept override { return options_.workers; }
    std::vector<pid_t> worker_pids() const override;

    /// Collects replies (this caller's and others') until `wait` is ready
    /// (a future done, a wait() condition met), `deadline` passes or about
    /// 50 µs of finding nothing go by; returns whether `wait` is ready. A
    /// thread that is already collecting for this pool (a done-callback
    /// waiting) returns at once. Done-callbacks of the futures completed run
    /// on the calling thread. Used by caller_collector.hpp.
    bool collect_while_waiting(HelpedWait& wait, Deadline deadline);

private:
    struct Task;
    struct WorkerSlot;
    /// Futures to fail once mutex_ is released (their callbacks may submit).
    using Failures = std::vector<std::pair<std::unique_ptr<Task>, std::exception_ptr>>;

    // Called with mutex_ held.
    std::unique_ptr<Task> make_task(StatePtr<FutureStateBase>& future, Deliver deliver,
                                    const TaskOptions& options) const;
    void dispatch_locked(Failures& failed);
    WorkerSlot* least_busy_locked() const;
    void hand_over_locked(WorkerSlot& worker, std::unique_ptr<Task> task);
    void send_pending_locked(WorkerSlot& worker);
    bool send_task_locked(WorkerSlot& worker, Task& task);
    void publish_task_locked(WorkerSlot& worker, Task& task);
    void send_stop_locked(WorkerSlot& worker);
    bool stop_started_locked(WorkerSlot& worker, std::uint64_t current, std::chrono::steady_clock::time_point now,
                             std::optional<std::chrono::steady_clock::time_point>& earliest);
    void kill_worker_locked(WorkerSlot& worker, const std::string& protocol_error = {}, std::uint64_t blamed = 0);
    void break_pool_locked(const std::string& reason, Failures& failed);
    bool finished_locked() const;
    std::vector<std::unique_ptr<Task>> take_cancellable_locked();
    static void release_process_locked(WorkerSlot& worker) noexcept;

    void start_worker(WorkerSlot& worker);
    void replace_worker(WorkerSlot& worker);
    void collector_main();
    void collect();
    // Called with collect_mutex_ held.
    bool collect_once();
    bool park_collector_locked();
    void wake_from_park_locked() noexcept;
    void stop_helping_locked();
    bool note_ready_workers();
    bool drain_replies(WorkerSlot& worker);
    void handle_death(WorkerSlot& worker);
    std::optional<std::chrono::steady_clock::time_point> check_timeouts();
    bool work_waiting() const noexcept;
    void set_collector_sleeping(bool sleeping) noexcept;
    void finish_workers();
    void wake_collector() noexcept;
    void join_collector();
    static void fail_all(Failures& failed) noexcept;
    static void cancel_all(std::vector<std::unique_ptr<Task>>& tasks) noexcept;

    EngineOptions options_;
    OutputRelay relay_;  // the workers' stdout and stderr, a line at a time
    std::vector<int> initializer_fd_numbers_;
    PrivateFd wake_fd_;  // wakes the collector from this process (shutdown, a task with a timeout)
    PrivateFd epoll_fd_;

    mutable std::mutex mutex_;
    std::deque<std::unique_ptr<Task>> queue_;
    std::vector<std::unique_ptr<WorkerSlot>> workers_;
    std::uint64_t next_id_ = 1;
    bool shutting_down_ = false;
    bool broken_ = false;
    std::string broken_reason_;
    int terminate_signal_ = 0;
    int failed_starts_ = 0;

    // Held by whoever reads the reply rings: the collector thread, or a
    // caller collecting while it waits (which only try-locks it). Guards the
    // ReplyReaders, the reply spill readers, each worker's last_delivered,
    // and the workers' processes and regions while a slot is refilled.
    // Taken before mutex_, never after.
    std::mutex collect_mutex_;
    bool collector_parked_ = false;         // the collector thread sleeps in epoll (collect_mutex_)
    std::atomic<int> callers_collecting_{0};  // written under collect_mutex_, read by the collector's spin

    std::thread collector_;
    std::mutex join_mutex_;  // one joiner of the collector at a time
};

}  // namespace tandem::detail::process_pool
