// Built twice, as test_mpi_build_a and test_mpi_build_b, which differ only in
// TANDEM_BUILD_FLAVOUR and so in their build ids. Started together under one
// mpirun (`mpirun -np 1 a : -np 2 b`), mpi::init() on every rank must find
// that the ranks run different builds and end the job with status 1, rank 0
// naming the ranks that differ, before any task could name a function by an
// address that means something else on the other side. Started alone
// (`mpirun -np 3 a`), the same program runs a task and exits 0.
#include <cstdio>  // the outcome

#include "tandem/mpi/pool_executor.hpp"  // mpi::init, mpi::PoolExecutor

namespace {
int flavour() { return TANDEM_BUILD_FLAVOUR; }
}  // namespace

int main(int argc, char** argv) {
    tandem::mpi::init(argc, argv);
    tandem::mpi::PoolExecutor pool;
    const int remote = pool.submit(flavour).result();
    if (remote != flavour()) return 2;
    std::printf("build check: same build on every rank (flavour %d)\n", remote);
    return 0;
}
