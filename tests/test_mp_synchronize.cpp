// Tests for tandem/multiprocessing/synchronize.hpp: Python's multiprocessing
// Lock, RLock, Semaphore, BoundedSemaphore, Event, Condition and Barrier, across
// real processes made with fork() (ported from CPython's _test_multiprocessing
// and lock_tests), plus what Python lacks: a holder that dies does not deadlock.
#include "tandem/multiprocessing/synchronize.hpp"

#include "support/gate.hpp"                         // eventually
#include "tandem/errors.hpp"                        // ValueError, RuntimeError, BrokenBarrierError
#include "tandem/multiprocessing/sharedctypes.hpp"  // RawValue, RawArray: shared counters for the children

#include <gtest/gtest.h>  // TEST, EXPECT_*

#include "support/child_process.hpp"  // fork_child, join_child, open_fd_count

#include <atomic>         // std::atomic_ref on shared counters
#include <cerrno>         // errno
#include <chrono>         // timeouts
#include <csignal>        // SIGKILL
#include <cstring>        // std::strerror
#include <fstream>        // /proc/PID/syscall
#include <mutex>          // std::lock_guard, std::unique_lock
#include <poll.h>         // poll, for the pipe signal
#include <sched.h>        // sched_yield
#include <string>         // /proc paths
#include <sys/syscall.h>  // SYS_futex
#include <sys/wait.h>     // waitpid
#include <thread>         // std::thread, sleep_for
#include <unistd.h>       // fork, _exit, pipe
#include <vector>         // children

using namespace std::chrono_literals;
namespace mp = tandem::multiprocessing;

namespace {

using tandem_test::fork_child;
using tandem_test::join_child;

constexpr auto long_wait = 10s;  // for waits that should succeed: a bug fails instead of hanging

// A one-way signal between processes that involves none of the code under test.
class Signal {
public:
    Signal() {
        if (::pipe(ends_) != 0) ADD_FAILURE() << "pipe: " << std::strerror(errno);
    }
    ~Signal() {
        ::close(ends_[0]);
        ::close(ends_[1]);
    }
    Signal(const Signal&) = delete;
    Signal& operator=(const Signal&) = delete;
    void raise() const { [[maybe_unused]] const auto written = ::write(ends_[1], "x", 1); }
    // True if raised within `timeout`.
    bool await(std::chrono::milliseconds timeout) const {
        pollfd entry{ends_[0], POLLIN, 0};
        if (::poll(&entry, 1, static_cast<int>(timeout.count())) != 1) return false;
        char byte = 0;
        return ::read(ends_[0], &byte, 1) == 1;
    }

private:
    int ends_[2] = {-1, -1};
};

using tandem_test::eventually;

// True while the single-threaded process `pid` sleeps in a futex wait, i.e.
// it has reached the blocking call under test (read from /proc/PID/syscall).
bool blocked_in_futex(pid_t pid) {
    std::ifstream file("/proc/" + std::to_string(pid) + "/syscall");
    long number = -1;
    file >> number;
#if defined(__SANITIZE_THREAD__)
    // Under ThreadSanitizer a timed Lock.acquire() polls with trylock and
    // sleeps between tries (see timed_lock in src/multiprocessing/synchronize.cpp).
    if (number == SYS_nanosleep || number == SYS_clock_nanosleep) return true;
#endif
    return number == SYS_futex;
}

int load(int& shared) { return std::atomic_ref<int>(shared).load(); }
void add(int& shared, int n) { std::atomic_ref<int>(shared).fetch_add(n); }

}  // namespace

// ============================== Lock ==========================================

// multiprocessing: Lock.acquire() returns True, release() frees it; a non-blocking acquire of a held lock returns False.
TEST(MpLock, AcquireRelease) {
    mp::Lock lock;
    EXPECT_FALSE(lock.locked());
    EXPECT_TRUE(lock.acquire());
    EXPECT_TRUE(lock.locked());
    EXPECT_FALSE(lock.acquire(false));  // not recursive
    EXPECT_FALSE(lock.acquire(10ms));   // the owner waits like anyone else
    lock.release();
    EXPECT_FALSE(lock.locked());
    EXPECT_TRUE(lock.acquire(false));
    lock.release();
}

