// Internal: a pthread mutex in shared memory that survives its holder's death.
//
// multiprocessing's Lock, RLock and Barrier keep their mutex in memory that
// several processes map; a process killed while holding it must not leave the
// others waiting for ever. A robust mutex is handed to the next taker with
// EOWNERDEAD, and lock_robust() makes it consistent at once, telling the
// caller that the previous holder died (Lock records it; internal state
// guards ignore it):
//
//     init_robust_mutex(state->mutex);                  // once, by the creator
//     if (lock_robust(state->mutex, true, deadline) == Took::no) return false;   // timed out
//     ...
//     pthread_mutex_unlock(&state->mutex);
#pragma once

#include <pthread.h>  // pthread_mutex_t

#include "tandem/detail/os/futex.hpp"  // Deadline

namespace tandem::detail {

/// Initializes `mutex` as process-shared and robust. Throws std::system_error.
void init_robust_mutex(pthread_mutex_t& mutex);

/// How lock_robust() ended: not taken (busy, or the deadline passed), taken,
/// or taken over from a holder that died holding it.
enum class Took { no, yes, from_dead_owner };

/// Takes `mutex`: waits if `blocking`, until `deadline` if it has one.
/// Throws std::system_error for any other failure than busy or timed out.
Took lock_robust(pthread_mutex_t& mutex, bool blocking, Deadline deadline);

/// Holds a robust mutex guarding internal state for a scope; a dead previous
/// holder is recovered silently, for state that is valid at every store that
/// matters.
class RobustMutexGuard {
public:
    explicit RobustMutexGuard(pthread_mutex_t& mutex) : mutex_(mutex) { lock(); }
    RobustMutexGuard(const RobustMutexGuard&) = delete;
    RobustMutexGuard& operator=(const RobustMutexGuard&) = delete;
    ~RobustMutexGuard() {
        if (held_) unlock();
    }
    void lock() {
        lock_robust(mutex_, true, std::nullopt);
        held_ = true;
    }
    void unlock() noexcept {
        pthread_mutex_unlock(&mutex_);
        held_ = false;
    }

private:
    pthread_mutex_t& mutex_;
    bool held_ = false;
};

}  // namespace tandem::detail
