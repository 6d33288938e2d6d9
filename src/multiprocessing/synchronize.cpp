// multiprocessing synchronisation primitives: robust process-shared mutexes
// (detail/os/robust_mutex.hpp) for what has an owner (Lock, RLock, Barrier's
// bookkeeping), lock-free counters on process-shared futexes
// (detail/os/futex.hpp) for what has not (Semaphore, Event, Condition's
// waiting). See synchronize.hpp for why.
#include "tandem/multiprocessing/synchronize.hpp"

#include <pthread.h>      // pthread_mutex_t, pthread_atfork
#include <sys/syscall.h>  // SYS_gettid
#include <unistd.h>       // syscall

#include <atomic>   // every field other processes read
#include <climits>  // INT_MAX
#include <cstdint>  // fixed-width shared fields
#include <new>      // placement new, std::launder
#include <string>   // error messages

#include "tandem/detail/os/futex.hpp"         // futex_wait, futex_wake (FutexScope::shared)
#include "tandem/detail/os/robust_mutex.hpp"  // init_robust_mutex, lock_robust, RobustMutexGuard
#include "tandem/errors.hpp"                  // ValueError, RuntimeError, BrokenBarrierError

namespace tandem::detail {

// --- the shared states --------------------------------------------------------
// Each begins with a type tag, checked when another process attaches, so that a
// wrong (descriptor, offset) is an error rather than memory misread as a lock.

struct MutexState {
    MutexState(std::uint32_t tag_value);
    std::uint32_t tag;
    pthread_mutex_t mutex;
    std::atomic<pid_t> owner{0};               // thread id of the holder, 0 when free
    unsigned depth = 0;                        // RLock recursion; touched by the holder only
    std::atomic<std::uint32_t> recovered{0};   // the current holding began with EOWNERDEAD
    std::atomic<std::uint64_t> dead_owners{0}; // recoveries over the lock's life
};

struct SemaphoreState {
    SemaphoreState(std::uint32_t tag_value, std::uint32_t value, std::uint32_t bound)
        : tag(tag_value), count(value), maximum(bound) {}
    std::uint32_t tag;
    std::atomic<std::uint32_t> count;       // the futex word
    std::atomic<std::uint32_t> waiters{0};  // lets release() skip the wake-up call
    std::uint32_t maximum;                  // BoundedSemaphore's bound, else INT_MAX
};

struct EventState {
    explicit EventState(std::uint32_t tag_value) : tag(tag_value) {}
    std::uint32_t tag;
    // Bit 0 is the flag; the rest counts set() calls, so that a waiter notices
    // a set() even when clear() follows before it runs.
    std::atomic<std::uint32_t> word{0};
    std::atomic<std::uint32_t> waiters{0};
};

// Waiters take tickets in the order they start waiting; notify(n) advances
// `notified_below` over the n oldest waiting tickets, so a notification goes
// to a process that was already waiting, never to one that starts waiting
// later (Python's semantics; counting notifications instead lets a late
// waiter take one meant for an earlier one, which then sleeps on).
// Tickets and `notified_below` change only under the condition's lock.
inline constexpr std::uint64_t kMaxConditionWaiters = 4096;

struct ConditionState {
    explicit ConditionState(std::uint32_t tag_value) : tag(tag_value) {}
    std::uint32_t tag;
    std::atomic<std::uint32_t> sequence{0};        // bumped by every notify; the futex word
    std::atomic<std::uint64_t> next_ticket{0};     // the ticket of the next waiter
    std::atomic<std::uint64_t> notified_below{0};  // tickets below this are notified (or gave up)
    // Waiters that gave up (timed out) before being notified, by ticket
    // modulo kMaxConditionWaiters: notify() skips them.
    std::atomic<std::uint64_t> gave_up[kMaxConditionWaiters / 64] = {};
};

struct BarrierState {
    BarrierState(std::uint32_t tag_value, int party_count, std::int64_t timeout_ns);
    std::uint32_t tag;
    pthread_mutex_t mutex;  // guards everything below; recovered silently
    int parties;
    std::int64_t default_timeout_ns;  // negative: no default timeout
    std::atomic<int> count{0};        // arrivals in the current round
    std::atomic<std::uint32_t> is_broken{0};
    std::uint64_t generation = 0;  // rounds ended so far
    // Bit i tells whether round (generation - 1 - i) ended broken (reset,
    // abort, timeout) rather than complete: a late waiter learns how its own
    // round ended even if later rounds ended since.
    std::uint64_t history = 0;
    std::atomic<std::uint32_t> sequence{0};  // bumped when a round ends or breaks; the futex word
};

namespace {

constexpr std::uint32_t kLockTag = 0x4b434c54;       // "TLCK"
constexpr std::uint32_t kRlockTag = 0x4b4c5254;      // "TRLK"
constexpr std::uint32_t kSemaphoreTag = 0x4d455354;  // "TSEM"
constexpr std::uint32_t kEventTag = 0x54564554;      // "TEVT"
constexpr std::uint32_t kConditionTag = 0x444e4354;  // "TCND"
constexpr std::uint32_t kBarrierTag = 0x52524254;    // "TBRR"

// --- thread identity -------------------------------------------------------------
// Owners are kernel thread ids: unique across processes, unlike pthread_t.
// gettid() is a system call each time, so it is cached per thread; a forked
// child's only thread is the one that called fork(), whose cache the atfork
// handler clears because the child has a new id.

thread_local pid_t cached_tid = 0;

void forget_cached_tid() noexcept { cached_tid = 0; }

pid_t current_tid() noexcept {
    [[maybe_unused]] static const bool registered = (pthread_atfork(nullptr, nullptr, forget_cached_tid), true);
    if (cached_tid == 0) cached_tid = static_cast<pid_t>(::syscall(SYS_gettid));
    return cached_tid;
}

// --- placing states in regions ------------------------------------------------------

template <class State>
std::size_t footprint_of() noexcept {
    return align_up(sizeof(State), kObjectAlignment);
}

template <class State>
std::shared_ptr<SharedRegion> new_region(const char* label) {
    return std::make_shared<SharedRegion>(footprint_of<State>(), label);
}

template <class State, class... Args>
State* place(SharedRegion& region, std::size_t offset, Placement placement, std::uint32_t tag, const char* type,
             Args&&... args) {
    check_placement(region, offset, sizeof(State), alignof(State));
    void* address = region.data() + offset;
    if (placement == Placement::construct) return new (address) State(tag, std::forward<Args>(args)...);
    auto* state = std::launder(static_cast<State*>(address));
    if (state->tag != tag) {
        throw ValueError(std::string("the shared memory at this offset does not hold a multiprocessing.") + type);
    }
    return state;
}

void record_take(MutexState& state, Took took) noexcept {
    state.owner.store(current_tid(), std::memory_order_relaxed);
    if (took == Took::from_dead_owner) state.dead_owners.fetch_add(1, std::memory_order_relaxed);
    state.recovered.store(took == Took::from_dead_owner ? 1 : 0, std::memory_order_relaxed);
}

// Gives the mutex up; the caller checked that this thread holds it.
void unlock_owned(MutexState& state) {
    const pid_t owner = state.owner.exchange(0, std::memory_order_relaxed);
    const int rc = pthread_mutex_unlock(&state.mutex);
    if (rc != 0) {
        // Only a recycled thread id of a dead owner gets here: the mutex is
        // not really ours.
        state.owner.store(owner, std::memory_order_relaxed);
        throw RuntimeError("cannot release a lock held by another thread or process");
    }
}

// The gave_up bit of `ticket` (see ConditionState).
std::atomic<std::uint64_t>& gave_up_word(ConditionState& state, std::uint64_t ticket) noexcept {
    return state.gave_up[(ticket % kMaxConditionWaiters) / 64];
}
constexpr std::uint64_t gave_up_bit(std::uint64_t ticket) noexcept { return std::uint64_t{1} << (ticket % 64); }

// Passes the tickets at the front that gave up, clearing their bits for
// reuse; returns the new front. Called under the condition's lock.
std::uint64_t pass_gave_up(ConditionState& state, std::uint64_t front, std::uint64_t end) noexcept {
    while (front < end && (gave_up_word(state, front).load() & gave_up_bit(front))) {
        gave_up_word(state, front).fetch_and(~gave_up_bit(front));
        ++front;
    }
    return front;
}

}  // namespace

MutexState::MutexState(std::uint32_t tag_value) : tag(tag_value) { init_robust_mutex(mutex); }

BarrierState::BarrierState(std::uint32_t tag_value, int party_count, std::int64_t timeout_ns)
    : tag(tag_value), parties(party_count), default_timeout_ns(timeout_ns) {
    init_robust_mutex(mutex);
}

}  // namespace tandem::detail

