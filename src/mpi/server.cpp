// A serving rank's loop: see tandem/detail/mpi/server.hpp.
#include "tandem/detail/mpi/server.hpp"

#include <cstddef>  // std::byte, std::size_t
#include <span>     // the received call
#include <string>   // messages
#include <vector>   // the receive buffer

#include "tandem/detail/mpi/backoff.hpp"        // Backoff
#include "tandem/detail/mpi/fatal_signals.hpp"  // FatalSignalReporter::task_started/finished
#include "tandem/detail/mpi/protocol.hpp"       // tags, kKeptBufferBytes, probed_size, abort_job
#include "tandem/detail/mpi/remote_task.hpp"    // run_task, CallOutcome
#include "tandem/errors.hpp"                    // ValueError

namespace tandem::detail::mpi {
namespace {

void reply(MPI_Comm comm, int root, CallOutcome& outcome) {
    if (outcome.payload.size() > kMaxMessageBytes) {
        outcome = raised_outcome(std::make_exception_ptr(
            ValueError("tandem::mpi: the task's result is " + std::to_string(outcome.payload.size()) +
                       " bytes, more than one MPI message carries (" + std::to_string(kMaxMessageBytes) + ")")));
    }
    MPI_Send(outcome.payload.data(), static_cast<int>(outcome.payload.size()), MPI_BYTE, root,
             outcome.raised ? kRaisedTag : kResultTag, comm);
}

}  // namespace

void serve(MPI_Comm comm, int root) {
    std::vector<std::byte> buffer;
    Backoff backoff;
    for (;;) {
        int arrived = 0;
        MPI_Message message = MPI_MESSAGE_NULL;
        MPI_Status status;
        MPI_Improbe(root, MPI_ANY_TAG, comm, &arrived, &message, &status);
        if (arrived == 0) {
            backoff.pause();
            continue;
        }
        backoff.reset();
        if (status.MPI_TAG == kStopTag) {
            MPI_Mrecv(nullptr, 0, MPI_BYTE, &message, MPI_STATUS_IGNORE);
            return;
        }
        if (status.MPI_TAG != kCallTag) {
            abort_job(comm, "the root sent a message the protocol does not have (tag " +
                                std::to_string(status.MPI_TAG) + ")");
        }
        const std::size_t size = probed_size(comm, status);
        if (buffer.size() < size) buffer.resize(size);
        MPI_Mrecv(buffer.data(), static_cast<int>(size), MPI_BYTE, &message, MPI_STATUS_IGNORE);
        FatalSignalReporter::task_started();
        CallOutcome outcome = run_task(std::span<const std::byte>(buffer.data(), size));
        FatalSignalReporter::task_finished();
        try {
            reply(comm, root, outcome);
        } catch (const std::exception& e) {
            abort_job(comm, std::string("a serving rank could not send its reply: ") + e.what());
        }
        if (buffer.size() > kKeptBufferBytes) buffer = {};  // kept while small enough: protocol.hpp
    }
}

}  // namespace tandem::detail::mpi
