// tandem/multiprocessing/synchronize.hpp — Python's multiprocessing.Lock, RLock,
// Semaphore, BoundedSemaphore, Event, Condition and Barrier, living in shared
// memory so that they synchronise processes as well as threads.
//
// Each object is a handle to state in anonymous shared memory (a memfd, see
// detail/os/shared_region.hpp). Copies share the object, and a child created by
// fork() inherits it, just as Python objects passed to a child do. The method
// names, overloads and errors are those of tandem::threading's primitives.
//
//     tandem::multiprocessing::Lock lock;
//     tandem::multiprocessing::Value<long> counter(0);      // sharedctypes.hpp
//     if (fork() == 0) {                                       // or a multiprocessing::Process
//         std::lock_guard guard(lock);
//         counter.value(counter.value() + 1);
//         _exit(0);
//     }
//     if (lock.acquire(std::chrono::seconds(1))) {
//         if (lock.recovered_from_dead_owner()) { /* the child died holding it */ }
//         lock.release();
//     }
//
// A process that dies holding a lock does not deadlock the others. Lock and
// RLock are robust, process-shared pthread mutexes: when the owner dies the
// kernel hands the mutex to the next acquirer, whose acquire() succeeds; the
// lock is made consistent again and recovered_from_dead_owner() reports it
// (dead_owner_count() counts such recoveries), so the caller can repair the
// data the dead process may have left half-written. Barrier keeps its short
// internal critical sections under such a mutex too, and recovers it
// silently. Semaphore, Event and Condition's waiting are lock-free counters in
// shared memory with process-shared futexes, so there is no lock to die
// holding. Why not pthread condition variables: glibc's process-shared
// condvar counts its waiters in groups, and a waiter that dies inside
// pthread_cond_wait keeps a slot that can swallow a later signal.
//
// Behaviour, and where it differs from Python's multiprocessing:
// - Timeouts are std::chrono durations. As in Python's multiprocessing (whose
//   SemLock clamps), a zero or negative timeout means "try once without
//   waiting"; it never raises ValueError (threading.Lock would).
// - Lock.release() on an unlocked lock raises ValueError("semaphore or lock
//   released too many times"), as Python. Python lets any process release a
//   multiprocessing.Lock; tandem's lock knows its owner (that is how a dead
//   owner is detected), so release() from a thread that does not hold it
//   raises RuntimeError instead.
// - RLock.release() by a non-owner raises RuntimeError (Python raises
//   AssertionError).
// - Condition.wait()/notify() without holding the lock raise RuntimeError
//   (AssertionError in Python). notify() never blocks (Python's waits for the
//   woken processes to wake up, and hangs if one died). A process that dies
//   inside wait() leaves its slot behind, so a later notify_all() may wake one
//   later waiter spuriously: wait in a loop (wait_for) as with any condition.
// - Semaphore, BoundedSemaphore and Event have no owner: a process that dies
//   after acquire() does not give the count back (as in Python).
// - Barrier's action is a process-local callable, run by the process whose
//   wait() completes a generation (Python pickles it along with the barrier).
//   A waiter that died does not block later generations after reset().
//   A Barrier handed to a spawn or forkserver child arrives there without
//   an action.
// - Lock and RLock also have lock()/unlock()/try_lock(), so std::lock_guard,
//   std::unique_lock and std::scoped_lock work with them; so does Condition.
//
// Costs: each object holds one memfd descriptor and one page of shared memory
// (Python's named semaphores also cost a page each).
#pragma once

#include "tandem/detail/os/futex.hpp"          // detail::Deadline, detail::deadline_after
#include "tandem/detail/os/shared_region.hpp"  // detail::SharedRegion, the memory every object lives in
#include "tandem/detail/wire/handoff.hpp"      // detail::Handoff, so these objects can be Process arguments
#include "tandem/errors.hpp"                   // FrameError for a malformed handoff

