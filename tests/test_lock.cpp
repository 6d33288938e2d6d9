// Tests for tandem/threading/lock.hpp: Lock and RLock, ported from CPython's
// Lib/test/lock_tests.py (BaseLockTests, LockTests, RLockTests).
#include "tandem/threading/lock.hpp"

#include <gtest/gtest.h>  // TEST, TYPED_TEST, EXPECT_*

#include <atomic>  // counters shared with helper threads
#include <chrono>  // timeouts and elapsed times
#include <mutex>   // std::lock_guard, std::unique_lock, std::scoped_lock over our locks
#include <string>  // exception messages
#include <thread>  // helper threads
#include <vector>  // groups of threads

#include "support/gate.hpp"   // eventually
#include "tandem/errors.hpp"  // RuntimeError, ValueError

using namespace std::chrono_literals;
using tandem::threading::Lock;
using tandem::threading::RLock;
using Clock = std::chrono::steady_clock;

namespace {

// Runs `body` in another thread and returns its result.
template <class Body>
bool in_other_thread(Body body) {
    bool result = false;
    std::thread([&] { result = body(); }).join();
    return result;
}

// Calls `body` and returns the message of the RuntimeError it throws.
template <class Body>
std::string runtime_error_of(Body body) {
    try {
        body();
    } catch (const tandem::RuntimeError& error) {
        return error.what();
    }
    return "no RuntimeError";
}

using tandem_test::eventually;

}  // namespace

// --- behaviours shared by Lock and RLock (lock_tests.BaseLockTests) ---------

template <class L>
class AnyLock : public testing::Test {};
using LockTypes = testing::Types<Lock, RLock>;
TYPED_TEST_SUITE(AnyLock, LockTypes);

// threading: acquire() returns True and release() unlocks (test_acquire_destroy, test_acquire_release).
TYPED_TEST(AnyLock, AcquireRelease) {
    TypeParam lock;
    EXPECT_TRUE(lock.acquire());
    lock.release();
    EXPECT_TRUE(in_other_thread([&] {
        const bool got = lock.acquire(false);
        if (got) lock.release();
        return got;
    }));
}

// threading: acquire(False) fails while another thread holds the lock (test_try_acquire_contended).
TYPED_TEST(AnyLock, TryAcquireContended) {
    TypeParam lock;
    lock.acquire();
    EXPECT_FALSE(in_other_thread([&] { return lock.acquire(false); }));
    EXPECT_FALSE(in_other_thread([&] { return lock.try_lock(); }));
    lock.release();
    EXPECT_TRUE(in_other_thread([&] {
        const bool got = lock.acquire(false);
        if (got) lock.release();
        return got;
    }));
}

// threading: threads blocked in acquire() proceed only after release (test_acquire_contended).
TYPED_TEST(AnyLock, AcquireContended) {
    TypeParam lock;
    lock.acquire();
    std::atomic<int> started{0};
    std::atomic<int> finished{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < 5; ++i) {
        threads.emplace_back([&] {
            ++started;
            EXPECT_TRUE(lock.acquire(10s));
            lock.release();
            ++finished;
        });
    }
    ASSERT_TRUE(eventually([&] { return started == 5; }));
    std::this_thread::sleep_for(20ms);  // let them block: a broken lock would let one through
    EXPECT_EQ(finished, 0);
    lock.release();
    for (auto& thread : threads) thread.join();
    EXPECT_EQ(finished, 5);
}

// threading: acquire(timeout=t) gives up after at least t; timeout 0 does not wait (test_timeout).
TYPED_TEST(AnyLock, TimeoutHonoured) {
    TypeParam lock;
    lock.acquire();
    std::thread([&] {
        const auto start = Clock::now();
        EXPECT_FALSE(lock.acquire(100ms));
        const auto waited = Clock::now() - start;
        EXPECT_GE(waited, 100ms);
        EXPECT_LT(waited, 10s);
        EXPECT_FALSE(lock.acquire(0s));
        EXPECT_FALSE(lock.acquire(std::chrono::duration<double>(0.01)));
    }).join();
    lock.release();
}

// threading: a negative timeout other than -1 raises ValueError (test_timeout).
TYPED_TEST(AnyLock, NegativeTimeoutRaisesValueError) {
    TypeParam lock;
    EXPECT_THROW(lock.acquire(-1ms), tandem::ValueError);
    EXPECT_THROW(lock.acquire(std::chrono::duration<double>(-100)), tandem::ValueError);
    EXPECT_TRUE(lock.acquire(false));  // the failed calls took nothing
    lock.release();
}

// threading: a timed acquire succeeds once the holder releases within the timeout.
TYPED_TEST(AnyLock, TimedAcquireSucceedsWhenReleased) {
    TypeParam lock;
    std::atomic<bool> holding{false};
    std::atomic<bool> may_release{false};
    std::thread holder([&] {
        lock.acquire();
        holding = true;
        ASSERT_TRUE(eventually([&] { return may_release.load(); }));
        lock.release();
    });
    ASSERT_TRUE(eventually([&] { return holding.load(); }));
    std::thread waiter([&] {
        EXPECT_TRUE(lock.acquire(10s));
        lock.release();
    });
    may_release = true;
    holder.join();
    waiter.join();
}

