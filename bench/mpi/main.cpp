// bench_mpi — mpi::PoolExecutor side by side with a raw MPI ping-pong (the
// floor any executor over MPI stands on) and with the local
// ProcessPoolExecutor on the same cores, in one run:
//
//   (a) submit -> result round trip, median of 2000 sequential trips, vs a
//       raw MPI_Send/MPI_Recv ping-pong of the same sizes (an encoded call
//       there, an int back) between rank 0 and rank 1
//   (b) map of 200,000 tiny tasks with Python's chunksize, tasks/s
//   (c) 20,000 submits, then wait, tasks/s
//   (d) a 64 MiB argument and a 64 MiB result, MiB/s of argument, vs a raw
//       64 MiB ping-pong
//   (e) CPU used by each rank while the executor sits idle for one second
//
// The MPI figures come from a CommExecutor over MPI_COMM_WORLD (rank 0 the
// root, the other ranks serving), the local ones from a ProcessPoolExecutor
// with as many workers as there are serving ranks, run by rank 0 after MPI is
// finalized and the other ranks have exited, so that both see the same idle
// cores. Run it with scripts/bench-mpi.sh (scripts/mpirun.sh -np 3).
//
//     bench_mpi [--quick]
#include <sys/resource.h>  // getrusage: CPU time of a rank
#include <time.h>          // nanosleep: idle ranks wait without spinning

#include <cstddef>  // std::byte, std::size_t
#include <cstdio>   // printf
#include <cstdlib>  // std::abort
#include <cstring>  // std::strcmp
#include <map>      // CPU time per rank
#include <thread>   // sleep_for: the idle second, a measurement task
#include <utility>  // std::pair
#include <vector>   // samples, payloads

#include <mpi.h>  // the raw floor

#include "executor_workloads.hpp"            // the workloads, run on both executors
#include "mpi_floor.hpp"                     // the raw MPI ping-pongs
#include "report.hpp"                        // median, micros_since, Clock
#include "tandem/init.hpp"                   // tandem::init: the local pool's start methods
#include "tandem/mpi/pool_executor.hpp"      // CommExecutor, PoolExecutor
#include "tandem/process_pool_executor.hpp"  // the local peer

using namespace tandem_bench;  // the workloads, the MPI floors, median, micros_since, Clock: bench/common

