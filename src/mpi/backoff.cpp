// Pauses of a thread that polls MPI: see tandem/detail/mpi/backoff.hpp.
#include "tandem/detail/mpi/backoff.hpp"

#include <sched.h>  // sched_yield
#include <time.h>   // nanosleep

#include <algorithm>  // std::min

namespace tandem::detail::mpi {

std::chrono::nanoseconds Backoff::next() noexcept {
    const auto now = std::chrono::steady_clock::now();
    if (!idle_) {
        idle_ = Idle{now, std::chrono::nanoseconds(0)};
        return idle_->pause;
    }
    if (now - idle_->since < kYieldFor) return idle_->pause;
    const std::chrono::nanoseconds doubled = idle_->pause * 2;
    idle_->pause = std::min<std::chrono::nanoseconds>(std::max<std::chrono::nanoseconds>(doubled, kFirstPause),
                                                      kLongestPause);
    return idle_->pause;
}

void Backoff::pause() noexcept {
    const std::chrono::nanoseconds pause = next();
    if (pause.count() == 0) {
        sched_yield();
        return;
    }
    timespec delay{};
    delay.tv_sec = static_cast<time_t>(pause.count() / 1'000'000'000);
    delay.tv_nsec = static_cast<long>(pause.count() % 1'000'000'000);
    ::nanosleep(&delay, nullptr);  // an early wake-up (EINTR) only polls sooner
}

}  // namespace tandem::detail::mpi
