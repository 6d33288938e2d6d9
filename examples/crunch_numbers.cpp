// The lecture's first use case for processes, crunching data: count the
// primes below a bound on a process pool, one range per task, and compare
// with doing it serially. (C++ threads would do as well: there is no GIL.)
//
//     example_crunch_numbers [bound]        (default 2000000)
#include <chrono>   // timing
#include <cstdio>   // std::printf
#include <cstdlib>  // std::atol
#include <ranges>   // the ranges to map over

#include "tandem/init.hpp"                   // tandem::init: spawn/forkserver workers re-execute this program
#include "tandem/process_pool_executor.hpp"  // ProcessPoolExecutor

namespace {

constexpr long kRanges = 32;

long primes_in(long low, long high) {
    long count = 0;
    for (long n = low < 2 ? 2 : low; n < high; ++n) {
        bool prime = true;
        for (long d = 2; d * d <= n && prime; ++d) prime = n % d != 0;
        count += prime;
    }
    return count;
}

// One task: range `i` of kRanges below `bound` (a pair travels as its bytes).
long count_range(std::pair<long, long> range) { return primes_in(range.first, range.second); }

double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
    tandem::init(argc, argv);
    const long bound = argc > 1 ? std::atol(argv[1]) : 2'000'000;
    const auto ranges = std::views::iota(0L, kRanges) | std::views::transform([bound](long i) {
                            return std::pair(bound * i / kRanges, bound * (i + 1) / kRanges);
                        });

    auto start = std::chrono::steady_clock::now();
    const long serial = primes_in(0, bound);
    const double serial_seconds = seconds_since(start);

    tandem::ProcessPoolExecutor pool;  // one worker per usable CPU
    start = std::chrono::steady_clock::now();
    long parallel = 0;
    for (long count : pool.map(count_range, ranges)) parallel += count;
    const double pool_seconds = seconds_since(start);

    std::printf("primes below %ld: %ld serially in %.3f s, %ld on %zu processes in %.3f s (%.2fx)\n", bound, serial,
                serial_seconds, parallel, pool.max_workers(), pool_seconds, serial_seconds / pool_seconds);
    return serial == parallel ? 0 : 1;
}
