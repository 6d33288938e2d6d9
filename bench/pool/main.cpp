// bench_pool — tandem's process pools side by side with Python's
// (bench/pool/python_pools.py, run in the same invocation), with tandem's own
// ThreadPoolExecutor (the price of isolation) and with the raw OS floors
// (../common/os_floor.hpp), on the workloads of issue 4:
//
//   (a) Pool.map of 200,000 tiny tasks, chunked, tasks/s
//   (b) 20,000 ProcessPoolExecutor.submit()s of tiny tasks, then wait, tasks/s
//   (c) 2,000 sequential submit -> result round trips, median µs
//   (d) a 64 MiB argument and a 64 MiB result, MiB/s of argument per round trip
//       (after one warm-up round trip, on both sides)
//   (e) pool start, one task, shutdown, 2 workers, per start method, median ms
//
//     bench_pool [--quick] [--no-python] [--workers N]
#include <cstddef>  // std::byte
#include <cstdio>   // printf
#include <cstdlib>  // std::abort, std::atoi
#include <cstring>  // std::strcmp
#include <map>      // Python's figures
#include <ranges>   // std::views::iota
#include <string>   // figure names
#include <vector>   // inputs, samples, payloads

#include "executor_workloads.hpp"                   // round trips, submits, large payloads, maps
#include "os_floor.hpp"                             // the raw floors
#include "report.hpp"                               // median, rows, the Python peer
#include "tandem/init.hpp"                          // tandem::init: spawn and forkserver
#include "tandem/multiprocessing/pool.hpp"          // Pool
#include "tandem/process_pool_executor.hpp"         // ProcessPoolExecutor
#include "tandem/thread_pool_executor.hpp"          // ThreadPoolExecutor

namespace mp = tandem::multiprocessing;
using namespace tandem_bench;  // median, row, lookup, Clock: bench/common

namespace {

int square(int x) { return x * x; }
void noop() {}

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
    row("(c) submit -> result round trip", round_trip_us(s), lookup(py, "round_trip_us"), pipe_floor, "us");
    row("(d) 64 MiB argument + result", big_round_trip_mib_per_s(s), lookup(py, "big_round_trip_mib_per_s"),
        std::nullopt, "MiB/s", Better::higher);
    std::printf("    floor: memcpy of 64 MiB %.0f MiB/s (a round trip copies at least twice)\n",
                tandem_bench::memcpy_gib_per_s(s.big_bytes, s.reps) * 1024.0);
    for (auto method : {mp::StartMethod::fork, mp::StartMethod::forkserver, mp::StartMethod::spawn}) {
        const std::string name(mp::start_method_name(method));
        row(("(e) start + 1 task + shutdown, " + name).c_str(), start_shutdown_ms(method, s),
            lookup(py, "start_shutdown_ms." + name), std::nullopt, "ms");
    }
    std::printf("floors: pipe ping-pong %.2f us, futex ping-pong %.2f us\n", pipe_floor,
                tandem_bench::futex_ping_pong_us(s.trips));
}