// multiprocessing: Lock.release() on an unlocked lock raises ValueError('semaphore or lock released too many times').
TEST(MpLock, ReleaseUnlockedRaisesValueError) {
    mp::Lock lock;
    try {
        lock.release();
        FAIL() << "release() of an unlocked lock did not throw";
    } catch (const tandem::ValueError& error) {
        EXPECT_STREQ(error.what(), "semaphore or lock released too many times");
    }
}

// tandem difference: Python lets another thread release a multiprocessing.Lock; tandem's owned lock raises RuntimeError.
TEST(MpLock, ReleaseByAnotherThreadRaisesRuntimeError) {
    mp::Lock lock;
    lock.acquire();
    std::thread other([&] { EXPECT_THROW(lock.release(), tandem::RuntimeError); });
    other.join();
    EXPECT_TRUE(lock.locked());
    lock.release();
}

// multiprocessing: a negative timeout is clamped to zero: one attempt, no ValueError (unlike threading.Lock).
TEST(MpLock, NegativeTimeoutTriesOnce) {
    mp::Lock lock;
    EXPECT_TRUE(lock.acquire(-1s));
    EXPECT_FALSE(lock.acquire(-1s));
    lock.release();
}

// threading: a lock works with the with-statement (here std::lock_guard / std::unique_lock); copies share the lock.
TEST(MpLock, LockableAndCopiesShare) {
    mp::Lock lock;
    mp::Lock copy = lock;
    {
        std::lock_guard guard(lock);
        EXPECT_TRUE(copy.locked());
        std::unique_lock attempt(copy, std::try_to_lock);
        EXPECT_FALSE(attempt.owns_lock());
    }
    EXPECT_FALSE(copy.locked());
}

// multiprocessing: a Lock held by the parent is held in the child: the child's timed acquire times out.
TEST(MpLock, HeldInParentTimesOutInChild) {
    mp::Lock lock;
    lock.acquire();
    const pid_t child = fork_child([&] {
        if (lock.acquire(false)) return 1;
        const auto start = std::chrono::steady_clock::now();
        if (lock.acquire(50ms)) return 2;
        return std::chrono::steady_clock::now() - start >= 50ms ? 0 : 3;
    });
    EXPECT_EQ(join_child(child), 0);
    lock.release();
}

// multiprocessing: N processes x M increments of a shared counter under a Lock give the exact total.
TEST(MpLock, MutualExclusionAcrossProcesses) {
    constexpr int processes = 4;
    constexpr int increments = 2000;
    mp::Lock lock;
    mp::RawValue<long> counter(0);
    std::vector<pid_t> children;
    for (int p = 0; p < processes; ++p) {
        children.push_back(fork_child([&] {
            for (int i = 0; i < increments; ++i) {
                std::lock_guard guard(lock);
                const long seen = counter.value();
                if (i % 64 == 0) sched_yield();  // widen the race window a lock must close
                counter.value(seen + 1);
            }
            return 0;
        }));
    }
    for (const pid_t child : children) EXPECT_EQ(join_child(child), 0);
    EXPECT_EQ(counter.value(), long{processes} * increments);
}

// threading: a Lock excludes threads too.
TEST(MpLock, MutualExclusionAcrossThreads) {
    mp::Lock lock;
    long counter = 0;
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&] {
            for (int i = 0; i < 1000; ++i) {
                if (i % 2 == 0) {
                    std::lock_guard guard(lock);
                    ++counter;
                } else {
                    ASSERT_TRUE(lock.acquire(long_wait));
                    ++counter;
                    lock.release();
                }
            }
        });
    }
    for (auto& thread : threads) thread.join();
    EXPECT_EQ(counter, 4000);
}

// tandem (Python deadlocks here): a child that exits holding the Lock does not deadlock the parent; the recovery is reported.
TEST(MpLock, HolderThatExitsIsRecovered) {
    mp::Lock lock;
    const pid_t child = fork_child([&] {
        lock.acquire();
        return 0;  // exits holding the lock
    });
    ASSERT_EQ(join_child(child), 0);
    EXPECT_TRUE(lock.locked());
    ASSERT_TRUE(lock.acquire(long_wait));
    EXPECT_TRUE(lock.recovered_from_dead_owner());
    EXPECT_EQ(lock.dead_owner_count(), 1u);
    lock.release();
    ASSERT_TRUE(lock.acquire(long_wait));
    EXPECT_FALSE(lock.recovered_from_dead_owner());  // a normal hand-over
    EXPECT_EQ(lock.dead_owner_count(), 1u);
    lock.release();
}

