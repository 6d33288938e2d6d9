// The raw MPI floors: what any executor over MPI stands on, and, on one
// machine, what Open MPI's shared-memory transport (vader) makes of a
// ping-pong, the floor a process pool's round trip is measured against.
// Written directly against MPI_Send/MPI_Recv between ranks 0 and 1 of
// `comm`; other ranks return 0 at once. Each returns a median (on ranks 0
// and 1). Used by bench/mpi (bench_mpi, and bench_mpi_floor, which
// bench/pool runs under scripts/mpirun.sh for its floor column).
#pragma once

#include <cstddef>  // std::size_t

#include <mpi.h>  // MPI_Comm

namespace tandem_bench {

/// `call_bytes` from rank 0 to rank 1 and 4 bytes back, median microseconds
/// per round trip over `trips` (after 100 warm-up trips).
double mpi_round_trip_us(MPI_Comm comm, std::size_t call_bytes, std::size_t trips);
/// `bytes` from rank 0 to rank 1 and back, MiB/s of one way's bytes per
/// round trip, median of `reps` (after one warm-up).
double mpi_big_mib_per_s(MPI_Comm comm, std::size_t bytes, int reps);

}  // namespace tandem_bench
