// tandem/interpreter_lock.hpp — CPython's global interpreter lock (the GIL),
// emulated: a lock that threads hold to run "interpreted" work and that the
// holder hands over when others have waited for a switch interval.
//
// tandem has no GIL. This lock exists so that a C++ program can show, and
// measure, what the GIL does to Python threads (tandem bench runs its
// workloads with threads under one), and so that code can serialise its
// calls into a library that is not thread-safe, or into an embedded
// interpreter, the way CPython does: every thread takes turns, none starves,
// and blocking calls let the others run.
//
//     tandem::InterpreterLock gil;                     // one for all threads of the process
//
//     void crunch(tandem::InterpreterLock& gil) {
//         tandem::InterpreterLock::Holder held(gil);   // PyGILState_Ensure ... Release
//         for (long i = 0; i < n; ++i) {
//             step(i);                                 // "bytecode"
//             gil.checkpoint();                        // the eval loop's eval-breaker check
//             if (i % 1000 == 0) {
//                 tandem::InterpreterLock::AllowThreads io(gil);   // Py_BEGIN_ALLOW_THREADS
//                 ::read(fd, buffer, size);                        // others run meanwhile
//             }                                                    // Py_END_ALLOW_THREADS
//         }
//     }
//
// How it hands over (CPython's "new GIL", 3.2 onwards, Python/ceval_gil.c):
// - A thread that finds the lock held waits on a condition for at most the
//   switch interval (default 5 ms; set_switch_interval is
//   sys.setswitchinterval). If the lock was held all that time by the same
//   thread, the waiter raises a drop request and waits again.
// - The holder honours the request at its next checkpoint(): it releases the
//   lock and, because the request is pending, waits until another thread has
//   taken it (forced switching) before it queues for the lock again. Without
//   a request, checkpoint() is one relaxed atomic load.
// - So a thread that releases the lock around a blocking call (AllowThreads)
//   and then needs it back while a CPU-bound thread holds it waits a whole
//   switch interval each time: the convoy effect that makes I/O threads slow
//   beside a CPU-bound thread in CPython.
//
// Differences from CPython:
// - Acquiring the lock in the thread that holds it throws RuntimeError
//   (CPython's take_gil would deadlock, or abort in a debug build); releasing
//   it from a thread that does not hold it throws RuntimeError.
// - There may be several InterpreterLocks (one per emulated interpreter, or
//   one per library to serialise); CPython 3.12 has one per interpreter too.
// - Nothing calls checkpoint() for you: the holder decides where its
//   "bytecode boundaries" are. A holder that never calls it (nor releases)
//   keeps the lock, as a C extension that holds the GIL does.
#pragma once

#include <atomic>              // the drop request, counters, the owner
#include <chrono>              // switch interval
#include <condition_variable>  // waiting for the lock, waiting for a switch
#include <cstdint>             // counters
#include <mutex>               // the state behind the conditions
#include <thread>              // std::thread::id of the holder

namespace tandem {

/// An emulation of CPython's GIL. Not copyable, not movable.
class InterpreterLock {
public:
    /// CPython's default switch interval (sys.getswitchinterval() == 0.005).
    static constexpr std::chrono::microseconds kDefaultSwitchInterval{5000};

    /// A free lock with this switch interval. Throws ValueError if the
    /// interval is not positive.
    explicit InterpreterLock(std::chrono::nanoseconds switch_interval = kDefaultSwitchInterval);
    InterpreterLock(const InterpreterLock&) = delete;
    InterpreterLock& operator=(const InterpreterLock&) = delete;
    /// Must not be held or waited for by any thread any more.
    ~InterpreterLock() = default;

    /// Blocks until the calling thread holds the lock, raising a drop request
    /// each time it has waited a whole switch interval while one thread kept
    /// the lock. Throws RuntimeError if the calling thread holds it already.
    void acquire();

    /// Releases the lock and wakes one waiter. If a drop request is pending,
    /// waits until another thread has taken the lock before returning (so
    /// the caller cannot take it straight back). Throws RuntimeError if the
    /// calling thread does not hold it.
    void release();

    /// The holder's check point, to call often (the eval loop checks between
    /// bytecodes): returns at once unless a waiter asked for the lock, in
    /// which case it releases the lock, lets the waiter run and acquires it
    /// again. Call it only while holding the lock.
    void checkpoint() {
        if (drop_request_.load(std::memory_order_relaxed)) hand_over();
    }

    /// Whether some thread holds the lock now.
    bool locked() const noexcept { return locked_.load(std::memory_order_relaxed); }
    /// Whether the calling thread holds the lock.
    bool held() const noexcept { return owner_.load(std::memory_order_relaxed) == std::this_thread::get_id(); }

    /// Sets how long a waiter waits before it asks the holder to drop the
    /// lock (sys.setswitchinterval); takes effect at the waiters' next wait.
    /// Throws ValueError if not positive ("switch interval must be strictly
    /// positive", as Python).
    void set_switch_interval(std::chrono::nanoseconds interval);
    /// The current switch interval (sys.getswitchinterval).
    std::chrono::nanoseconds switch_interval() const noexcept {
        return std::chrono::nanoseconds(interval_ns_.load(std::memory_order_relaxed));
    }

    /// How many times the lock went to a different thread than its previous
    /// holder (CPython's gil->switch_number).
    std::uint64_t switch_count() const noexcept { return switches_.load(std::memory_order_relaxed); }
    /// How many drop requests waiters raised.
    std::uint64_t drop_request_count() const noexcept { return drop_requests_.load(std::memory_order_relaxed); }

    /// Holds the lock for a scope: acquire() on construction, release() on
    /// destruction (PyGILState_Ensure / PyGILState_Release).
    class Holder {
    public:
        /// Acquires `lock`; throws as acquire().
        explicit Holder(InterpreterLock& lock) : lock_(lock) { lock_.acquire(); }
        Holder(const Holder&) = delete;
        Holder& operator=(const Holder&) = delete;
        ~Holder() { lock_.release(); }

    private:
        InterpreterLock& lock_;
    };

    /// Lets other threads run for a scope, around a blocking call: release()
    /// on construction, acquire() on destruction (Py_BEGIN_ALLOW_THREADS /
    /// Py_END_ALLOW_THREADS). The calling thread must hold the lock.
    class AllowThreads {
    public:
        /// Releases `lock`; throws as release().
        explicit AllowThreads(InterpreterLock& lock) : lock_(lock) { lock_.release(); }
        AllowThreads(const AllowThreads&) = delete;
        AllowThreads& operator=(const AllowThreads&) = delete;
        /// Waits for the lock again (a whole switch interval if a CPU-bound
        /// thread holds it: the convoy effect).
        ~AllowThreads() { lock_.acquire(); }

    private:
        InterpreterLock& lock_;
    };

private:
    void hand_over();

    // The eval breaker's drop-request bit: read without the mutex on every
    // checkpoint(), written under it.
    std::atomic<bool> drop_request_{false};
    std::atomic<std::int64_t> interval_ns_;

    // Taking and releasing the lock (CPython's gil->mutex and gil->cond).
    std::mutex mutex_;
    std::condition_variable released_;
    std::atomic<bool> locked_{false};
    std::atomic<std::thread::id> owner_{};

    // Forced switching (gil->switch_mutex and gil->switch_cond): the last
    // thread to take the lock, read by a dropping holder waiting for a switch.
    std::mutex switch_mutex_;
    std::condition_variable switched_;
    std::thread::id last_holder_;

    std::atomic<std::uint64_t> switches_{0};
    std::atomic<std::uint64_t> drop_requests_{0};
};

}  // namespace tandem