#include <chrono>      // timeouts
#include <cstddef>     // std::size_t
#include <cstdint>     // std::uint64_t, std::uint8_t
#include <functional>  // std::function, Barrier's action
#include <memory>      // std::shared_ptr to the region
#include <optional>    // Barrier's default timeout
#include <utility>     // std::move
#include <variant>     // Condition's Lock or RLock

namespace tandem::detail {
struct MutexState;      // Lock and RLock
struct SemaphoreState;  // Semaphore and BoundedSemaphore
struct EventState;
struct ConditionState;
struct BarrierState;
}  // namespace tandem::detail

namespace tandem::multiprocessing {

class Condition;

/// multiprocessing.Lock: a non-recursive lock shared between processes.
/// Copies share the lock. Robust: see the header comment.
class Lock {
public:
    /// Creates an unlocked lock in new shared memory. Throws std::system_error
    /// if no shared memory can be had.
    Lock();

    /// Waits as long as it takes for the lock and takes it; returns true. With
    /// `blocking` false, takes it only if it is free, returning whether it did.
    /// Re-acquiring a lock the thread holds blocks forever, as in Python.
    bool acquire(bool blocking = true) { return acquire_until(blocking, std::nullopt); }
    /// Waits up to `timeout` for the lock: true if taken, false on timeout.
    template <class Rep, class Period>
    bool acquire(std::chrono::duration<Rep, Period> timeout) {
        return acquire_until(true, detail::deadline_after(timeout));
    }
    /// Releases the lock. Throws ValueError("semaphore or lock released too
    /// many times") if it is not locked, RuntimeError if another thread or
    /// process holds it.
    void release();
    /// True if some thread of some process holds the lock (stale at once).
    bool locked() const noexcept;

    /// True while the current holding of the lock began by taking it over from
    /// a thread or process that died holding it: the data it guards may be
    /// half-updated. Meaningful to the holder; false after a normal acquire.
    bool recovered_from_dead_owner() const noexcept;
    /// How many times, over the lock's life, an acquirer took it over from a
    /// dead owner.
    std::uint64_t dead_owner_count() const noexcept;

    /// acquire(), for std::lock_guard and friends.
    void lock() { acquire(); }
    /// release(), for std::lock_guard and friends.
    void unlock() { release(); }
    /// acquire(false), for std::unique_lock and friends.
    bool try_lock() { return acquire(false); }

private:
    friend struct detail::SharedObjectAccess;
    friend class Condition;
    Lock(std::shared_ptr<detail::SharedRegion> region, std::size_t offset, detail::Placement placement);
    static std::size_t footprint() noexcept;
    bool acquire_until(bool blocking, detail::Deadline deadline);
    bool is_owned() const noexcept;

    std::shared_ptr<detail::SharedRegion> region_;
    std::size_t offset_ = 0;
    detail::MutexState* state_ = nullptr;
};

/// multiprocessing.RLock: a recursive lock shared between processes; the
/// thread that holds it may acquire it again and must release it as often.
/// Copies share the lock. Robust: see the header comment.
class RLock {
public:
    /// Creates an unlocked lock in new shared memory. Throws std::system_error.
    RLock();

    /// Takes the lock (again, if this thread holds it), waiting as long as it
    /// takes; returns true. With `blocking` false, returns false at once if
    /// another thread holds it.
    bool acquire(bool blocking = true) { return acquire_until(blocking, std::nullopt); }
    /// Waits up to `timeout` for the lock: true if taken, false on timeout.
    template <class Rep, class Period>
    bool acquire(std::chrono::duration<Rep, Period> timeout) {
        return acquire_until(true, detail::deadline_after(timeout));
    }
    /// Undoes one acquire(); the lock is free once every acquire is undone.
    /// Throws RuntimeError("cannot release un-acquired lock") if this thread
    /// does not hold it.
    void release();
    /// True if some thread of some process holds the lock (stale at once).
    bool locked() const noexcept;

