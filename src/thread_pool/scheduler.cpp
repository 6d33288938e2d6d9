// The thread pool's scheduler (see detail/thread_pool/scheduler.hpp for the design).
#include "tandem/detail/thread_pool/scheduler.hpp"

#include <pthread.h>  // pthread_getattr_np: the worker's stack, for the nesting limit
#include <sched.h>    // sched_yield: idle rounds give the core away

#include <algorithm>  // std::clamp
#include <chrono>     // search time limit
#include <cstdint>    // std::uint32_t wake bits, std::uintptr_t stack addresses
#include <cstdio>     // initializer failure report
#include <optional>   // a worker's Thread, made when it is spawned
#include <string>     // worker names

#include "tandem/detail/thread_pool/task.hpp"
#include "tandem/detail/thread_pool/work_stealing_deque.hpp"
#include "tandem/errors.hpp"
#include "tandem/threading/thread.hpp"  // workers are threading::Thread objects, named as Python names them

namespace tandem::detail {

namespace {

// Bits of Worker::wake_bits, set by whoever wakes a sleeping worker.
constexpr std::uint32_t wake_for_work = 1;    // popped from the idle list; counted as searching
constexpr std::uint32_t wake_wait_over = 2;   // what it waits for in a helping wait may be ready
constexpr std::uint32_t wake_stop = 4;        // shutdown

// How long an idle worker searches before it sleeps, and a waiting worker
// with nothing to run spins before it sleeps: long enough that a
// submit-then-wait loop finds it awake, and that a fork-join parent whose last
// child runs on another worker sees it finish (a futex wake-up costs ~25 us on
// these machines), short enough that an idle pool burns nothing measurable.
constexpr auto search_time = std::chrono::microseconds(50);

/// A fruitless round of a searching or waiting worker: a few pauses at first,
/// then giving its core away, so that where threads outnumber cores the
/// thread that submits the work, or runs what we wait for, gets it.
void idle_round(int round) noexcept {
    constexpr int pausing_rounds = 32;
    if (round < pausing_rounds) {
        for (int i = 0; i < 16; ++i) cpu_relax();
    } else {
        sched_yield();
    }
}

/// The lowest stack address at which a waiting worker still takes work that
/// is not its own: half-way down the thread's stack (0 if unknown).
std::uintptr_t stealing_floor() noexcept {
    pthread_attr_t attributes;
    if (pthread_getattr_np(pthread_self(), &attributes) != 0) return 0;
    void* lowest = nullptr;
    std::size_t size = 0;
    const int status = pthread_attr_getstack(&attributes, &lowest, &size);
    pthread_attr_destroy(&attributes);
    if (status != 0) return 0;
    return reinterpret_cast<std::uintptr_t>(lowest) + size / 2;
}

std::string describe(std::exception_ptr error) {
    try {
        std::rethrow_exception(error);
    } catch (const std::exception& e) {
        return e.what();
    } catch (...) {
        return "unknown exception";
    }
}

}  // namespace

/// A worker: its deque, how it is woken, and — as the WaitHelper of its
/// thread — how it waits inside the pool.
class alignas(64) ThreadPoolScheduler::Worker final : public WaitHelper {
public:
    ThreadPoolScheduler* pool = nullptr;
    std::size_t index = 0;
    WorkStealingDeque<Runnable*> deque{64};
    std::atomic<std::uint32_t> wake_bits{0};
    // A Thread, as Python's workers are: current_thread() in a task is the
    // worker, named "<prefix>_<index>", and enumerate() lists it.
    std::optional<threading::Thread> thread;
    std::size_t next_shard = 0;
    std::uint64_t random = 0;         // victim choice; owner only
    std::uintptr_t steal_floor = 0;   // below this stack address a waiting worker runs only its own children
    bool running_top_level = false;   // a task from the worker loop, not one run while waiting
    bool announced_free = false;      // counted in searching_ by announce_free()

    bool help_until(HelpedWait& wait, Deadline deadline) override { return pool->help_until(*this, wait, deadline); }
    void wake() noexcept override { signal(wake_wait_over); }

    /// Sets `bit` and wakes the worker; only the first bit set since it last
    /// cleared them costs a system call (the others find it already woken).
    void signal(std::uint32_t bit) noexcept {
        if (wake_bits.fetch_or(bit, std::memory_order_seq_cst) == 0) futex_wake(wake_bits, 1);
    }

