// Sizing received messages and ending the job on a broken protocol: see
// tandem/detail/mpi/protocol.hpp.
#include "tandem/detail/mpi/protocol.hpp"

#include <unistd.h>  // write

#include <string>  // messages

#include "tandem/errors.hpp"  // ValueError

namespace tandem::detail::mpi {

std::size_t probed_size(MPI_Comm comm, const MPI_Status& status) {
    int count = MPI_UNDEFINED;
    MPI_Get_count(&status, MPI_BYTE, &count);
    // MPI_UNDEFINED is negative; a count is an int, so at most kMaxMessageBytes.
    if (count < 0) {
        abort_job(comm, "rank " + std::to_string(status.MPI_SOURCE) + " sent a message of no byte count (tag " +
                            std::to_string(status.MPI_TAG) + ")");
    }
    return static_cast<std::size_t>(count);
}

int message_count(std::size_t size, const char* what) {
    if (size > kMaxMessageBytes) {
        throw ValueError(std::string("tandem::mpi: ") + what + " is " + std::to_string(size) +
                         " bytes, more than one MPI message carries (" + std::to_string(kMaxMessageBytes) + ")");
    }
    return static_cast<int>(size);
}

void abort_job(MPI_Comm comm, const std::string& message) noexcept {
    const std::string line = "tandem::mpi: " + message + "\n";
    [[maybe_unused]] const auto written = ::write(2, line.data(), line.size());
    MPI_Abort(comm, kProtocolErrorStatus);
    ::_exit(kProtocolErrorStatus);  // MPI_Abort does not return; this is in case it did
}

}  // namespace tandem::detail::mpi