    /// As Lock::recovered_from_dead_owner().
    bool recovered_from_dead_owner() const noexcept;
    /// As Lock::dead_owner_count().
    std::uint64_t dead_owner_count() const noexcept;

    /// acquire(), for std::lock_guard and friends.
    void lock() { acquire(); }
    /// release(), for std::lock_guard and friends.
    void unlock() { release(); }
    /// acquire(false), for std::unique_lock and friends.
    bool try_lock() { return acquire(false); }

private:
    friend struct detail::SharedObjectAccess;
    friend class Condition;
    RLock(std::shared_ptr<detail::SharedRegion> region, std::size_t offset, detail::Placement placement);
    static std::size_t footprint() noexcept;
    bool acquire_until(bool blocking, detail::Deadline deadline);
    bool is_owned() const noexcept;
    // Condition::wait gives up every level of the lock and later restores them.
    unsigned release_all();
    void restore(unsigned count);

    std::shared_ptr<detail::SharedRegion> region_;
    std::size_t offset_ = 0;
    detail::MutexState* state_ = nullptr;
};

/// multiprocessing.Semaphore: a counter shared between processes; acquire()
/// takes one unit, waiting while there is none, release() gives units back.
/// Copies share the semaphore.
class Semaphore {
public:
    /// Creates a semaphore holding `value` units. Throws
    /// ValueError("semaphore initial value must be >= 0") if `value` < 0, or
    /// if it exceeds the largest count a futex holds (INT_MAX).
    explicit Semaphore(long long value = 1);

    /// Takes a unit, waiting as long as it takes; returns true. With
    /// `blocking` false, returns false at once if there is none.
    bool acquire(bool blocking = true) { return acquire_until(blocking, std::nullopt); }
    /// Waits up to `timeout` for a unit: true if taken, false on timeout.
    template <class Rep, class Period>
    bool acquire(std::chrono::duration<Rep, Period> timeout) {
        return acquire_until(true, detail::deadline_after(timeout));
    }
    /// Gives back `n` units, waking up to `n` waiters. Throws ValueError("n must
    /// be one or more") if `n` < 1, and ValueError("semaphore or lock released
    /// too many times") if the count would pass INT_MAX (or, for a
    /// BoundedSemaphore, its initial value); then nothing is released.
    void release(long long n = 1);
    /// The current count (Python's get_value(); stale at once).
    long long get_value() const noexcept;

    /// acquire(), for std::lock_guard and friends.
    void lock() { acquire(); }
    /// release(), for std::lock_guard and friends.
    void unlock() { release(); }
    /// acquire(false), for std::unique_lock and friends.
    bool try_lock() { return acquire(false); }

protected:
    Semaphore(long long value, long long maximum);
    Semaphore(std::shared_ptr<detail::SharedRegion> region, std::size_t offset, detail::Placement placement);

private:
    friend struct detail::SharedObjectAccess;
    static std::size_t footprint() noexcept;
    bool acquire_until(bool blocking, detail::Deadline deadline);

    std::shared_ptr<detail::SharedRegion> region_;
    std::size_t offset_ = 0;
    detail::SemaphoreState* state_ = nullptr;
};

/// multiprocessing.BoundedSemaphore: a Semaphore whose count may never exceed
/// its initial value; release() beyond it raises ValueError.
class BoundedSemaphore : public Semaphore {
public:
    /// Creates a semaphore holding, and bounded by, `value` units. Throws
    /// ValueError if `value` < 0 or > INT_MAX.
    explicit BoundedSemaphore(long long value = 1) : Semaphore(value, value) {}

private:
    friend struct detail::SharedObjectAccess;
    BoundedSemaphore(std::shared_ptr<detail::SharedRegion> region, std::size_t offset, detail::Placement placement)
        : Semaphore(std::move(region), offset, placement) {}
};

/// multiprocessing.Event: a flag shared between processes that threads and
/// processes can wait for. Copies share the event.
class Event {
public:
    /// Creates an event whose flag is clear. Throws std::system_error.
    Event();

