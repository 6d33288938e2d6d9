// Compiled, not run: tandem/mpi/pool_executor.hpp and the calls a user writes
// most, under the strictest warnings a user may turn on, as an error (the
// same check as tests/support/public_headers.cpp, which cannot include this
// header: it needs MPI's).
#include "tandem/mpi/pool_executor.hpp"

#include <ranges>  // std::views::iota
#include <string>  // an argument that converts

namespace {

int square(int x) { return x * x; }
std::size_t length(std::string text) { return text.size(); }

[[maybe_unused]] long typical_use(int argc, char** argv) {
    tandem::mpi::init(argc, argv);
    tandem::mpi::PoolExecutor pool;
    long sum = pool.submit(&square, 3).result() + static_cast<long>(pool.submit(length, "four").result());
    for (int value : pool.map(square, std::views::iota(0, 10), {.chunksize = 2})) sum += value;
    tandem::mpi::CommExecutor comm_executor(MPI_COMM_WORLD, 0);
    if (tandem::mpi::PoolExecutor* executor = comm_executor.executor()) sum += executor->submit(square, 2).result();
    pool.shutdown(true, true);
    return sum;
}

}  // namespace
