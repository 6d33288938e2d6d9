// Internal: the thread pool's scheduler — workers, their deques, and how idle
// workers sleep and wake.
//
// Work placement: a worker's own submissions go to its deque; everything else
// to the sharded injection queue. A worker looks in its deque, then the
// injection queue, then steals from a random other worker.
//
// Sleeping and waking (the design of Go's scheduler): at most a few idle
// workers spin, "searching" for work, for some tens of microseconds before they
// sleep on a futex. A submitter wakes a sleeper only if nobody is searching and
// somebody sleeps (or a worker can still be started), and a searcher that finds
// work wakes one more sleeper if work remains, so wake-ups (system calls) are
// rare when the pool is busy — a task that fans out to ten children wakes at
// most one sleeper — and an idle pool burns no CPU. Every "is anyone searching
// / asleep?" check is ordered after the push it follows (seq_cst on both
// sides), so no wake-up is lost.
//
// Workers are started lazily, as Python does: one more when work arrives and
// no worker is idle, up to max_workers. Each is a threading::Thread named
// "<prefix>_<index>", so current_thread() inside a task is the worker.
//
// Waiting inside the pool: a worker that waits — result() on a pending future,
// wait(), as_completed() — keeps running queued tasks (it is the thread's
// WaitHelper): its own children first, newest first, then, while less than half
// of its stack is used, work from the injection queue and other workers. It
// spins briefly when there is none, then sleeps — still available for new
// work. A pool therefore never deadlocks on its own tasks, even with one
// worker, and nested waits cannot overflow the stack: past the half, a waiting
// worker runs only its own children (oneTBB has the same rule), so what it
// waits for must then be its own child or run elsewhere.
#pragma once

#include <atomic>      // counters and flags
#include <cstddef>     // std::size_t
#include <functional>  // the initializer
#include <memory>      // worker storage
#include <mutex>       // idle list, spawning, shutdown
#include <string>      // thread names, broken message
#include <vector>      // idle list

#include "tandem/detail/future/future_state.hpp"
#include "tandem/detail/thread_pool/injection_queue.hpp"

namespace tandem::detail {

class Runnable;

class ThreadPoolScheduler final {
public:
    ThreadPoolScheduler(std::size_t max_workers, std::string thread_name_prefix, std::function<void()> initializer);
    ThreadPoolScheduler(const ThreadPoolScheduler&) = delete;
    ThreadPoolScheduler& operator=(const ThreadPoolScheduler&) = delete;
    ~ThreadPoolScheduler();  // shutdown(true, false)

    /// Takes the queue's reference to `task`. Throws RuntimeError after
    /// shutdown and BrokenThreadPool once an initializer failed; the task is
    /// then not enqueued and the caller still owns that reference.
    void submit(Runnable* task);

    /// Stops accepting work; optionally cancels queued work; lets the workers
    /// finish the rest and exit; optionally joins them.
    void shutdown(bool wait, bool cancel_pending);

    std::size_t max_workers() const noexcept { return max_workers_; }

    class Worker;  // defined in the .cpp

private:
    void spawn_worker();
    void worker_main(Worker& me);
    void worker_loop(Worker& me);
    void run_designated_search(Worker& me);
    bool run_top_level(Worker& me, Runnable* task);
    static void announce_free() noexcept;
    void fail_initializer(std::exception_ptr error);

    bool help_until(Worker& me, HelpedWait& wait, Deadline deadline);
    void sleep_helping(Worker& me, HelpedWait& wait, Deadline deadline, bool may_take_others);

    Runnable* find_task(Worker& me) noexcept;
    Runnable* find_nested_task(Worker& me, bool may_take_others) noexcept;
    Runnable* steal(Worker& me) noexcept;
    Runnable* search(Worker& me) noexcept;
    bool has_work() const noexcept;

    void notify_work();
    void add_searcher();
    bool try_start_searching() noexcept;
    void stop_searching(bool found_work);
    void wake_one();
    void register_idle(Worker& me);
    bool unregister_idle(Worker& me);
    bool rejoin_searchers(Worker& me);
    bool park(Worker& me, bool leaving_search);
    void drain_queued(std::exception_ptr error);

    const std::size_t max_workers_;
    const int max_searchers_;
    const std::string thread_name_prefix_;
    const std::function<void()> initializer_;

    std::unique_ptr<Worker[]> workers_;
    std::atomic<std::size_t> spawned_{0};
    InjectionQueue injection_;

    alignas(64) std::atomic<int> searching_{0};
    alignas(64) std::atomic<int> idle_count_{0};
    std::mutex idle_mutex_;
    std::vector<Worker*> idle_;

    std::mutex lifecycle_mutex_;  // spawning, shutdown, breaking
    std::mutex join_mutex_;       // joining; never held by a worker
    std::atomic<bool> closed_{false};  // no more submissions
    std::atomic<bool> stopping_{false};  // workers exit once out of work
    std::atomic<bool> broken_{false};
    std::string broken_message_;
    std::size_t joined_ = 0;
};

}  // namespace tandem::detail