    /// True if the flag is set.
    bool is_set() const noexcept;
    /// Sets the flag and wakes every waiter, in every process.
    void set();
    /// Clears the flag.
    void clear() noexcept;
    /// Waits as long as it takes for the flag; returns true.
    bool wait() { return wait_until(std::nullopt); }
    /// Waits up to `timeout` for the flag: true if it was set (a set() during
    /// the wait counts even if clear() followed), false on timeout.
    template <class Rep, class Period>
    bool wait(std::chrono::duration<Rep, Period> timeout) {
        return wait_until(detail::deadline_after(timeout));
    }

private:
    friend struct detail::SharedObjectAccess;
    Event(std::shared_ptr<detail::SharedRegion> region, std::size_t offset, detail::Placement placement);
    static std::size_t footprint() noexcept;
    bool wait_until(detail::Deadline deadline);

    std::shared_ptr<detail::SharedRegion> region_;
    std::size_t offset_ = 0;
    detail::EventState* state_ = nullptr;
};

/// multiprocessing.Condition: a condition variable shared between processes,
/// bound to a Lock or RLock (a new RLock by default, as Python). Copies share
/// the condition and its lock. notify(n) wakes the n processes (or threads)
/// that have waited longest, as threading.Condition does; one that starts
/// waiting after the notify is not woken by it. At most 4096 may wait at
/// once (RuntimeError beyond).
class Condition {
public:
    /// Creates a condition with a new RLock. Throws std::system_error.
    Condition();
    /// Creates a condition bound to `lock` (shared with the caller's handle).
    explicit Condition(Lock lock);
    /// Creates a condition bound to `lock` (shared with the caller's handle).
    explicit Condition(RLock lock);

    /// Acquires the underlying lock, as its acquire(blocking).
    bool acquire(bool blocking = true);
    /// Acquires the underlying lock within `timeout`, as its acquire(timeout).
    template <class Rep, class Period>
    bool acquire(std::chrono::duration<Rep, Period> timeout) {
        return std::visit([&](auto& lock) { return lock.acquire(timeout); }, lock_);
    }
    /// Releases the underlying lock, as its release().
    void release();
    /// acquire(), for std::lock_guard and friends.
    void lock() { acquire(); }
    /// release(), for std::lock_guard and friends.
    void unlock() { release(); }
    /// acquire(false), for std::unique_lock and friends.
    bool try_lock() { return acquire(false); }

    /// Releases the lock (every level of an RLock), waits for notify() or
    /// notify_all(), then re-acquires it. Throws RuntimeError("cannot wait on
    /// un-acquired lock") if the caller does not hold the lock.
    void wait() { wait_until(std::nullopt); }
    /// As wait(), giving up after `timeout`: true if notified, false on
    /// timeout. The lock is held again either way.
    template <class Rep, class Period>
    bool wait(std::chrono::duration<Rep, Period> timeout) {
        return wait_until(detail::deadline_after(timeout));
    }
    /// Waits until `predicate()` is true (checked under the lock, first
    /// before waiting at all); returns true.
    template <class Predicate>
    bool wait_for(Predicate predicate) {
        while (!predicate()) wait();
        return true;
    }
    /// As wait_for(predicate), giving up after `timeout`; returns the last
    /// value of the predicate.
    template <class Predicate, class Rep, class Period>
    bool wait_for(Predicate predicate, std::chrono::duration<Rep, Period> timeout) {
        const auto deadline = detail::deadline_after(timeout);
        bool result = predicate();
        while (!result && detail::Clock::now() < deadline) {
            wait_until(deadline);
            result = predicate();
        }
        return result;
    }
    /// Wakes up to `n` waiters (any process). Throws RuntimeError("cannot
    /// notify on un-acquired lock") if the caller does not hold the lock.
    void notify(int n = 1);
    /// Wakes every waiter. Same error as notify().
    void notify_all();

private:
    friend struct detail::SharedObjectAccess;
    friend struct detail::Handoff<Condition>;  // sends the lock along
    using AnyLock = std::variant<Lock, RLock>;
    Condition(std::shared_ptr<detail::SharedRegion> region, std::size_t offset, detail::Placement placement,
              AnyLock lock);
    static std::size_t footprint() noexcept;
    bool wait_until(detail::Deadline deadline);
    bool is_owned() const noexcept;

