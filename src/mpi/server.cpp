// A serving rank's loop: see tandem/detail/mpi/server.hpp.
#include "tandem/detail/mpi/server.hpp"

#include <cstddef>    // std::byte, std::size_t
#include <exception>  // std::exception, std::make_exception_ptr
#include <span>       // the received call
#include <string>     // messages
#include <vector>     // the receive buffer

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
    int rank = -1;
    MPI_Comm_rank(comm, &rank);
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
            abort_job(comm, "the root sent rank " + std::to_string(rank) +
                                " a message the protocol does not have (tag " + std::to_string(status.MPI_TAG) + ")");
        }
        const std::size_t size = probed_size(comm, status);
        // Only memory can run out here (run_task catches everything a task
        // throws). The root waits for this reply, so the job ends, saying why.
        try {
            if (buffer.size() < size) buffer.resize(size);
            MPI_Mrecv(buffer.data(), static_cast<int>(size), MPI_BYTE, &message, MPI_STATUS_IGNORE);
            FatalSignalReporter::task_started();
            CallOutcome outcome = run_task(std::span<const std::byte>(buffer.data(), size));
            FatalSignalReporter::task_finished();
            reply(comm, root, outcome);
            if (buffer.size() > kKeptBufferBytes) buffer = {};  // kept while small enough: protocol.hpp
        } catch (const std::exception& e) {
            abort_job(comm, "rank " + std::to_string(rank) + " cannot serve a task of " + std::to_string(size) +
                                " bytes: " + e.what());
        }
    }
}

}  // namespace tandem::detail::mpi
