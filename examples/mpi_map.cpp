// examples/mpi_map.cpp — the lecture's CPU-bound number crunching spread over
// the ranks of an MPI job: the same executor API as a process pool, but the
// workers may be on other machines.
//
//     scripts/mpirun.sh -np 3 build/release/examples/example_mpi_map
//
// Every rank starts main(); mpi::init() keeps ranks 1 and 2 serving tasks
// while rank 0 runs the rest of main, and releases them when it returns.
#include <cmath>      // std::sqrt
#include <cstdio>     // printf
#include <ranges>     // std::views::iota
#include <stdexcept>  // std::domain_error

#include <mpi.h>  // MPI_Comm_rank: which rank ran a task

#include "tandem/mpi/pool_executor.hpp"  // mpi::init, mpi::PoolExecutor

namespace {

constexpr long kBlock = 100'000;
constexpr long kBlocks = 20;             // the numbers below 2,000,000
constexpr long kPrimesBelow2M = 148'933;  // known: pi(2 * 10^6)

bool is_prime(long n) {
    if (n < 2) return false;
    for (long d = 2; d * d <= n; ++d) {
        if (n % d == 0) return false;
    }
    return true;
}

// How many primes lie in block `block`: pure CPU work, no shared state.
long count_primes(long block) {
    long count = 0;
    for (long n = block * kBlock; n < (block + 1) * kBlock; ++n) count += is_prime(n) ? 1 : 0;
    return count;
}

int rank_here() {
    int rank = -1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    return rank;
}

double checked_sqrt(double x) {
    if (x < 0) throw std::domain_error("square root of a negative number");
    return std::sqrt(x);
}

}  // namespace

int main(int argc, char** argv) {
    tandem::mpi::init(argc, argv);  // ranks other than 0 serve here until rank 0 returns
    tandem::mpi::PoolExecutor pool;

    long primes = 0;
    for (long count : pool.map(count_primes, std::views::iota(0L, kBlocks), {.chunksize = 2})) primes += count;
    std::printf("%ld primes below %ld, counted by %zu serving ranks\n", primes, kBlock * kBlocks, pool.max_workers());

    std::printf("a single task ran on rank %d\n", pool.submit(rank_here).result());
    try {
        pool.submit(checked_sqrt, -1.0).result();
    } catch (const std::domain_error& e) {
        std::printf("a task's exception came back as itself: std::domain_error: %s\n", e.what());
    }
    return primes == kPrimesBelow2M ? 0 : 1;
}