namespace {

struct Settings {
    int reps = 5;
    std::size_t map_inputs = 200'000;
    std::size_t submits = 20'000;
    std::size_t trips = 2'000;
    std::size_t big_bytes = std::size_t{64} << 20;
};

// This rank's CPU time so far (user + system), after holding the rank for a
// moment so that a burst of these reaches every serving rank.
std::pair<int, double> cpu_seconds_here() {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    int rank = -1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    rusage usage{};
    ::getrusage(RUSAGE_SELF, &usage);
    const double seconds = static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
                           static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
    return {rank, seconds};
}

// A barrier that does not spin: ranks with nothing to do must not take the
// cores the measured ranks run on.
void sleepy_barrier(MPI_Comm comm) {
    MPI_Request request = MPI_REQUEST_NULL;
    MPI_Ibarrier(comm, &request);
    for (int done = 0; MPI_Test(&request, &done, MPI_STATUS_IGNORE), done == 0;) {
        const timespec pause{0, 200'000};
        ::nanosleep(&pause, nullptr);
    }
}

// CPU seconds of every serving rank, as they report it.
std::map<int, double> serving_cpu(tandem::mpi::PoolExecutor& pool) {
    std::vector<tandem::Future<std::pair<int, double>>> probes;
    for (std::size_t i = 0; i < 2 * pool.max_workers(); ++i) probes.push_back(pool.submit(&cpu_seconds_here));
    std::map<int, double> cpu;
    for (auto& probe : probes) {
        const auto& [rank, seconds] = probe.result();
        cpu[rank] = std::max(cpu[rank], seconds);
    }
    return cpu;
}

// (e): CPU used over one idle second, in percent of one core, by rank.
std::map<int, double> idle_cpu_percent(tandem::mpi::PoolExecutor& pool) {
    const std::map<int, double> before = serving_cpu(pool);
    const double root_before = cpu_seconds_here().second;
    std::this_thread::sleep_for(std::chrono::seconds(1));
    const double root_after = cpu_seconds_here().second;
    const std::map<int, double> after = serving_cpu(pool);
    std::map<int, double> percent{{0, (root_after - root_before) * 100.0}};
    // The probes' own 50 ms hold counts for nothing: they sleep.
    for (const auto& [rank, seconds] : after) percent[rank] = (seconds - before.at(rank)) * 100.0;
    return percent;
}

struct Figures {
    double round_trip_us = 0;
    double map_rate = 0;
    double submit_rate = 0;
    double big_rate = 0;
};

// The workloads of bench/common/executor_workloads.hpp, each after a warm-up.
template <class Executor>
Figures measure(Executor& pool, const Settings& s) {
    Figures f;
    round_trip_us(pool, 100);
    f.round_trip_us = round_trip_us(pool, s.trips);
    const std::size_t chunksize = default_chunksize(s.map_inputs, pool.max_workers());
    map_tasks_per_s(pool, s.map_inputs, chunksize, 1);
    f.map_rate = map_tasks_per_s(pool, s.map_inputs, chunksize, s.reps);
    f.submit_rate = submits_tasks_per_s(pool, s.submits, s.reps);
    f.big_rate = big_round_trip_mib_per_s(pool, s.big_bytes, s.reps);
    return f;
}

}  // namespace

int main(int argc, char** argv) {
    tandem::init(argc, argv);  // before MPI: the local pool's forkserver re-executes this program
    Settings s;
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--quick") == 0) {
            s.reps = 3;
            s.trips = 1000;
        } else {
            std::fprintf(stderr, "usage: bench_mpi [--quick]   (under mpirun: scripts/bench-mpi.sh)\n");
            return 2;
        }
    }
    int provided = 0;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_SERIALIZED, &provided);
    int rank = 0;
    int size = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (size < 2) {
        std::fprintf(stderr, "bench_mpi needs at least 2 ranks: scripts/bench-mpi.sh runs it with mpirun -np 3\n");
        MPI_Finalize();
        return 2;
    }
    const std::size_t call_bytes = tandem::detail::mpi::encode_task(&tasks::square, 1).size();

    // The floors: ranks 0 and 1 ping-pong, the others wait without spinning.
    MPI_Comm raw = MPI_COMM_NULL;
    MPI_Comm_dup(MPI_COMM_WORLD, &raw);
    double raw_trip = 0;
    double raw_big = 0;
    if (rank <= 1) {
        MPI_Comm pair = MPI_COMM_NULL;
        MPI_Comm_split(raw, 0, rank, &pair);
        raw_trip = mpi_round_trip_us(pair, call_bytes, s.trips);
        raw_big = mpi_big_mib_per_s(pair, s.big_bytes, s.reps);
        MPI_Comm_free(&pair);
    } else {
        MPI_Comm none = MPI_COMM_NULL;
        MPI_Comm_split(raw, MPI_UNDEFINED, rank, &none);
    }
    sleepy_barrier(raw);
    MPI_Comm_free(&raw);

    Figures mpi;
    std::map<int, double> idle;
    std::size_t workers = 0;
    {
        tandem::mpi::CommExecutor comm_executor(MPI_COMM_WORLD, 0);
        if (tandem::mpi::PoolExecutor* pool = comm_executor.executor()) {
            workers = pool->max_workers();
            mpi = measure(*pool, s);
            idle = idle_cpu_percent(*pool);
        }
    }
    sleepy_barrier(MPI_COMM_WORLD);
    MPI_Finalize();
    if (rank != 0) return 0;

    // The local peer, with MPI gone and the other ranks exited.
    Figures local;
    {
        tandem::ProcessPoolExecutor pool(workers);
        local = measure(pool, s);
    }

    std::printf("mpi::PoolExecutor (%zu serving ranks) vs raw MPI and the local ProcessPoolExecutor (%zu workers), "
                "medians%s\n\n",
                workers, workers, s.reps == 3 ? ", quick" : "");
    std::printf("%-34s %14s %14s %14s  %s\n", "", "mpi executor", "raw MPI", "process pool", "ratio");
    std::printf("%-34s %11.2f us %11.2f us %11.2f us  %.2fx raw MPI (target <= 2x)\n", "(a) round trip", mpi.round_trip_us,
                raw_trip, local.round_trip_us, mpi.round_trip_us / raw_trip);
    std::printf("%-34s %9.2f Mt/s %14s %9.2f Mt/s  %.2fx slower than the process pool (target <= 1.5x)\n",
                "(b) map 200k tiny tasks, chunked", mpi.map_rate / 1e6, "", local.map_rate / 1e6,
                local.map_rate / mpi.map_rate);
    std::printf("%-34s %10.0fk/s %14s %10.0fk/s  %.2fx slower than the process pool\n", "(c) 20k submits, then wait",
                mpi.submit_rate / 1e3, "", local.submit_rate / 1e3, local.submit_rate / mpi.submit_rate);
    std::printf("%-34s %8.0f MiB/s %8.0f MiB/s %8.0f MiB/s  %.2fx raw MPI\n", "(d) 64 MiB argument + result",
                mpi.big_rate, raw_big, local.big_rate, raw_big / mpi.big_rate);
    std::printf("(e) CPU while idle for 1 s:");
    for (const auto& [where, percent] : idle) std::printf("  rank %d %.1f%%", where, percent);
    std::printf("  (of one core; the serving ranks poll with a backoff up to 1 ms)\n");
    std::printf("raw MPI: MPI_Send/MPI_Recv between ranks 0 and 1, %zu bytes there (one encoded call), 4 back\n",
                call_bytes);
}
