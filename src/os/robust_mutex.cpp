// detail/os/robust_mutex.hpp: robust process-shared pthread mutexes.
#include "tandem/detail/os/robust_mutex.hpp"

#include <cerrno>  // EOWNERDEAD, EBUSY, ETIMEDOUT
#include <ctime>   // nanosleep (sanitizer builds)

#include "tandem/detail/os/system_error.hpp"  // throw_errno

namespace tandem::detail {

namespace {

int timed_lock(pthread_mutex_t& mutex, Clock::time_point deadline) noexcept {
    for (;;) {
#if defined(__SANITIZE_THREAD__)
        // ThreadSanitizer (GCC 12) does not intercept pthread_mutex_clocklock,
        // and its pthread_mutex_timedlock interceptor ignores EOWNERDEAD; only
        // its trylock interceptor follows every outcome (a lock taken over
        // from a dead owner included). So sanitizer builds poll with trylock,
        // every 100 us, until the deadline: the same results, more CPU.
        int rc = pthread_mutex_trylock(&mutex);
        if (rc == EBUSY) {
            rc = ETIMEDOUT;
            const timespec pause{0, 100'000};
            if (Clock::now() < deadline) ::nanosleep(&pause, nullptr);
        }
#else
        const timespec absolute = monotonic_timespec(deadline);
        const int rc = pthread_mutex_clocklock(&mutex, CLOCK_MONOTONIC, &absolute);
#endif
        if (rc != ETIMEDOUT || Clock::now() >= deadline) return rc;
    }
}

}  // namespace

void init_robust_mutex(pthread_mutex_t& mutex) {
    pthread_mutexattr_t attributes;
    pthread_mutexattr_init(&attributes);
    pthread_mutexattr_setpshared(&attributes, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&attributes, PTHREAD_MUTEX_ROBUST);
    const int rc = pthread_mutex_init(&mutex, &attributes);
    pthread_mutexattr_destroy(&attributes);
    if (rc != 0) throw_errno(rc, "pthread_mutex_init");
}

// When the owner died holding the mutex, the kernel hands it over with
// EOWNERDEAD; it is made consistent at once so that it stays usable.
Took lock_robust(pthread_mutex_t& mutex, bool blocking, Deadline deadline) {
    int rc = 0;
    if (!blocking) {
        rc = pthread_mutex_trylock(&mutex);
    } else if (!deadline) {
        rc = pthread_mutex_lock(&mutex);
    } else {
        rc = timed_lock(mutex, *deadline);
    }
    switch (rc) {
        case 0:
            return Took::yes;
        case EOWNERDEAD:
            pthread_mutex_consistent(&mutex);
            return Took::from_dead_owner;
        case EBUSY:
        case ETIMEDOUT:
            return Took::no;
        default:
            throw_errno(rc, "acquiring a process-shared mutex");
    }
}

}  // namespace tandem::detail