    /// Whether a wait that starts here may take work that is not its own.
    bool may_take_others_work() const noexcept {
        return reinterpret_cast<std::uintptr_t>(__builtin_frame_address(0)) > steal_floor;
    }

    std::size_t next_random() noexcept {
        // xorshift64: cheap, and good enough to spread thieves over victims.
        random ^= random << 13;
        random ^= random >> 7;
        random ^= random << 17;
        return static_cast<std::size_t>(random);
    }
};

namespace {
thread_local ThreadPoolScheduler::Worker* this_worker = nullptr;  // NOLINT: per-thread identity
thread_local ThreadPoolScheduler* this_pool = nullptr;
}  // namespace

/// before_task_completes for workers: a worker finishing a task it took from
/// its loop starts searching now, before the result is visible, so a submit
/// that follows the result finds it searching and starts no other worker.
/// With work queued it goes straight on to that instead: it is not free, and
/// a burst of tasks then costs no searcher bookkeeping (two read-modify-writes
/// of a shared counter) per task.
void ThreadPoolScheduler::announce_free() noexcept {
    Worker* me = this_worker;
    if (me == nullptr || !me->running_top_level) return;
    me->running_top_level = false;
    if (!me->deque.empty() || this_pool->injection_.maybe_nonempty()) return;
    me->announced_free = true;
    this_pool->searching_.fetch_add(1, std::memory_order_seq_cst);
}

/// Runs a task from the worker loop. Returns true if the worker announced
/// itself free (and is counted as a searcher).
bool ThreadPoolScheduler::run_top_level(Worker& me, Runnable* task) {
    me.running_top_level = true;
    task->run();
    me.running_top_level = false;
    return std::exchange(me.announced_free, false);
}

ThreadPoolScheduler::ThreadPoolScheduler(std::size_t max_workers, std::string thread_name_prefix,
                                         std::function<void()> initializer)
    : max_workers_(max_workers),
      max_searchers_(std::max(1, static_cast<int>(max_workers / 2))),
      thread_name_prefix_(std::move(thread_name_prefix)),
      initializer_(std::move(initializer)),
      workers_(std::make_unique<Worker[]>(max_workers)),
      injection_(std::clamp<std::size_t>(max_workers, 4, 16)) {
    for (std::size_t i = 0; i < max_workers_; ++i) {
        workers_[i].pool = this;
        workers_[i].index = i;
        workers_[i].random = 0x9E3779B97F4A7C15ULL * (i + 1);
    }
}

ThreadPoolScheduler::~ThreadPoolScheduler() { shutdown(true, false); }

// --- submission ------------------------------------------------------------

void ThreadPoolScheduler::submit(Runnable* task) {
    Worker* me = this_pool == this ? this_worker : nullptr;
    if (me != nullptr && !closed_.load(std::memory_order_acquire)) {
        // A task submitting more work: its worker is alive until its deque is
        // empty, so nothing pushed here can be stranded by shutdown.
        me->deque.push(task);
    } else if (!injection_.push(task)) {
        if (broken_.load(std::memory_order_acquire)) throw BrokenThreadPool(broken_message_);
        throw RuntimeError("cannot schedule new futures after shutdown");
    }
    notify_work();
}

void ThreadPoolScheduler::notify_work() {
    if (searching_.load(std::memory_order_seq_cst) > 0) return;  // a searcher will find it
    // Nobody asleep and no worker left to start: every worker is busy, and
    // each looks for work before it sleeps (park() checks after registering).
    if (idle_count_.load(std::memory_order_seq_cst) == 0 && spawned_.load(std::memory_order_acquire) == max_workers_)
        return;
    // A searcher may have taken the task and stopped searching since the push:
    // then nobody needs waking (and a new thread would break idle-thread reuse).
    if (!has_work()) return;
    add_searcher();
}

/// Makes one more worker search: a sleeping one, or else a new one (Python
/// starts a thread when no idle one exists, up to max_workers).
void ThreadPoolScheduler::add_searcher() {
    if (idle_count_.load(std::memory_order_seq_cst) > 0) {
        wake_one();
    } else if (spawned_.load(std::memory_order_acquire) < max_workers_) {
        spawn_worker();
    }
}

void ThreadPoolScheduler::spawn_worker() {
    std::lock_guard lock(lifecycle_mutex_);
    const std::size_t index = spawned_.load(std::memory_order_relaxed);
    // Spawning stays allowed while stopping: a push accepted just before
    // shutdown may find no worker alive, and must still run.
    if (index >= max_workers_ || broken_.load(std::memory_order_relaxed)) return;
    Worker& worker = workers_[index];
    searching_.fetch_add(1, std::memory_order_seq_cst);  // it starts by searching
    try {
        // Not a daemon: the pool joins its workers (Python's are not daemons
        // either), and an explicit flag creates no dummy Thread for a
        // submitting thread that tandem did not start.
        threading::ThreadOptions options;
        options.name = thread_name_prefix_ + "_" + std::to_string(index);
        options.daemon = false;
        worker.thread.emplace(std::move(options), [this, &worker] { worker_main(worker); });
        worker.thread->start();
    } catch (...) {
        worker.thread.reset();
        searching_.fetch_sub(1, std::memory_order_seq_cst);
        throw;
    }
    spawned_.store(index + 1, std::memory_order_release);
}

// --- the worker ------------------------------------------------------------

void ThreadPoolScheduler::worker_main(Worker& me) {
    this_worker = &me;
    this_pool = this;
    me.steal_floor = stealing_floor();
    current_wait_helper() = &me;
    before_task_completes = &ThreadPoolScheduler::announce_free;
    bool initialized = true;
    if (initializer_) {
        try {
            initializer_();
        } catch (...) {
            initialized = false;
            stop_searching(false);
            fail_initializer(std::current_exception());
        }
    }
    if (initialized) worker_loop(me);
    before_task_completes = nullptr;
    current_wait_helper() = nullptr;
    this_pool = nullptr;
    this_worker = nullptr;
}

void ThreadPoolScheduler::worker_loop(Worker& me) {
    bool searcher = true;  // counted in searching_: spawned, woken or announced as one
    for (;;) {
        Runnable* task = nullptr;
        if (searcher) {
            // Search (spin) for a while; a fruitless search goes on to sleep.
            task = search(me);
            searcher = false;
            if (task == nullptr) {
                searcher = park(me, true);
                if (!searcher && stopping_.load(std::memory_order_seq_cst) && !has_work()) return;
                continue;
            }
            stop_searching(true);
        } else {
            task = find_task(me);
            if (task == nullptr && try_start_searching()) {
                searcher = true;
                continue;
            }
        }
        if (task != nullptr) {
            searcher = run_top_level(me, task);
            continue;
        }
        // `stopping_` first: it is set after the last accepted push finished,
        // so seeing it and then an empty pool means nothing can still arrive.
        if (stopping_.load(std::memory_order_seq_cst) && !has_work()) return;
        if (has_work()) continue;
        searcher = park(me, false);
    }
}

/// Searches while counted in searching_ (set by whoever made us a searcher),
/// leaves the count, and runs what it found (while waiting in result()).
void ThreadPoolScheduler::run_designated_search(Worker& me) {
    Runnable* task = search(me);
    stop_searching(task != nullptr);
    if (task != nullptr) task->run();
}

void ThreadPoolScheduler::fail_initializer(std::exception_ptr error) {
    // Python logs the failure and breaks the pool: queued and future work
    // fails with BrokenThreadPool.
    std::fprintf(stderr, "Exception in initializer: %s\n", describe(error).c_str());
    {
        std::lock_guard lock(lifecycle_mutex_);
        if (broken_.load(std::memory_order_relaxed)) return;
        broken_message_ = "A thread initializer failed, the thread pool is not usable anymore";
        broken_.store(true, std::memory_order_release);
        closed_.store(true, std::memory_order_release);
    }
    injection_.close();
    drain_queued(std::make_exception_ptr(BrokenThreadPool(broken_message_)));
}

// --- finding work ------------------------------------------------------------

Runnable* ThreadPoolScheduler::find_task(Worker& me) noexcept {
    if (Runnable* task = me.deque.pop()) return task;
    if (Runnable* task = injection_.pop(me.next_shard++)) return task;
    return steal(me);
}

/// What a waiting worker runs: its own children, newest first, then — unless
/// its stack is half used — anything.
Runnable* ThreadPoolScheduler::find_nested_task(Worker& me, bool may_take_others) noexcept {
    return may_take_others ? find_task(me) : me.deque.pop();
}

Runnable* ThreadPoolScheduler::steal(Worker& me) noexcept {
    const std::size_t count = spawned_.load(std::memory_order_acquire);
    if (count < 2) return nullptr;
    const std::size_t start = me.next_random() % count;
    for (std::size_t i = 0; i < count; ++i) {
        Worker& victim = workers_[(start + i) % count];
        if (&victim == &me) continue;
        if (Runnable* task = victim.deque.steal()) return task;
    }
    return nullptr;
}

Runnable* ThreadPoolScheduler::search(Worker& me) noexcept {
    const auto give_up = Clock::now() + search_time;
    for (int round = 0;; ++round) {
        if (Runnable* task = find_task(me)) return task;
        if (stopping_.load(std::memory_order_relaxed) || Clock::now() >= give_up) return nullptr;
        idle_round(round);
    }
}

bool ThreadPoolScheduler::has_work() const noexcept {
    if (injection_.maybe_nonempty()) return true;
    const std::size_t count = spawned_.load(std::memory_order_acquire);
    for (std::size_t i = 0; i < count; ++i) {
        if (!workers_[i].deque.empty()) return true;
    }
    return false;
}

// --- searching, sleeping, waking -------------------------------------------

bool ThreadPoolScheduler::try_start_searching() noexcept {
    int current = searching_.load(std::memory_order_relaxed);
    while (current < max_searchers_) {
        if (searching_.compare_exchange_weak(current, current + 1, std::memory_order_seq_cst)) return true;
    }
    return false;
}

void ThreadPoolScheduler::stop_searching(bool found_work) {
    const int before = searching_.fetch_sub(1, std::memory_order_seq_cst);
    // The last searcher took work: if more is queued, hand the searching over,
    // since submitters saw a searcher and woke nobody.
    if (found_work && before == 1 && has_work()) add_searcher();
}

void ThreadPoolScheduler::wake_one() {
    Worker* worker = nullptr;
    {
        std::lock_guard lock(idle_mutex_);
        if (idle_.empty()) return;
        worker = idle_.back();
        idle_.pop_back();
        idle_count_.fetch_sub(1, std::memory_order_seq_cst);
        searching_.fetch_add(1, std::memory_order_seq_cst);  // on its behalf
    }
    worker->signal(wake_for_work);
}

void ThreadPoolScheduler::register_idle(Worker& me) {
    me.wake_bits.store(0, std::memory_order_seq_cst);
    std::lock_guard lock(idle_mutex_);
    idle_.push_back(&me);
    idle_count_.fetch_add(1, std::memory_order_seq_cst);
}

/// Leaves the idle list; false if a waker took us off it first (we are then a
/// designated searcher).
bool ThreadPoolScheduler::unregister_idle(Worker& me) {
    std::lock_guard lock(idle_mutex_);
    const auto found = std::find(idle_.begin(), idle_.end(), &me);
    if (found == idle_.end()) return (me.wake_bits.load(std::memory_order_acquire) & wake_for_work) == 0;
    idle_.erase(found);
    idle_count_.fetch_sub(1, std::memory_order_seq_cst);
    return true;
}

/// Leaves the idle list as a searcher, counted as one before it stops being
/// idle, so that a submitter never sees it as neither and starts a new worker.
bool ThreadPoolScheduler::rejoin_searchers(Worker& me) {
    std::lock_guard lock(idle_mutex_);
    const auto found = std::find(idle_.begin(), idle_.end(), &me);
    if (found != idle_.end()) {
        searching_.fetch_add(1, std::memory_order_seq_cst);
        idle_.erase(found);
        idle_count_.fetch_sub(1, std::memory_order_seq_cst);
        return true;
    }
    // A waker took us off the list first: it counted us as a searcher.
    return (me.wake_bits.load(std::memory_order_acquire) & wake_for_work) != 0;
}

/// Sleeps until there may be work or the pool stops. Returns true if woken as a
/// designated searcher. A searcher (`leaving_search`) joins the idle list
/// before it leaves the searchers, so a submitter always sees one or the other
/// and never starts another worker while this one is going to sleep.
bool ThreadPoolScheduler::park(Worker& me, bool leaving_search) {
    register_idle(me);
    if (leaving_search) stop_searching(false);
    if (stopping_.load(std::memory_order_seq_cst)) return !unregister_idle(me);
    if (has_work()) return rejoin_searchers(me);
    std::uint32_t wake;
    while ((wake = me.wake_bits.load(std::memory_order_acquire)) == 0) futex_wait(me.wake_bits, 0, std::nullopt);
    if (wake & wake_for_work) return true;
    return !unregister_idle(me);
}

bool ThreadPoolScheduler::help_until(Worker& me, HelpedWait& wait, Deadline deadline) {
    // Tasks run while waiting are not the worker's last: it is not free after them.
    struct NestedRuns {
        Worker& worker;
        bool outer = std::exchange(worker.running_top_level, false);
        ~NestedRuns() { worker.running_top_level = outer; }
    } nested{me};
    const bool may_take_others = me.may_take_others_work();
    std::optional<Clock::time_point> stop_spinning;
    int idle_rounds = 0;
    for (;;) {
        if (wait.ready()) return true;
        // A timed wait starts no more work once its time is up.
        if (deadline && Clock::now() >= *deadline) return wait.ready();
        if (Runnable* task = find_nested_task(me, may_take_others)) {
            task->run();
            stop_spinning.reset();
            idle_rounds = 0;
            continue;
        }
        const auto now = Clock::now();
        // Nothing to run: what we wait for is likely running on another
        // worker. Spin a while before paying for a sleep and a wake-up.
        if (!stop_spinning) stop_spinning = now + search_time;
        if (now < *stop_spinning && !stopping_.load(std::memory_order_relaxed)) {
            idle_round(idle_rounds++);
            continue;
        }
        stop_spinning.reset();
        idle_rounds = 0;
        sleep_helping(me, wait, deadline, may_take_others);
    }
}

/// Sleeps until `wait` may be ready, the deadline passes or — for a worker
/// that may take others' work — work arrives: it stays on the idle list
/// meanwhile, so that submitters can hand it that work.
void ThreadPoolScheduler::sleep_helping(Worker& me, HelpedWait& wait, Deadline deadline, bool may_take_others) {
    const auto leave = [&] {
        if (may_take_others && !unregister_idle(me)) run_designated_search(me);
    };
    if (may_take_others) {
        register_idle(me);
    } else {
        me.wake_bits.store(0, std::memory_order_seq_cst);
    }
    bool armed = false;
    try {
        armed = wait.arm(me);
    } catch (...) {
        leave();
        throw;
    }
    if (armed && !(may_take_others && has_work())) {
        while (me.wake_bits.load(std::memory_order_acquire) == 0) {
            if (!futex_wait(me.wake_bits, 0, deadline)) break;
        }
    }
    wait.disarm();
    leave();
}

// --- shutdown ------------------------------------------------------------------

void ThreadPoolScheduler::drain_queued(std::exception_ptr error) {
    // Steal from everyone (stealing is safe while owners run) and empty the
    // injection queue: each task is cancelled, or failed with `error`.
    const std::size_t count = spawned_.load(std::memory_order_acquire);
    for (;;) {
        Runnable* task = injection_.pop(0);
        for (std::size_t i = 0; task == nullptr && i < count; ++i) task = workers_[i].deque.steal();
        if (task == nullptr && !has_work()) return;
        if (task != nullptr) task->abandon(error);
    }
}

void ThreadPoolScheduler::shutdown(bool wait, bool cancel_pending) {
    {
        std::lock_guard lock(lifecycle_mutex_);
        closed_.store(true, std::memory_order_release);
    }
    injection_.close();
    if (cancel_pending) drain_queued(nullptr);
    std::vector<Worker*> sleepers;
    {
        std::lock_guard lock(lifecycle_mutex_);
        stopping_.store(true, std::memory_order_seq_cst);
    }
    {
        std::lock_guard lock(idle_mutex_);
        sleepers.swap(idle_);
        idle_count_.store(0, std::memory_order_seq_cst);
    }
    for (Worker* worker : sleepers) worker->signal(wake_stop);
    if (!wait) return;
    // A worker cannot join itself, nor wait for peers that may wait on it.
    if (this_pool == this) return;
    std::lock_guard lock(join_mutex_);
    for (; joined_ < spawned_.load(std::memory_order_acquire); ++joined_) workers_[joined_].thread->join();
}

}  // namespace tandem::detail