    AnyLock lock_;
    std::shared_ptr<detail::SharedRegion> region_;
    std::size_t offset_ = 0;
    detail::ConditionState* state_ = nullptr;
};

/// multiprocessing.Barrier: `parties` threads or processes wait() until all
/// of them have arrived, then all go on; it then serves the next round.
/// Copies share the barrier.
class Barrier {
public:
    /// Creates a barrier for `parties` waiters. `action`, if given, runs in the
    /// process whose wait() completes a round, before anyone is released.
    /// `timeout` is the default for wait(). Throws ValueError("parties must
    /// be >= 1") if `parties` < 1.
    explicit Barrier(int parties, std::function<void()> action = {},
                     std::optional<std::chrono::nanoseconds> timeout = std::nullopt);

    /// Waits (up to the default timeout, if any) until `parties` waiters
    /// arrived; returns this waiter's arrival index, 0 to parties()-1. Throws
    /// BrokenBarrierError if the barrier is or gets broken (abort(), reset(),
    /// a timeout, an action that threw); a waiter that times out breaks it.
    /// The exception an action throws propagates from the wait() that ran it.
    int wait();
    /// As wait(), with `timeout` instead of the default.
    template <class Rep, class Period>
    int wait(std::chrono::duration<Rep, Period> timeout) {
        return wait_until(detail::deadline_after(timeout));
    }
    /// Returns the barrier to its fresh state; current waiters get
    /// BrokenBarrierError.
    void reset();
    /// Breaks the barrier: current and future wait() calls throw
    /// BrokenBarrierError until reset().
    void abort();
    /// The number of waiters needed to pass.
    int parties() const noexcept;
    /// How many wait in the current round (stale at once).
    int n_waiting() const noexcept;
    /// True if the barrier is broken.
    bool broken() const noexcept;

private:
    friend struct detail::SharedObjectAccess;
    Barrier(std::shared_ptr<detail::SharedRegion> region, std::size_t offset, detail::Placement placement,
            std::function<void()> action);
    static std::size_t footprint() noexcept;
    int wait_until(detail::Deadline deadline);

    std::function<void()> action_;
    std::shared_ptr<detail::SharedRegion> region_;
    std::size_t offset_ = 0;
    detail::BarrierState* state_ = nullptr;
};

}  // namespace tandem::multiprocessing

