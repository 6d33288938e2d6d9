// Running an encoded call on a serving rank: see
// tandem/detail/mpi/remote_task.hpp.
#include "tandem/detail/mpi/remote_task.hpp"

#include <exception>  // std::current_exception

namespace tandem::detail::mpi {

CallOutcome run_task(std::span<const std::byte> call) noexcept {
    try {
        HandoffReader in(call, {});
        return run_call(in);
    } catch (...) {
        // A call that does not decode (FrameError), or memory running out
        // while decoding: the root hears of it as the task's exception.
        try {
            return raised_outcome(std::current_exception());
        } catch (...) {
            return CallOutcome{true, {}};  // not even that could be encoded: rethrow_remote says it is malformed
        }
    }
}

}  // namespace tandem::detail::mpi