// tandem: a holder killed by SIGKILL hands the Lock to a process already blocked in acquire().
TEST(MpLock, HolderKilledWakesBlockedWaiter) {
    mp::Lock lock;
    Signal holding;
    Signal waiting;
    const pid_t holder = fork_child([&]() -> int {
        lock.acquire();
        holding.raise();
        for (;;) ::pause();
    });
    ASSERT_TRUE(holding.await(long_wait));
    EXPECT_FALSE(lock.acquire(20ms));  // really held
    const pid_t waiter = fork_child([&] {
        waiting.raise();
        if (!lock.acquire(long_wait)) return 1;
        if (!lock.recovered_from_dead_owner()) return 2;
        lock.release();
        return 0;
    });
    ASSERT_TRUE(waiting.await(long_wait));
    ASSERT_TRUE(eventually([&] { return blocked_in_futex(waiter); }));
    ::kill(holder, SIGKILL);
    EXPECT_EQ(join_child(holder), -SIGKILL);
    EXPECT_EQ(join_child(waiter), 0);
    EXPECT_EQ(lock.dead_owner_count(), 1u);
    EXPECT_FALSE(lock.locked());
}

// tandem: a thread that exits holding the Lock is a dead owner too.
TEST(MpLock, HolderThreadThatExitsIsRecovered) {
    mp::Lock lock;
    std::thread([&] { lock.acquire(); }).join();
    ASSERT_TRUE(lock.acquire(long_wait));
    EXPECT_TRUE(lock.recovered_from_dead_owner());
    lock.release();
}

// tandem internals: a Lock re-attached from its descriptor (as a spawned process would) is the same lock.
TEST(MpLock, AttachFromDescriptor) {
    using Access = tandem::detail::SharedObjectAccess;
    mp::Lock lock;
    const auto& region = Access::region(lock);
    auto attached_region = std::make_shared<tandem::detail::SharedRegion>(
        tandem::detail::SharedRegion::from_fd(::dup(region->fd()), region->size()));
    ASSERT_NE(attached_region->data(), region->data());  // a second mapping, as in another process
    auto attached = Access::make<mp::Lock>(attached_region, Access::offset(lock), tandem::detail::Placement::attach);
    lock.acquire();
    EXPECT_TRUE(attached.locked());
    EXPECT_FALSE(attached.acquire(false));
    lock.release();
    EXPECT_TRUE(attached.acquire(false));
    attached.release();
    // The wrong type at that offset is refused rather than misread.
    EXPECT_THROW(Access::make<mp::Event>(attached_region, std::size_t{0}, tandem::detail::Placement::attach),
                 tandem::ValueError);
    EXPECT_THROW(Access::make<mp::Lock>(attached_region, std::size_t{4096}, tandem::detail::Placement::attach),
                 tandem::ValueError);
}

// ============================== RLock =========================================

// multiprocessing: an RLock is re-entrant and must be released as often as acquired.
TEST(MpRLock, Recursion) {
    mp::RLock lock;
    EXPECT_TRUE(lock.acquire());
    EXPECT_TRUE(lock.acquire());
    EXPECT_TRUE(lock.acquire(false));
    EXPECT_TRUE(lock.acquire(1ms));
    for (int i = 0; i < 4; ++i) {
        EXPECT_TRUE(lock.locked());
        lock.release();
    }
    EXPECT_FALSE(lock.locked());
    EXPECT_THROW(lock.release(), tandem::RuntimeError);
}

// multiprocessing: RLock.release() by a thread that does not own it fails (AssertionError in Python, RuntimeError here).
TEST(MpRLock, ReleaseByNonOwnerRaises) {
    mp::RLock lock;
    EXPECT_THROW(lock.release(), tandem::RuntimeError);
    lock.acquire();
    std::thread other([&] {
        EXPECT_THROW(lock.release(), tandem::RuntimeError);
        EXPECT_FALSE(lock.acquire(false));
    });
    other.join();
    lock.release();
}

