// Internal: how a thread that polls MPI waits when nothing arrives.
//
// MPI has no descriptor to sleep on, so both ends of an mpi::PoolExecutor
// poll (MPI_Improbe). A blocking MPI_Recv would spin inside Open MPI at full
// speed: on a machine with more ranks than cores (mpirun --oversubscribe)
// an idle serving rank would then take a core from the ranks that work, and
// an idle job would burn every core forever. So a poller that found nothing
// first yields the CPU for a short while (a reply a few microseconds away is
// caught without sleeping), then sleeps for pauses that double up to
// kLongestPause: an idle rank wakes about a thousand times a second, and
// the first task after a quiet spell waits at most that long.
#pragma once

#include <chrono>    // pauses
#include <optional>  // not idle

namespace tandem::detail::mpi {

class Backoff {
public:
    /// How long the poller yields (sleeps 0) before it starts sleeping.
    static constexpr std::chrono::microseconds kYieldFor{100};
    static constexpr std::chrono::microseconds kFirstPause{16};
    static constexpr std::chrono::microseconds kLongestPause{1000};

    /// The pause after a poll that found nothing: zero while the poller
    /// should only yield, then growing sleeps.
    std::chrono::nanoseconds next() noexcept;
    /// Something arrived: the next idle poll starts over with yields.
    void reset() noexcept { idle_.reset(); }
    /// next(), then sched_yield() or nanosleep() for that long.
    void pause() noexcept;

private:
    struct Idle {
        std::chrono::steady_clock::time_point since;
        std::chrono::nanoseconds pause{0};
    };
    std::optional<Idle> idle_;
};

}  // namespace tandem::detail::mpi