// threading: the lock excludes; `with lock:` under contention loses no update (test_with, test_thread_leak).
TYPED_TEST(AnyLock, MutualExclusionWithLockGuard) {
    TypeParam lock;
    long counter = 0;  // deliberately not atomic: the lock must protect it
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&] {
            for (int i = 0; i < 5000; ++i) {
                std::lock_guard guard(lock);
                ++counter;
            }
        });
    }
    for (auto& thread : threads) thread.join();
    EXPECT_EQ(counter, 4 * 5000);
}

// C++: the locks are Lockable, so std::scoped_lock takes two of them in any order without deadlock.
TYPED_TEST(AnyLock, ScopedLockOfTwo) {
    TypeParam first;
    TypeParam second;
    int shared = 0;
    std::thread forward([&] {
        for (int i = 0; i < 2000; ++i) {
            std::scoped_lock both(first, second);
            ++shared;
        }
    });
    std::thread backward([&] {
        for (int i = 0; i < 2000; ++i) {
            std::scoped_lock both(second, first);
            ++shared;
        }
    });
    forward.join();
    backward.join();
    EXPECT_EQ(shared, 4000);
    std::unique_lock hold(first, std::try_to_lock);
    EXPECT_TRUE(hold.owns_lock());
}

// --- Lock (lock_tests.LockTests) ----------------------------------------------

// threading: Lock.release() on an unlocked lock raises RuntimeError (test_release_unacquired).
TEST(Lock, ReleaseUnlockedRaises) {
    Lock lock;
    EXPECT_EQ(runtime_error_of([&] { lock.release(); }), "release unlocked lock");
    lock.acquire();
    lock.release();
    EXPECT_EQ(runtime_error_of([&] { lock.release(); }), "release unlocked lock");
    EXPECT_FALSE(lock.locked());
}

// threading: Lock.locked() reports the state (test_locked).
TEST(Lock, Locked) {
    Lock lock;
    EXPECT_FALSE(lock.locked());
    lock.acquire();
    EXPECT_TRUE(lock.locked());
    lock.release();
    EXPECT_FALSE(lock.locked());
}

// threading: a Lock is not reentrant; acquire(False) by the holder fails (test_reacquire).
TEST(Lock, NotReentrant) {
    Lock lock;
    lock.acquire();
    EXPECT_FALSE(lock.acquire(false));
    EXPECT_FALSE(lock.acquire(10ms));
    lock.release();
}

// threading: a second acquire() by the holder blocks until another thread releases (test_reacquire).
TEST(Lock, ReacquireWaitsForReleaseByAnotherThread) {
    Lock lock;
    std::atomic<int> phase{0};
    std::thread thread([&] {
        lock.acquire();
        phase = 1;
        EXPECT_TRUE(lock.acquire(10s));  // released by the main thread
        phase = 2;
        lock.release();
    });
    ASSERT_TRUE(eventually([&] { return phase == 1; }));
    lock.release();
    thread.join();
    EXPECT_EQ(phase, 2);
}

// threading: a Lock acquired in one thread may be released in another (test_different_thread).
TEST(Lock, ReleaseFromAnotherThread) {
    Lock lock;
    std::thread([&] { lock.acquire(); }).join();
    EXPECT_TRUE(lock.locked());
    lock.release();
    EXPECT_FALSE(lock.locked());
    EXPECT_TRUE(lock.acquire(false));
    std::thread([&] { lock.release(); }).join();
    EXPECT_FALSE(lock.locked());
}

// --- RLock (lock_tests.RLockTests) --------------------------------------------

// threading: RLock may be acquired repeatedly by its owner and needs as many releases (test_reacquire).
TEST(RLock, Recursion) {
    RLock lock;
    EXPECT_TRUE(lock.acquire());
    EXPECT_TRUE(lock.acquire(false));
    EXPECT_TRUE(lock.acquire(0s));
    lock.release();
    lock.release();
    EXPECT_FALSE(in_other_thread([&] { return lock.acquire(false); }));
    lock.release();
    EXPECT_TRUE(in_other_thread([&] {
        const bool got = lock.acquire(false);
        if (got) lock.release();
        return got;
    }));
}

// threading: RLock.release() without acquire raises RuntimeError (test_release_unacquired).
TEST(RLock, ReleaseUnacquiredRaises) {
    RLock lock;
    EXPECT_EQ(runtime_error_of([&] { lock.release(); }), "cannot release un-acquired lock");
    lock.acquire();
    lock.acquire();
    lock.release();
    lock.release();
    EXPECT_EQ(runtime_error_of([&] { lock.release(); }), "cannot release un-acquired lock");
}

// threading: RLock.release() by a thread that does not own it raises RuntimeError (test_different_thread).
TEST(RLock, ReleaseByNonOwnerRaises) {
    RLock lock;
    std::atomic<bool> held{false};
    std::atomic<bool> done{false};
    std::thread owner([&] {
        lock.acquire();
        held = true;
        ASSERT_TRUE(eventually([&] { return done.load(); }));
        lock.release();  // still the owner's to release
    });
    ASSERT_TRUE(eventually([&] { return held.load(); }));
    EXPECT_EQ(runtime_error_of([&] { lock.release(); }), "cannot release un-acquired lock");
    done = true;
    owner.join();
}

// threading: other threads wait until the owner has released every level (test__is_owned).
TEST(RLock, OthersWaitForFullRelease) {
    RLock lock;
    lock.acquire();
    lock.acquire();
    lock.release();
    EXPECT_FALSE(in_other_thread([&] { return lock.acquire(20ms); }));
    lock.release();
    EXPECT_TRUE(in_other_thread([&] {
        const bool got = lock.acquire(10s);
        if (got) lock.release();
        return got;
    }));
}