// multiprocessing: a child does not own the RLock its parent holds; it cannot take it.
TEST(MpRLock, ChildDoesNotInheritOwnership) {
    mp::RLock lock;
    lock.acquire();
    const pid_t child = fork_child([&] {
        if (lock.acquire(false)) return 1;
        try {
            lock.release();
            return 2;
        } catch (const tandem::RuntimeError&) {
            return 0;
        }
    });
    EXPECT_EQ(join_child(child), 0);
    lock.release();
}

// tandem: a child that dies holding an RLock three levels deep hands it over at depth one.
TEST(MpRLock, DeadHolderRecoveredAtDepthOne) {
    mp::RLock lock;
    const pid_t child = fork_child([&] {
        lock.acquire();
        lock.acquire();
        lock.acquire();
        ::raise(SIGKILL);
        return 1;
    });
    ASSERT_EQ(join_child(child), -SIGKILL);
    ASSERT_TRUE(lock.acquire(long_wait));
    EXPECT_TRUE(lock.recovered_from_dead_owner());
    EXPECT_EQ(lock.dead_owner_count(), 1u);
    lock.release();
    EXPECT_FALSE(lock.locked());
}

// multiprocessing: an RLock excludes other processes while held, at any depth.
TEST(MpRLock, MutualExclusionAcrossProcesses) {
    mp::RLock lock;
    mp::RawValue<long> counter(0);
    std::vector<pid_t> children;
    for (int p = 0; p < 3; ++p) {
        children.push_back(fork_child([&] {
            for (int i = 0; i < 1000; ++i) {
                std::lock_guard outer(lock);
                std::lock_guard inner(lock);
                counter.value(counter.value() + 1);
            }
            return 0;
        }));
    }
    for (const pid_t child : children) EXPECT_EQ(join_child(child), 0);
    EXPECT_EQ(counter.value(), 3000);
}

// ============================== Semaphore =====================================

// multiprocessing: Semaphore counts; get_value() reports the count; a non-blocking acquire at zero returns False.
TEST(MpSemaphore, Counting) {
    mp::Semaphore semaphore(2);
    EXPECT_EQ(semaphore.get_value(), 2);
    EXPECT_TRUE(semaphore.acquire());
    EXPECT_TRUE(semaphore.acquire(false));
    EXPECT_EQ(semaphore.get_value(), 0);
    EXPECT_FALSE(semaphore.acquire(false));
    EXPECT_FALSE(semaphore.acquire(10ms));
    semaphore.release();
    semaphore.release(3);
    EXPECT_EQ(semaphore.get_value(), 4);
    EXPECT_EQ(mp::Semaphore().get_value(), 1);
}

// threading/multiprocessing: a negative initial value or release(n < 1) raises ValueError.
TEST(MpSemaphore, BadArgumentsRaise) {
    EXPECT_THROW(mp::Semaphore(-1), tandem::ValueError);
    EXPECT_THROW(mp::BoundedSemaphore(-1), tandem::ValueError);
    mp::Semaphore semaphore(0);
    EXPECT_THROW(semaphore.release(0), tandem::ValueError);
    EXPECT_EQ(semaphore.get_value(), 0);
}

// multiprocessing: BoundedSemaphore.release() past the initial value raises ValueError and changes nothing.
TEST(MpSemaphore, BoundedReleaseTooMany) {
    mp::BoundedSemaphore semaphore(2);
    EXPECT_THROW(semaphore.release(), tandem::ValueError);
    semaphore.acquire();
    EXPECT_THROW(semaphore.release(2), tandem::ValueError);
    EXPECT_EQ(semaphore.get_value(), 1);
    semaphore.release();
    EXPECT_EQ(semaphore.get_value(), 2);
}

// multiprocessing: releases made by several children are all counted by the parent.
TEST(MpSemaphore, ReleasesFromChildrenAreCounted) {
    mp::Semaphore semaphore(0);
    std::vector<pid_t> children;
    for (int p = 0; p < 3; ++p) {
        children.push_back(fork_child([&] {
            semaphore.release();
            return 0;
        }));
    }
    for (int i = 0; i < 3; ++i) EXPECT_TRUE(semaphore.acquire(long_wait));
    EXPECT_FALSE(semaphore.acquire(false));
    for (const pid_t child : children) EXPECT_EQ(join_child(child), 0);
}

