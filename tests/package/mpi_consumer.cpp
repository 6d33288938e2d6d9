// A user's MPI program, built against tandem::mpi and run by
// scripts/check-package.sh under mpirun with 2 ranks. Exits 0 when the
// result is right.
#include <tandem/mpi/pool_executor.hpp>

#include <cstdio>

int square(int x) { return x * x; }

int main(int argc, char** argv) {
    tandem::mpi::init(argc, argv);  // rank 1 serves here
    tandem::mpi::PoolExecutor pool;
    const int remote = pool.submit(square, 7).result();
    std::printf("mpi consumer: %d: %s\n", remote, remote == 49 ? "ok" : "WRONG");
    return remote == 49 ? 0 : 1;
}
