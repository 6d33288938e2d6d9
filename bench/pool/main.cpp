// bench_pool — tandem's process pools side by side with Python's
// (bench/pool/python_pools.py, run in the same invocation), with tandem's own
// ThreadPoolExecutor (the price of isolation) and with the raw OS floors
// (../common/os_floor.hpp), on these workloads:
//
//   (a) Pool.map of 200,000 tiny tasks, chunked, tasks/s
//   (b) 20,000 ProcessPoolExecutor.submit()s of tiny tasks, then wait, tasks/s
//   (c) 2,000 sequential submit -> result round trips, median µs, beside
//       Open MPI's shared-memory ping-pong of the same bytes (bench_mpi_floor,
//       run under scripts/mpirun.sh -np 2 in the same invocation): the floor
//   (d) a 64 MiB argument and a 64 MiB result, MiB/s of argument per round trip
//       (after one warm-up round trip, on both sides), beside memcpy
//   (d') the same 64 MiB argument taken as std::span<const std::byte>, read
//       in place in the worker's spill buffer, a checksum back, beside memcpy
//   (e) pool start, one task, shutdown, 2 workers, per start method, median ms
//   (f) CPU used by the parent and by each worker while a pool sits idle for
//       one second after a task, in percent of one core
//
//     bench_pool [--quick] [--no-python] [--workers N]
#include <sys/resource.h>  // getrusage: the parent's CPU time
#include <sys/types.h>     // pid_t

#include <chrono>   // the idle second
#include <cstddef>  // std::byte
#include <cstdint>  // checksums
#include <cstdio>   // printf, reading /proc
#include <cstdlib>  // std::abort, std::atoi
#include <cstring>  // std::strcmp, std::memcpy
#include <map>      // Python's figures
#include <ranges>   // std::views::iota
#include <span>     // the in-place argument
#include <string>   // figure names, commands
#include <thread>   // sleep_for: the idle second
#include <vector>   // inputs, samples, payloads

#include "executor_workloads.hpp"            // round trips, submits, large payloads, maps
#include "os_floor.hpp"                      // the raw floors
#include "report.hpp"                        // median, rows, the Python peer
#include "tandem/init.hpp"                   // tandem::init: spawn and forkserver
#include "tandem/multiprocessing/pool.hpp"   // Pool
#include "tandem/process_pool_executor.hpp"  // ProcessPoolExecutor
#include "tandem/thread_pool_executor.hpp"   // ThreadPoolExecutor

namespace mp = tandem::multiprocessing;
using namespace tandem_bench;  // median, row, lookup, Clock: bench/common