// multiprocessing: a release in the parent wakes a child blocked in acquire().
TEST(MpSemaphore, ReleaseWakesBlockedChild) {
    mp::Semaphore semaphore(0);
    Signal waiting;
    const pid_t child = fork_child([&] {
        waiting.raise();
        return semaphore.acquire(long_wait) ? 0 : 1;
    });
    ASSERT_TRUE(waiting.await(long_wait));
    ASSERT_TRUE(eventually([&] { return blocked_in_futex(child); }));
    semaphore.release();
    EXPECT_EQ(join_child(child), 0);
    EXPECT_EQ(semaphore.get_value(), 0);
}

// multiprocessing: a Semaphore(2) never lets more than two processes in at once.
TEST(MpSemaphore, LimitsConcurrencyAcrossProcesses) {
    mp::Semaphore semaphore(2);
    mp::RawArray<int> inside(2);  // [0] now inside, [1] most ever inside
    std::vector<pid_t> children;
    for (int p = 0; p < 4; ++p) {
        children.push_back(fork_child([&] {
            for (int i = 0; i < 200; ++i) {
                if (!semaphore.acquire(long_wait)) return 1;
                const int now = std::atomic_ref<int>(inside[0]).fetch_add(1) + 1;
                int most = load(inside[1]);
                while (now > most && !std::atomic_ref<int>(inside[1]).compare_exchange_weak(most, now)) {
                }
                sched_yield();
                add(inside[0], -1);
                semaphore.release();
            }
            return 0;
        }));
    }
    for (const pid_t child : children) EXPECT_EQ(join_child(child), 0);
    EXPECT_EQ(load(inside[0]), 0);
    EXPECT_LE(load(inside[1]), 2);
    EXPECT_GE(load(inside[1]), 1);
    EXPECT_EQ(semaphore.get_value(), 2);
}

// ============================== Event =========================================

// multiprocessing: Event starts clear; set()/clear()/is_set(); wait() on a set event returns True at once, on a clear one False after the timeout.
TEST(MpEvent, SetClearWait) {
    mp::Event event;
    EXPECT_FALSE(event.is_set());
    const auto start = std::chrono::steady_clock::now();
    EXPECT_FALSE(event.wait(30ms));
    EXPECT_GE(std::chrono::steady_clock::now() - start, 30ms);
    EXPECT_FALSE(event.wait(-1s));
    event.set();
    EXPECT_TRUE(event.is_set());
    EXPECT_TRUE(event.wait());
    EXPECT_TRUE(event.wait(0s));
    event.set();  // setting twice is harmless
    event.clear();
    EXPECT_FALSE(event.is_set());
    EXPECT_FALSE(event.wait(0s));
}

// multiprocessing: an Event set in a child wakes the parent's wait().
TEST(MpEvent, SetInChildWakesParent) {
    mp::Event event;
    Signal go;
    const pid_t child = fork_child([&] {
        if (!go.await(long_wait)) return 1;
        event.set();
        return 0;
    });
    go.raise();
    EXPECT_TRUE(event.wait(long_wait));
    EXPECT_EQ(join_child(child), 0);
}

// threading (bpo-13502): wait() returns True when set() happened during the wait, even if clear() followed before the waiter ran.
TEST(MpEvent, SetThenClearStillWakesWaiters) {
    mp::Event event;
    std::vector<pid_t> children;
    for (int p = 0; p < 3; ++p) {
        children.push_back(fork_child([&] { return event.wait(long_wait) ? 0 : 1; }));
    }
    for (const pid_t child : children) ASSERT_TRUE(eventually([&] { return blocked_in_futex(child); }));
    event.set();
    event.clear();
    for (const pid_t child : children) EXPECT_EQ(join_child(child), 0) << "a waiter missed a set() followed by clear()";
    EXPECT_FALSE(event.is_set());
}

// threading: Event wakes every waiting thread.
TEST(MpEvent, WakesAllThreads) {
    mp::Event event;
    std::atomic<int> woken{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&] {
            if (event.wait(long_wait)) woken.fetch_add(1);
        });
    }
    event.set();
    for (auto& thread : threads) thread.join();
    EXPECT_EQ(woken.load(), 4);
}

// ============================== Condition =====================================

// multiprocessing: wait() and notify() without holding the lock fail (AssertionError in Python, RuntimeError here).
TEST(MpCondition, RequiresTheLock) {
    mp::Condition condition;
    EXPECT_THROW(condition.wait(), tandem::RuntimeError);
    EXPECT_THROW(condition.wait(1ms), tandem::RuntimeError);
    EXPECT_THROW(condition.notify(), tandem::RuntimeError);
    EXPECT_THROW(condition.notify_all(), tandem::RuntimeError);
    std::lock_guard guard(condition);
    EXPECT_NO_THROW(condition.notify());
}