namespace tandem::detail {

// --- handing the objects to spawn and forkserver children ----------------------
// An object travels as its region's memfd (the receiver maps its own
// duplicate), the region's size and the object's offset in it; the receiver
// attaches to the state found there, whose type tag is checked. A forked
// child needs none of this: it inherits the mapping.

/// Sends the region that holds a shared object: its memfd and size.
inline void send_region(HandoffWriter& out, const SharedRegion& region) {
    out.write_fd(region.fd());
    out.write(region.size());
}

/// Maps a region sent by send_region. Throws FrameError for a malformed
/// message, ValueError if the memory is smaller than announced.
inline std::shared_ptr<SharedRegion> receive_region(HandoffReader& in) {
    UniqueFd fd = in.take_fd();
    const auto size = in.read<std::size_t>();
    return std::make_shared<SharedRegion>(SharedRegion::from_fd(fd.release(), size));
}

/// Sends a shared object: its region, then its offset.
template <class Object>
void send_placed(HandoffWriter& out, const Object& object) {
    send_region(out, *SharedObjectAccess::region(object));
    out.write(SharedObjectAccess::offset(object));
}

/// Attaches to an object sent by send_placed; `extra` follows the placement
/// in the object's private constructor.
template <class Object, class... Extra>
Object receive_placed(HandoffReader& in, Extra&&... extra) {
    auto region = receive_region(in);
    const auto offset = in.read<std::size_t>();
    return SharedObjectAccess::make<Object>(std::move(region), offset, Placement::attach,
                                            std::forward<Extra>(extra)...);
}

/// Sends an object that often lives in the region just sent (`previous`),
/// as a default lock does beside its Condition or Value: then only its
/// offset travels, and the receiver maps one region instead of two.
template <class Object>
void send_placed_after(HandoffWriter& out, const Object& object, const std::shared_ptr<SharedRegion>& previous) {
    const auto& region = SharedObjectAccess::region(object);
    const std::uint8_t same = region == previous ? 1 : 0;
    out.write(same);
    if (same == 0) send_region(out, *region);
    out.write(SharedObjectAccess::offset(object));
}

/// Attaches to an object sent by send_placed_after with the same `previous`.
template <class Object>
Object receive_placed_after(HandoffReader& in, const std::shared_ptr<SharedRegion>& previous) {
    const auto same = in.read<std::uint8_t>();
    if (same > 1) throw FrameError("handoff: malformed shared object");
    auto region = same != 0 ? previous : receive_region(in);
    const auto offset = in.read<std::size_t>();
    return SharedObjectAccess::make<Object>(std::move(region), offset, Placement::attach);
}

/// Handoff for an object that is its region and offset and nothing else.
template <class Object>
struct PlacedHandoff {
    static void send(HandoffWriter& out, const Object& object) { send_placed(out, object); }
    static Object receive(HandoffReader& in) { return receive_placed<Object>(in); }
};

template <>
struct Handoff<multiprocessing::Lock> : PlacedHandoff<multiprocessing::Lock> {};
template <>
struct Handoff<multiprocessing::RLock> : PlacedHandoff<multiprocessing::RLock> {};
template <>
struct Handoff<multiprocessing::Semaphore> : PlacedHandoff<multiprocessing::Semaphore> {};
template <>
struct Handoff<multiprocessing::BoundedSemaphore> : PlacedHandoff<multiprocessing::BoundedSemaphore> {};
template <>
struct Handoff<multiprocessing::Event> : PlacedHandoff<multiprocessing::Event> {};

/// The receiver's Barrier has no action (see the header comment).
template <>
struct Handoff<multiprocessing::Barrier> {
    static void send(HandoffWriter& out, const multiprocessing::Barrier& barrier) { send_placed(out, barrier); }
    static multiprocessing::Barrier receive(HandoffReader& in) {
        return receive_placed<multiprocessing::Barrier>(in, std::function<void()>{});
    }
};

/// A Condition travels with its Lock or RLock.
template <>
struct Handoff<multiprocessing::Condition> {
    static void send(HandoffWriter& out, const multiprocessing::Condition& condition) {
        const auto& lock = condition.lock_;
        out.write(static_cast<std::uint8_t>(lock.index()));
        send_placed(out, condition);
        std::visit([&](const auto& held) { send_placed_after(out, held, SharedObjectAccess::region(condition)); },
                   lock);
    }
    static multiprocessing::Condition receive(HandoffReader& in) {
        const auto kind = in.read<std::uint8_t>();
        if (kind > 1) throw FrameError("handoff: malformed Condition");
        auto region = receive_region(in);
        const auto offset = in.read<std::size_t>();
        multiprocessing::Condition::AnyLock lock =
            kind == 0 ? multiprocessing::Condition::AnyLock(receive_placed_after<multiprocessing::Lock>(in, region))
                      : multiprocessing::Condition::AnyLock(receive_placed_after<multiprocessing::RLock>(in, region));
        return SharedObjectAccess::make<multiprocessing::Condition>(std::move(region), offset, Placement::attach,
                                                                    std::move(lock));
    }
};

}  // namespace tandem::detail
