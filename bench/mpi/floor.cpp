// bench_mpi_floor — Open MPI's shared-memory ping-pong on this machine, for
// bench/pool's floor column: run by bench_pool under scripts/mpirun.sh -np 2,
// rank 0 prints "name value" lines that bench_pool reads (as it reads the
// Python peer's).
//
//     scripts/mpirun.sh -np 2 bench_mpi_floor CALL_BYTES TRIPS BIG_BYTES REPS
//
//   mpi_round_trip_us   CALL_BYTES there and 4 back, median of TRIPS
//   mpi_big_mib_per_s   BIG_BYTES there and back, MiB/s of one way, median of REPS
#include <cstdio>   // printf
#include <cstdlib>  // std::strtoull

#include <mpi.h>  // MPI_Init, the communicator

#include "mpi_floor.hpp"  // the ping-pongs, shared with bench_mpi

int main(int argc, char** argv) {
    MPI_Init(&argc, &argv);
    int rank = 0;
    int size = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (argc != 5 || size != 2) {
        if (rank == 0) std::fprintf(stderr, "usage: mpirun -np 2 bench_mpi_floor CALL_BYTES TRIPS BIG_BYTES REPS\n");
        MPI_Finalize();
        return 2;
    }
    const auto number = [&](int i) { return static_cast<std::size_t>(std::strtoull(argv[i], nullptr, 10)); };
    const double trip = tandem_bench::mpi_round_trip_us(MPI_COMM_WORLD, number(1), number(2));
    const double big = tandem_bench::mpi_big_mib_per_s(MPI_COMM_WORLD, number(3), static_cast<int>(number(4)));
    if (rank == 0) std::printf("mpi_round_trip_us %.4f\nmpi_big_mib_per_s %.2f\n", trip, big);
    MPI_Finalize();
}