// multiprocessing: wait(timeout) with nobody notifying returns False after the timeout, holding the lock again.
TEST(MpCondition, WaitTimesOut) {
    mp::Condition condition(mp::Lock{});
    condition.acquire();
    const auto start = std::chrono::steady_clock::now();
    EXPECT_FALSE(condition.wait(30ms));
    EXPECT_GE(std::chrono::steady_clock::now() - start, 30ms);
    EXPECT_FALSE(condition.wait_for([] { return false; }, 20ms));
    EXPECT_TRUE(condition.wait_for([] { return true; }, 0ms));
    condition.release();  // held again after each wait
    EXPECT_THROW(condition.release(), tandem::ValueError);
}

// multiprocessing: wait() releases every level of an RLock, so another process can take it, and restores them.
TEST(MpCondition, WaitReleasesRLockFully) {
    mp::RLock lock;
    mp::Condition condition(lock);
    mp::RawValue<int> flag(0);
    Signal go;
    const pid_t child = fork_child([&] {
        if (!go.await(long_wait)) return 3;
        if (!condition.acquire(long_wait)) return 1;  // only possible if the parent's wait released both levels
        flag.value(1);
        condition.notify();
        condition.release();
        return 0;
    });
    lock.acquire();
    lock.acquire();
    go.raise();
    EXPECT_TRUE(condition.wait_for([&] { return flag.value() == 1; }, long_wait));
    EXPECT_EQ(join_child(child), 0);
    lock.release();
    EXPECT_TRUE(lock.locked());  // still one level held
    lock.release();
    EXPECT_FALSE(lock.locked());
}

// multiprocessing: notify() from the parent wakes a child waiting for a predicate.
TEST(MpCondition, NotifyAcrossProcesses) {
    mp::Condition condition;
    mp::RawValue<int> state(0);
    const pid_t child = fork_child([&] {
        std::unique_lock guard(condition);
        if (!condition.wait_for([&] { return state.value() == 1; }, long_wait)) return 1;
        state.value(2);
        condition.notify();
        return 0;
    });
    {
        std::unique_lock guard(condition);
        state.value(1);
        condition.notify();
        EXPECT_TRUE(condition.wait_for([&] { return state.value() == 2; }, long_wait));
    }
    EXPECT_EQ(join_child(child), 0);
}

// threading.Condition.notify wakes a process that is already waiting; one that starts waiting
// afterwards does not take that notification (counting notifications would let it, and the
// first waiter would sleep on).
TEST(MpCondition, ALateWaiterDoesNotTakeAnEarlierNotification) {
    mp::Condition condition;
    mp::RawValue<int> waiting(0);
    const pid_t child = fork_child([&] {
        std::unique_lock guard(condition);
        waiting.value(1);
        return condition.wait(long_wait) ? 0 : 1;
    });
    ASSERT_TRUE(eventually([&] {
        std::lock_guard guard(condition);
        return waiting.value() == 1;  // set under the lock the child waits with: it waits now
    }));
    {
        std::unique_lock guard(condition);
        condition.notify();
        EXPECT_FALSE(condition.wait(std::chrono::milliseconds(50))) << "the late waiter took the notification";
    }
    EXPECT_EQ(join_child(child), 0) << "the waiting child was not woken";
}

// tandem: waits that time out leave nothing behind (a loop of short waits never runs out of room).
TEST(MpCondition, ManyTimedOutWaitsLeaveNoTrace) {
    mp::Condition condition;
    std::unique_lock guard(condition);
    for (int i = 0; i < 10000; ++i) ASSERT_FALSE(condition.wait(std::chrono::microseconds(1)));
    condition.notify_all();
}

