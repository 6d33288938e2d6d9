// The raw MPI floors. See mpi_floor.hpp.
#include "mpi_floor.hpp"

#include <vector>  // buffers, samples

#include "report.hpp"  // median, micros_since, Clock

namespace tandem_bench {

double mpi_round_trip_us(MPI_Comm comm, std::size_t call_bytes, std::size_t trips) {
    int rank = 0;
    MPI_Comm_rank(comm, &rank);
    std::vector<std::byte> call(call_bytes);
    int reply = 0;
    std::vector<double> samples;
    for (std::size_t i = 0; i < trips + 100; ++i) {  // the first 100 warm up
        const auto start = Clock::now();
        if (rank == 0) {
            MPI_Send(call.data(), static_cast<int>(call.size()), MPI_BYTE, 1, 0, comm);
            MPI_Recv(&reply, sizeof reply, MPI_BYTE, 1, 0, comm, MPI_STATUS_IGNORE);
        } else if (rank == 1) {
            MPI_Recv(call.data(), static_cast<int>(call.size()), MPI_BYTE, 0, 0, comm, MPI_STATUS_IGNORE);
            MPI_Send(&reply, sizeof reply, MPI_BYTE, 0, 0, comm);
        }
        if (i >= 100) samples.push_back(micros_since(start));
    }
    return rank <= 1 ? median(std::move(samples)) : 0.0;
}

double mpi_big_mib_per_s(MPI_Comm comm, std::size_t bytes, int reps) {
    int rank = 0;
    MPI_Comm_rank(comm, &rank);
    std::vector<std::byte> buffer(bytes, std::byte{7});
    std::vector<double> samples;
    for (int rep = 0; rep < reps + 1; ++rep) {
        const auto start = Clock::now();
        const int count = static_cast<int>(buffer.size());
        if (rank == 0) {
            MPI_Send(buffer.data(), count, MPI_BYTE, 1, 0, comm);
            MPI_Recv(buffer.data(), count, MPI_BYTE, 1, 0, comm, MPI_STATUS_IGNORE);
        } else if (rank == 1) {
            MPI_Recv(buffer.data(), count, MPI_BYTE, 0, 0, comm, MPI_STATUS_IGNORE);
            MPI_Send(buffer.data(), count, MPI_BYTE, 0, 0, comm);
        }
        if (rep > 0) samples.push_back(static_cast<double>(bytes) / (1024.0 * 1024.0) / (micros_since(start) / 1e6));
    }
    return rank <= 1 ? median(std::move(samples)) : 0.0;
}

}  // namespace tandem_bench