namespace tandem::multiprocessing {

using detail::RobustMutexGuard;
using detail::Placement;
using detail::SharedRegion;
using detail::Took;

// --- Lock -------------------------------------------------------------------------

Lock::Lock() : Lock(detail::new_region<detail::MutexState>("tandem:Lock"), 0, Placement::construct) {}

Lock::Lock(std::shared_ptr<SharedRegion> region, std::size_t offset, Placement placement)
    : region_(std::move(region)), offset_(offset),
      state_(detail::place<detail::MutexState>(*region_, offset, placement, detail::kLockTag, "Lock")) {}

std::size_t Lock::footprint() noexcept { return detail::footprint_of<detail::MutexState>(); }

bool Lock::acquire_until(bool blocking, detail::Deadline deadline) {
    const Took took = detail::lock_robust(state_->mutex, blocking, deadline);
    if (took == Took::no) return false;
    detail::record_take(*state_, took);
    return true;
}

void Lock::release() {
    const pid_t owner = state_->owner.load(std::memory_order_relaxed);
    if (owner == 0) throw ValueError("semaphore or lock released too many times");
    if (owner != detail::current_tid()) {
        throw RuntimeError("cannot release a multiprocessing.Lock held by another thread or process");
    }
    detail::unlock_owned(*state_);
}

bool Lock::locked() const noexcept { return state_->owner.load(std::memory_order_relaxed) != 0; }

bool Lock::is_owned() const noexcept {
    return state_->owner.load(std::memory_order_relaxed) == detail::current_tid();
}

bool Lock::recovered_from_dead_owner() const noexcept {
    return state_->recovered.load(std::memory_order_relaxed) != 0;
}

std::uint64_t Lock::dead_owner_count() const noexcept {
    return state_->dead_owners.load(std::memory_order_relaxed);
}

// --- RLock ------------------------------------------------------------------------

RLock::RLock() : RLock(detail::new_region<detail::MutexState>("tandem:RLock"), 0, Placement::construct) {}

RLock::RLock(std::shared_ptr<SharedRegion> region, std::size_t offset, Placement placement)
    : region_(std::move(region)), offset_(offset),
      state_(detail::place<detail::MutexState>(*region_, offset, placement, detail::kRlockTag, "RLock")) {}

std::size_t RLock::footprint() noexcept { return detail::footprint_of<detail::MutexState>(); }

bool RLock::acquire_until(bool blocking, detail::Deadline deadline) {
    if (is_owned()) {
        ++state_->depth;
        return true;
    }
    const Took took = detail::lock_robust(state_->mutex, blocking, deadline);
    if (took == Took::no) return false;
    detail::record_take(*state_, took);
    state_->depth = 1;
    return true;
}

void RLock::release() {
    if (!is_owned()) throw RuntimeError("cannot release un-acquired lock");
    if (--state_->depth > 0) return;
    detail::unlock_owned(*state_);
}

unsigned RLock::release_all() {
    const unsigned depth = state_->depth;
    state_->depth = 0;
    detail::unlock_owned(*state_);
    return depth;
}

void RLock::restore(unsigned depth) {
    acquire();
    state_->depth = depth;
}

bool RLock::locked() const noexcept { return state_->owner.load(std::memory_order_relaxed) != 0; }

bool RLock::is_owned() const noexcept {
    return state_->owner.load(std::memory_order_relaxed) == detail::current_tid();
}

bool RLock::recovered_from_dead_owner() const noexcept {
    return state_->recovered.load(std::memory_order_relaxed) != 0;
}

std::uint64_t RLock::dead_owner_count() const noexcept {
    return state_->dead_owners.load(std::memory_order_relaxed);
}

// --- Semaphore ----------------------------------------------------------------------

namespace {

std::uint32_t checked_semaphore_value(long long value) {
    if (value < 0) throw ValueError("semaphore initial value must be >= 0");
    if (value > INT_MAX) throw ValueError("semaphore initial value must be <= INT_MAX");
    return static_cast<std::uint32_t>(value);
}

}  // namespace

Semaphore::Semaphore(long long value) : Semaphore(value, INT_MAX) {}

Semaphore::Semaphore(long long value, long long maximum)
    : region_(detail::new_region<detail::SemaphoreState>("tandem:Semaphore")),
      state_(detail::place<detail::SemaphoreState>(*region_, 0, Placement::construct, detail::kSemaphoreTag,
                                                   "Semaphore", checked_semaphore_value(value),
                                                   checked_semaphore_value(maximum))) {}

Semaphore::Semaphore(std::shared_ptr<SharedRegion> region, std::size_t offset, Placement placement)
    : region_(std::move(region)), offset_(offset),
      state_(detail::place<detail::SemaphoreState>(*region_, offset, placement, detail::kSemaphoreTag, "Semaphore",
                                                   std::uint32_t{0}, std::uint32_t{INT_MAX})) {}

std::size_t Semaphore::footprint() noexcept { return detail::footprint_of<detail::SemaphoreState>(); }

bool Semaphore::acquire_until(bool blocking, detail::Deadline deadline) {
    for (;;) {
        std::uint32_t count = state_->count.load();
        while (count > 0) {
            if (state_->count.compare_exchange_weak(count, count - 1)) return true;
        }
        if (!blocking || (deadline && detail::Clock::now() >= *deadline)) return false;
        // Announce the wait before the kernel re-checks the count, so that a
        // release() either sees a waiter or leaves a count the kernel sees.
        state_->waiters.fetch_add(1);
        detail::futex_wait(state_->count, 0, deadline, detail::FutexScope::shared);
        state_->waiters.fetch_sub(1);
    }
}

void Semaphore::release(long long n) {
    if (n < 1) throw ValueError("n must be one or more");
    std::uint32_t count = state_->count.load();
    do {
        if (n > static_cast<long long>(state_->maximum) - count) {
            throw ValueError("semaphore or lock released too many times");
        }
    } while (!state_->count.compare_exchange_weak(count, count + static_cast<std::uint32_t>(n)));
    if (state_->waiters.load() > 0) detail::futex_wake(state_->count, static_cast<int>(n), detail::FutexScope::shared);
}

long long Semaphore::get_value() const noexcept { return state_->count.load(std::memory_order_relaxed); }

// --- Event ----------------------------------------------------------------------------

Event::Event() : Event(detail::new_region<detail::EventState>("tandem:Event"), 0, Placement::construct) {}

Event::Event(std::shared_ptr<SharedRegion> region, std::size_t offset, Placement placement)
    : region_(std::move(region)), offset_(offset),
      state_(detail::place<detail::EventState>(*region_, offset, placement, detail::kEventTag, "Event")) {}

std::size_t Event::footprint() noexcept { return detail::footprint_of<detail::EventState>(); }

bool Event::is_set() const noexcept { return (state_->word.load() & 1u) != 0; }

void Event::set() {
    std::uint32_t word = state_->word.load();
    do {
        if ((word & 1u) != 0) return;
    } while (!state_->word.compare_exchange_weak(word, (word + 2u) | 1u));
    if (state_->waiters.load() > 0) detail::futex_wake(state_->word, INT_MAX, detail::FutexScope::shared);
}

void Event::clear() noexcept { state_->word.fetch_and(~1u); }

bool Event::wait_until(detail::Deadline deadline) {
    const std::uint32_t seen = state_->word.load();
    if ((seen & 1u) != 0) return true;
    state_->waiters.fetch_add(1);
    bool was_set = false;
    for (;;) {
        const bool in_time = detail::futex_wait(state_->word, seen, deadline, detail::FutexScope::shared);
        // Only set() changes the upper bits, and we slept with the flag clear,
        // so any change of them means a set() happened during the wait.
        if ((state_->word.load() >> 1) != (seen >> 1)) {
            was_set = true;
            break;
        }
        if (!in_time) break;
    }
    state_->waiters.fetch_sub(1);
    return was_set;
}

// --- Condition ------------------------------------------------------------------------

namespace {

// The default RLock lives in the condition's own region, after its state:
// one descriptor per condition instead of two.
std::size_t condition_lock_offset() noexcept { return detail::footprint_of<detail::ConditionState>(); }

}  // namespace

Condition::Condition()
    : lock_(RLock(std::make_shared<SharedRegion>(condition_lock_offset() + RLock::footprint(), "tandem:Condition"),
                  condition_lock_offset(), Placement::construct)),
      region_(std::get<RLock>(lock_).region_),
      state_(detail::place<detail::ConditionState>(*region_, 0, Placement::construct, detail::kConditionTag,
                                                   "Condition")) {}

Condition::Condition(Lock lock)
    : Condition(detail::new_region<detail::ConditionState>("tandem:Condition"), 0, Placement::construct,
                std::move(lock)) {}

Condition::Condition(RLock lock)
    : Condition(detail::new_region<detail::ConditionState>("tandem:Condition"), 0, Placement::construct,
                std::move(lock)) {}

Condition::Condition(std::shared_ptr<SharedRegion> region, std::size_t offset, Placement placement, AnyLock lock)
    : lock_(std::move(lock)), region_(std::move(region)), offset_(offset),
      state_(detail::place<detail::ConditionState>(*region_, offset, placement, detail::kConditionTag,
                                                   "Condition")) {}

std::size_t Condition::footprint() noexcept { return detail::footprint_of<detail::ConditionState>(); }

bool Condition::acquire(bool blocking) {
    return std::visit([&](auto& lock) { return lock.acquire(blocking); }, lock_);
}

void Condition::release() {
    std::visit([](auto& lock) { lock.release(); }, lock_);
}

bool Condition::is_owned() const noexcept {
    return std::visit([](const auto& lock) { return lock.is_owned(); }, lock_);
}

bool Condition::wait_until(detail::Deadline deadline) {
    if (!is_owned()) throw RuntimeError("cannot wait on un-acquired lock");
    detail::ConditionState& state = *state_;
    const std::uint64_t ticket = state.next_ticket.load();
    if (ticket - state.notified_below.load() >= detail::kMaxConditionWaiters) {
        throw RuntimeError("too many processes waiting on one Condition (at most " +
                           std::to_string(detail::kMaxConditionWaiters) + ")");
    }
    state.next_ticket.store(ticket + 1);  // under the lock, as notify() reads it
    unsigned depth = 1;
    if (auto* rlock = std::get_if<RLock>(&lock_)) {
        depth = rlock->release_all();
    } else {
        std::get<Lock>(lock_).release();
    }
    const auto notified = [&] { return ticket < state.notified_below.load(); };
    bool timed_out = false;
    for (;;) {
        // The sequence first: a notify() after this read changes it, so the
        // futex wait returns at once instead of missing it.
        const std::uint32_t sequence = state.sequence.load();
        if (notified()) break;
        if (deadline && detail::Clock::now() >= *deadline) {
            timed_out = true;
            break;
        }
        detail::futex_wait(state.sequence, sequence, deadline, detail::FutexScope::shared);
    }
    if (auto* rlock = std::get_if<RLock>(&lock_)) {
        rlock->restore(depth);
    } else {
        std::get<Lock>(lock_).acquire();
    }
    if (!timed_out || notified()) return true;  // a notify may land while we take the lock back
    // Gave up: under the lock again, so notify() cannot be choosing right now.
    detail::gave_up_word(state, ticket).fetch_or(detail::gave_up_bit(ticket));
    state.notified_below.store(detail::pass_gave_up(state, state.notified_below.load(), state.next_ticket.load()));
    return false;
}

void Condition::notify(int n) {
    if (!is_owned()) throw RuntimeError("cannot notify on un-acquired lock");
    detail::ConditionState& state = *state_;
    const std::uint64_t end = state.next_ticket.load();
    std::uint64_t next = detail::pass_gave_up(state, state.notified_below.load(), end);
    bool any = false;
    for (int left = n; left > 0 && next < end; --left) {
        ++next;  // the oldest waiting ticket
        any = true;
        next = detail::pass_gave_up(state, next, end);
    }
    state.notified_below.store(next);
    if (!any) return;
    state.sequence.fetch_add(1);
    // Every sleeper wakes and checks its own ticket: a futex cannot pick the
    // oldest n.
    detail::futex_wake(state.sequence, INT_MAX, detail::FutexScope::shared);
}

void Condition::notify_all() { notify(INT_MAX); }

// --- Barrier -----------------------------------------------------------------------------

namespace {

std::int64_t checked_parties_timeout(int parties, std::optional<std::chrono::nanoseconds> timeout) {
    if (parties < 1) throw ValueError("parties must be >= 1");
    if (!timeout) return -1;
    return std::max<std::int64_t>(timeout->count(), 0);
}

// Breaks the current round; the caller holds the internal mutex.
void break_round(detail::BarrierState& state) noexcept {
    state.is_broken.store(1);
    state.count.store(0);
    state.sequence.fetch_add(1);
    detail::futex_wake(state.sequence, INT_MAX, detail::FutexScope::shared);
}

// Ends the current round, completed or not; the caller holds the internal mutex.
void end_round(detail::BarrierState& state, bool broken) noexcept {
    ++state.generation;
    state.history = (state.history << 1) | (broken ? 1u : 0u);
    state.count.store(0);
    state.is_broken.store(0);
    state.sequence.fetch_add(1);
    detail::futex_wake(state.sequence, INT_MAX, detail::FutexScope::shared);
}

}  // namespace

Barrier::Barrier(int parties, std::function<void()> action, std::optional<std::chrono::nanoseconds> timeout)
    : action_(std::move(action)), region_(detail::new_region<detail::BarrierState>("tandem:Barrier")),
      state_(detail::place<detail::BarrierState>(*region_, 0, Placement::construct, detail::kBarrierTag, "Barrier",
                                                 parties, checked_parties_timeout(parties, timeout))) {}

Barrier::Barrier(std::shared_ptr<SharedRegion> region, std::size_t offset, Placement placement,
                 std::function<void()> action)
    : action_(std::move(action)), region_(std::move(region)), offset_(offset),
      state_(detail::place<detail::BarrierState>(*region_, offset, placement, detail::kBarrierTag, "Barrier", 1,
                                                 std::int64_t{-1})) {}

std::size_t Barrier::footprint() noexcept { return detail::footprint_of<detail::BarrierState>(); }

int Barrier::wait() {
    const std::int64_t timeout_ns = state_->default_timeout_ns;
    if (timeout_ns < 0) return wait_until(std::nullopt);
    return wait_until(detail::deadline_after(std::chrono::nanoseconds(timeout_ns)));
}

int Barrier::wait_until(detail::Deadline deadline) {
    auto& state = *state_;
    RobustMutexGuard guard(state.mutex);
    if (state.is_broken.load() != 0) throw BrokenBarrierError();
    const int index = state.count.load();
    state.count.store(index + 1);
    const std::uint64_t round = state.generation;

    if (index + 1 == state.parties) {
        if (action_) {
            try {
                action_();
            } catch (...) {
                break_round(state);
                throw;
            }
        }
        end_round(state, false);
        return index;
    }

    for (;;) {
        if (state.generation != round) {
            const std::uint64_t later_rounds = state.generation - 1 - round;
            const bool ended_broken = later_rounds >= 64 || ((state.history >> later_rounds) & 1u) != 0;
            if (ended_broken) throw BrokenBarrierError();
            return index;
        }
        if (state.is_broken.load() != 0) throw BrokenBarrierError();
        if (deadline && detail::Clock::now() >= *deadline) {
            break_round(state);
            throw BrokenBarrierError();
        }
        const std::uint32_t sequence = state.sequence.load();
        guard.unlock();
        detail::futex_wait(state.sequence, sequence, deadline, detail::FutexScope::shared);
        guard.lock();
    }
}

void Barrier::reset() {
    RobustMutexGuard guard(state_->mutex);
    if (state_->count.load() > 0 || state_->is_broken.load() != 0) end_round(*state_, true);
}

void Barrier::abort() {
    RobustMutexGuard guard(state_->mutex);
    break_round(*state_);
}

int Barrier::parties() const noexcept { return state_->parties; }

int Barrier::n_waiting() const noexcept { return state_->is_broken.load() != 0 ? 0 : state_->count.load(); }

bool Barrier::broken() const noexcept { return state_->is_broken.load() != 0; }

}  // namespace tandem::multiprocessing