// multiprocessing (_test_multiprocessing.test_notify_n): notify(n) wakes exactly n of the waiting processes, notify_all() the rest.
TEST(MpCondition, NotifyWakesExactlyN) {
    constexpr int waiters = 3;
    mp::Condition condition;
    mp::RawArray<int> counts(2);  // [0] waiting, [1] woken; changed under the condition's lock
    std::vector<pid_t> children;
    for (int p = 0; p < waiters; ++p) {
        children.push_back(fork_child([&] {
            std::unique_lock guard(condition);
            ++counts[0];
            if (!condition.wait(long_wait)) return 1;
            ++counts[1];
            return 0;
        }));
    }
    const auto locked_read = [&](int index) {
        std::lock_guard guard(condition);
        return counts[static_cast<std::size_t>(index)];
    };
    // Each child counts itself and starts waiting under the same lock hold, so
    // once all three are counted, all three wait.
    ASSERT_TRUE(eventually([&] { return locked_read(0) == waiters; }));
    {
        std::lock_guard guard(condition);
        condition.notify(1);
    }
    ASSERT_TRUE(eventually([&] { return locked_read(1) == 1; }));
    std::this_thread::sleep_for(50ms);  // gives a wrongly woken waiter time to show up
    EXPECT_EQ(locked_read(1), 1);
    {
        std::lock_guard guard(condition);
        condition.notify(0);  // wakes nobody
        condition.notify_all();
    }
    for (const pid_t child : children) EXPECT_EQ(join_child(child), 0);
    EXPECT_EQ(locked_read(1), waiters);
}

// threading: Condition works between threads, with the Lock it was given.
TEST(MpCondition, ProducerConsumerThreads) {
    mp::Condition condition(mp::Lock{});
    int items = 0;
    int consumed = 0;
    std::thread consumer([&] {
        for (int i = 0; i < 100; ++i) {
            std::unique_lock guard(condition);
            ASSERT_TRUE(condition.wait_for([&] { return items > 0; }, long_wait));
            --items;
            ++consumed;
        }
    });
    for (int i = 0; i < 100; ++i) {
        std::lock_guard guard(condition);
        ++items;
        condition.notify();
    }
    consumer.join();
    EXPECT_EQ(consumed, 100);
    EXPECT_EQ(items, 0);
}

// ============================== Barrier =======================================

// threading: Barrier(parties < 1) raises ValueError; parties() and n_waiting() report the configuration.
TEST(MpBarrier, Construction) {
    EXPECT_THROW(mp::Barrier(0), tandem::ValueError);
    mp::Barrier barrier(3);
    EXPECT_EQ(barrier.parties(), 3);
    EXPECT_EQ(barrier.n_waiting(), 0);
    EXPECT_FALSE(barrier.broken());
    mp::Barrier single(1);
    EXPECT_EQ(single.wait(), 0);  // one party passes alone
    EXPECT_EQ(single.wait(), 0);
}

// multiprocessing (test_barrier): 3 processes pass the barrier together, round after round; indices 0..2 each round.
TEST(MpBarrier, SeveralRoundsAcrossProcesses) {
    constexpr int parties = 3;
    constexpr int rounds = 5;
    mp::Barrier barrier(parties);
    mp::RawArray<int> arrived(rounds);
    mp::RawArray<int> index_seen(rounds * parties);
    std::vector<pid_t> children;
    for (int p = 0; p < parties; ++p) {
        children.push_back(fork_child([&] {
            for (int round = 0; round < rounds; ++round) {
                add(arrived[static_cast<std::size_t>(round)], 1);
                const int index = barrier.wait(long_wait);
                if (index < 0 || index >= parties) return 1;
                // Nobody passes before everyone arrived.
                if (load(arrived[static_cast<std::size_t>(round)]) != parties) return 2;
                add(index_seen[static_cast<std::size_t>(round * parties + index)], 1);
            }
            return 0;
        }));
    }
    for (const pid_t child : children) EXPECT_EQ(join_child(child), 0);
    for (std::size_t slot = 0; slot < index_seen.size(); ++slot) EXPECT_EQ(load(index_seen[slot]), 1) << slot;
    EXPECT_FALSE(barrier.broken());
}

// threading: the action runs once per round, in one of the waiters, before anyone is released.
TEST(MpBarrier, ActionRunsOncePerRound) {
    mp::RawValue<int> actions(0);
    mp::Barrier barrier(3, [&] { actions.value(actions.value() + 1); });
    std::vector<pid_t> children;
    for (int p = 0; p < 2; ++p) {
        children.push_back(fork_child([&] {
            for (int round = 1; round <= 3; ++round) {
                barrier.wait(long_wait);
                if (actions.value() < round) return 1;
            }
            return 0;
        }));
    }
    for (int round = 1; round <= 3; ++round) {
        barrier.wait(long_wait);
        EXPECT_GE(actions.value(), round);
    }
    for (const pid_t child : children) EXPECT_EQ(join_child(child), 0);
    EXPECT_EQ(actions.value(), 3);
}