namespace {

int square(int x) { return x * x; }
void noop() {}
// Reads every byte of its argument where it lies (the worker's spill buffer).
std::uint64_t checksum(std::span<const std::byte> bytes) {
    std::uint64_t sum = 0;
    for (std::size_t i = 0; i + 8 <= bytes.size(); i += 8) {
        std::uint64_t word;
        std::memcpy(&word, bytes.data() + i, sizeof word);
        sum += word;
    }
    return sum;
}

struct Settings {
    std::size_t workers = 2;
    int reps = 5;
    std::size_t map_inputs = 200'000;
    std::size_t submits = 20'000;
    std::size_t trips = 2'000;
    std::size_t big_bytes = std::size_t{64} << 20;
};

double pool_map_tasks_per_s(const Settings& s) {
    mp::Pool pool(s.workers);
    std::vector<double> samples;
    for (int rep = 0; rep < s.reps; ++rep) {
        const auto start = Clock::now();
        const auto results = pool.map(&square, std::views::iota(0, static_cast<int>(s.map_inputs)));
        samples.push_back(static_cast<double>(s.map_inputs) / (micros_since(start) / 1e6));
        if (results.size() != s.map_inputs || results[1000] != 1000 * 1000) std::abort();
    }
    return median(std::move(samples));
}

double thread_map_tasks_per_s(const Settings& s) {
    tandem::ThreadPoolExecutor pool(s.workers);
    return map_tasks_per_s(pool, s.map_inputs, default_chunksize(s.map_inputs, s.workers), s.reps);
}

// (b)
double submits_tasks_per_s(const Settings& s) {
    tandem::ProcessPoolExecutor pool(s.workers);
    return tandem_bench::submits_tasks_per_s(pool, s.submits, s.reps);
}

// (c)
double round_trip_us(const Settings& s) {
    tandem::ProcessPoolExecutor pool(s.workers);
    return tandem_bench::round_trip_us(pool, s.trips);
}

// (d)
double big_round_trip_mib_per_s(const Settings& s) {
    tandem::ProcessPoolExecutor pool(s.workers);
    return tandem_bench::big_round_trip_mib_per_s(pool, s.big_bytes, s.reps);
}

// (d'): MiB/s of argument per round trip, after one warm-up trip.
double span_round_trip_mib_per_s(const Settings& s) {
    tandem::ProcessPoolExecutor pool(s.workers);
    const std::vector<std::byte> payload(s.big_bytes, std::byte{7});
    const std::uint64_t expected = pool.submit(&checksum, payload).result();
    std::vector<double> samples;
    for (int rep = 0; rep < s.reps; ++rep) {
        const auto start = Clock::now();
        if (pool.submit(&checksum, payload).result() != expected) std::abort();
        samples.push_back(static_cast<double>(s.big_bytes) / (1024.0 * 1024.0) / (micros_since(start) / 1e6));
    }
    return median(std::move(samples));
}

// The size of the call (c) sends, for the MPI floor's message.
std::size_t square_call_bytes() {
    tandem::detail::HandoffWriter call;
    tandem::detail::encode_call(call, &tasks::square, 1);
    return call.byte_buffer().size();
}

// Open MPI's ping-pong (bench_mpi_floor under scripts/mpirun.sh), or nothing
// where MPI was not found at build time or mpirun fails.
std::map<std::string, double> mpi_floor(const Settings& s) {
#ifdef TANDEM_BENCH_MPI_FLOOR
    const std::string command = std::string(TANDEM_BENCH_MPIRUN) + " -np 2 " + TANDEM_BENCH_MPI_FLOOR + " " +
                                std::to_string(square_call_bytes()) + " " + std::to_string(s.trips) + " " +
                                std::to_string(s.big_bytes) + " " + std::to_string(s.reps) + " 2>/dev/null";
    return run_peer(command);
#else
    static_cast<void>(s);
    return {};
#endif
}

// A process's CPU time so far, in seconds: the scheduler's own count
// (/proc/PID/schedstat, nanoseconds), for a single-threaded worker.
double worker_cpu_seconds(pid_t pid) {
    const std::string path = "/proc/" + std::to_string(pid) + "/schedstat";
    FILE* file = std::fopen(path.c_str(), "r");
    if (file == nullptr) return 0;
    unsigned long long ns = 0;
    const int read = std::fscanf(file, "%llu", &ns);
    std::fclose(file);
    return read == 1 ? static_cast<double>(ns) / 1e9 : 0;
}

double own_cpu_seconds() {
    rusage usage{};
    ::getrusage(RUSAGE_SELF, &usage);
    return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
           static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

// (f): percent of one core, the parent first, then each worker.
std::vector<double> idle_cpu_percent(const Settings& s) {
    tandem::ProcessPoolExecutor pool(s.workers);
    pool.submit(&noop).result();
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // past every spin
    const std::vector<pid_t> pids = pool.worker_pids();
    std::vector<double> before{own_cpu_seconds()};
    for (pid_t pid : pids) before.push_back(worker_cpu_seconds(pid));
    const auto start = Clock::now();
    std::this_thread::sleep_for(std::chrono::seconds(1));
    const double seconds = micros_since(start) / 1e6;
    std::vector<double> percent{(own_cpu_seconds() - before[0]) / seconds * 100.0};
    for (std::size_t i = 0; i < pids.size(); ++i)
        percent.push_back((worker_cpu_seconds(pids[i]) - before[i + 1]) / seconds * 100.0);
    return percent;
}

// (e)
double start_shutdown_ms(mp::StartMethod method, const Settings& s) {
    std::vector<double> samples;
    for (int rep = 0; rep < 2 * s.reps; ++rep) {
        const auto start = Clock::now();
        {
            tandem::ProcessPoolExecutor pool({.max_workers = 2, .start_method = method});
            pool.submit(&noop).result();
        }
        samples.push_back(micros_since(start) / 1000.0);
    }
    return median(std::move(samples));
}

}  // namespace

int main(int argc, char** argv) {
    tandem::init(argc, argv);
    Settings s;
    bool quick = false, python = true;
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--quick") == 0) {
            quick = true;
        } else if (std::strcmp(argv[i], "--no-python") == 0) {
            python = false;
        } else if (std::strcmp(argv[i], "--workers") == 0 && i + 1 < argc) {
            s.workers = static_cast<std::size_t>(std::atoi(argv[++i]));
        } else {
            std::fprintf(stderr, "usage: bench_pool [--quick] [--no-python] [--workers N]\n");
            return 2;
        }
    }
    if (quick) s.reps = 3;
    const std::string arguments = (quick ? "--quick " : "") + std::string("--workers ") + std::to_string(s.workers);

    std::printf("tandem process pools vs Python %s, %zu workers, medians%s\n",
                python ? "(python3 bench/pool/python_pools.py)" : "(skipped)", s.workers, quick ? ", quick" : "");
    std::printf("(N.Nx) = how many times better tandem is; tandem/floor: 1.00 is the floor itself\n\n");
    const auto py = python ? tandem_bench::run_python(std::string(TANDEM_BENCH_DIR) + "/pool/python_pools.py", arguments)
                           : std::map<std::string, double>{};

    const double map_rate = pool_map_tasks_per_s(s);
    row("(a) Pool.map 200k tiny, chunked", map_rate, lookup(py, "pool_map_tasks_per_s"), std::nullopt, "tasks/s",
        Better::higher);
    const double thread_rate = thread_map_tasks_per_s(s);
    std::printf("    ThreadPoolExecutor.map, same chunks: %.0f tasks/s (process pool / thread pool %.2fx)\n",
                thread_rate, map_rate / thread_rate);
    row("(b) 20k submit, then wait", submits_tasks_per_s(s), lookup(py, "submit_tasks_per_s"), std::nullopt,
        "tasks/s", Better::higher);
    const double pipe_floor = tandem_bench::pipe_ping_pong_us(s.trips);
    const auto mpi = mpi_floor(s);
    const auto mpi_trip = lookup(mpi, "mpi_round_trip_us");
    row("(c) submit -> result round trip", round_trip_us(s), lookup(py, "round_trip_us"),
        mpi_trip ? mpi_trip : pipe_floor, "us");
    std::printf("    floor: %s\n", mpi_trip ? "Open MPI shared-memory ping-pong of the same bytes (mpirun -np 2)"
                                           : "pipe ping-pong (no MPI in this build)");
    const double memcpy_rate = tandem_bench::memcpy_gib_per_s(s.big_bytes, s.reps) * 1024.0;
    row("(d) 64 MiB argument + result", big_round_trip_mib_per_s(s), lookup(py, "big_round_trip_mib_per_s"),
        memcpy_rate, "MiB/s", Better::higher);
    std::printf("    floor: memcpy of 64 MiB, same run");
    if (const auto mpi_big = lookup(mpi, "mpi_big_mib_per_s")) {
        std::printf("; Open MPI moves 64 MiB there and back at %.0f MiB/s (%.2fx memcpy)", *mpi_big,
                    *mpi_big / memcpy_rate);
    }
    std::printf("\n");
    row("(d') 64 MiB std::span argument, in place", span_round_trip_mib_per_s(s), std::nullopt, memcpy_rate, "MiB/s",
        Better::higher);
    for (auto method : {mp::StartMethod::fork, mp::StartMethod::forkserver, mp::StartMethod::spawn}) {
        const std::string name(mp::start_method_name(method));
        row(("(e) start + 1 task + shutdown, " + name).c_str(), start_shutdown_ms(method, s),
            lookup(py, "start_shutdown_ms." + name), std::nullopt, "ms");
    }
    const std::vector<double> idle = idle_cpu_percent(s);
    std::printf("(f) CPU while idle for 1 s: parent %.2f%%", idle[0]);
    for (std::size_t i = 1; i < idle.size(); ++i) std::printf(", worker %zu %.2f%%", i, idle[i]);
    std::printf(" (of one core; target < 1%%)\n");
    std::printf("floors: pipe ping-pong %.2f us, futex ping-pong %.2f us\n", pipe_floor,
                tandem_bench::futex_ping_pong_us(s.trips));
}
