// The process half of tandem in one short program, in the lecture's terms:
// processes for CPU-bound work that must not share memory by accident, and
// that must survive a crash.
//
//   1. CPU-bound work on a ProcessPoolExecutor (map, chunked, in input order).
//   2. A task that crashes its worker (SIGSEGV) fails alone, with
//      WorkerCrashed; the pool replaces the worker and goes on. Python's
//      pool breaks as a whole here.
//   3. A task that hangs is stopped by its per-task timeout.
//   4. multiprocessing::Pool over spawned workers: apply_async with a
//      callback, and imap over an input read lazily.
#include <chrono>    // timings, the per-task timeout
#include <csignal>   // std::raise(SIGSEGV)
#include <cstdio>    // std::printf
#include <ranges>    // std::views::iota
#include <unistd.h>  // pause

#include "tandem/errors.hpp"                 // WorkerCrashed, TimeoutError
#include "tandem/init.hpp"                   // tandem::init: spawn and forkserver re-execute this program
#include "tandem/multiprocessing/pool.hpp"   // multiprocessing::Pool
#include "tandem/process_pool_executor.hpp"  // ProcessPoolExecutor

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
namespace mp = tandem::multiprocessing;

namespace {

double milliseconds_since(Clock::time_point start) {
    return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// A pure CPU loop the optimizer cannot drop.
long long crunch(long long n) {
    long long sum = 0;
    for (long long i = 0; i < n; ++i) sum += (i * i) % 7;
    return sum;
}

int crash(int) {
    std::raise(SIGSEGV);
    return 0;
}

int hang(int) {
    for (;;) ::pause();
}

int square(int x) { return x * x; }

}  // namespace

int main(int argc, char** argv) {
    tandem::init(argc, argv);  // first thing: a spawned worker becomes a worker here

    tandem::ProcessPoolExecutor pool(2);
    std::printf("1. CPU work on %zu worker processes\n", pool.max_workers());
    auto start = Clock::now();
    long long total = 0;
    for (long long part : pool.map(crunch, std::views::iota(0, 8) | std::views::transform([](int) { return 4'000'000LL; }),
                                   {.chunksize = 2}))
        total += part;
    std::printf("   8 x crunch(4M) = %lld in %.0f ms\n", total, milliseconds_since(start));

    std::printf("2. a task that segfaults its worker\n");
    auto crashed = pool.submit(crash, 0);
    auto fine = pool.submit(square, 12);
    try {
        crashed.result();
    } catch (const tandem::WorkerCrashed& error) {
        std::printf("   WorkerCrashed: %s\n", error.what());
    }
    std::printf("   the next task still runs: square(12) = %d\n", fine.result());

    std::printf("3. a task that hangs, with a 200 ms timeout\n");
    start = Clock::now();
    try {
        pool.submit_with({.timeout = 200ms}, hang, 0).result();
    } catch (const tandem::TimeoutError& error) {
        std::printf("   TimeoutError after %.0f ms: %s\n", milliseconds_since(start), error.what());
    }
    std::printf("   and the pool goes on: square(7) = %d\n", pool.submit(square, 7).result());

    std::printf("4. multiprocessing::Pool over spawned workers\n");
    mp::PoolOptions options;
    options.processes = 2;
    options.start_method = mp::StartMethod::spawn;
    mp::Pool spawned(options);
    auto async = spawned.apply_async({.callback = [](const int& value) { std::printf("   callback got %d\n", value); }},
                                     square, 9);
    async.wait();
    long long sum = 0;
    for (int value : spawned.imap(square, std::views::iota(1, 1001), 100)) sum += value;
    std::printf("   sum of squares 1..1000 through imap: %lld\n", sum);
}  // the pools drain and join their workers here