// threading: an action that raises breaks the barrier: its waiter gets the exception, the others BrokenBarrierError.
TEST(MpBarrier, ActionThatThrowsBreaksTheBarrier) {
    mp::Barrier barrier(2, [] { throw std::runtime_error("action failed"); });
    std::atomic<int> broken_errors{0};
    std::atomic<int> action_errors{0};
    const auto party = [&] {
        try {
            barrier.wait(long_wait);
        } catch (const tandem::BrokenBarrierError&) {
            broken_errors.fetch_add(1);
        } catch (const std::runtime_error&) {
            action_errors.fetch_add(1);
        }
    };
    std::thread other(party);
    party();
    other.join();
    EXPECT_EQ(action_errors.load(), 1);
    EXPECT_EQ(broken_errors.load(), 1);
    EXPECT_TRUE(barrier.broken());
}

// threading: a wait() that times out breaks the barrier for everyone, until reset().
TEST(MpBarrier, TimeoutBreaks) {
    mp::Barrier barrier(2);
    EXPECT_THROW(barrier.wait(30ms), tandem::BrokenBarrierError);
    EXPECT_TRUE(barrier.broken());
    EXPECT_EQ(barrier.n_waiting(), 0);
    EXPECT_THROW(barrier.wait(long_wait), tandem::BrokenBarrierError);
    barrier.reset();
    EXPECT_FALSE(barrier.broken());
    // The default timeout given at construction applies to wait().
    mp::Barrier with_default(2, {}, 20ms);
    EXPECT_THROW(with_default.wait(), tandem::BrokenBarrierError);
}

// threading: abort() breaks the barrier for the waiting child and later callers; reset() makes it usable again.
TEST(MpBarrier, AbortThenReset) {
    mp::Barrier barrier(2);
    const pid_t child = fork_child([&] {
        try {
            barrier.wait(long_wait);
            return 1;
        } catch (const tandem::BrokenBarrierError&) {
            return 0;
        }
    });
    ASSERT_TRUE(eventually([&] { return barrier.n_waiting() == 1; }));
    barrier.abort();
    EXPECT_EQ(join_child(child), 0);
    EXPECT_TRUE(barrier.broken());
    EXPECT_THROW(barrier.wait(long_wait), tandem::BrokenBarrierError);
    barrier.reset();
    const pid_t partner = fork_child([&] { return barrier.wait(long_wait) >= 0 ? 0 : 1; });
    EXPECT_GE(barrier.wait(long_wait), 0);
    EXPECT_EQ(join_child(partner), 0);
}

// threading: reset() while a party waits raises BrokenBarrierError in it, and the barrier serves the next round.
TEST(MpBarrier, ResetWhileWaiting) {
    mp::Barrier barrier(2);
    const pid_t child = fork_child([&] {
        try {
            barrier.wait(long_wait);
            return 1;
        } catch (const tandem::BrokenBarrierError&) {
        }
        // After the reset, a full round passes.
        return barrier.wait(long_wait) >= 0 ? 0 : 2;
    });
    ASSERT_TRUE(eventually([&] { return barrier.n_waiting() == 1; }));
    barrier.reset();
    EXPECT_FALSE(barrier.broken());
    EXPECT_GE(barrier.wait(long_wait), 0);
    EXPECT_EQ(join_child(child), 0);
}

// tandem: a party that dies while waiting does not block the barrier after reset().
TEST(MpBarrier, DeadWaiterDoesNotBlockAfterReset) {
    mp::Barrier barrier(2);
    const pid_t child = fork_child([&] {
        barrier.wait(long_wait);
        return 1;
    });
    ASSERT_TRUE(eventually([&] { return barrier.n_waiting() == 1; }));
    ::kill(child, SIGKILL);
    EXPECT_EQ(join_child(child), -SIGKILL);
    barrier.reset();
    std::thread partner([&] { EXPECT_GE(barrier.wait(long_wait), 0); });
    EXPECT_GE(barrier.wait(long_wait), 0);
    partner.join();
}
