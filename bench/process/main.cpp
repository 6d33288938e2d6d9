// bench_process — tandem's process half side by side with Python's
// multiprocessing (bench/process/python_multiprocessing.py, run in the same
// invocation) and with the raw OS floors (os_floor.hpp), on these workloads:
//
//   start + join of a process that does nothing, per start method
//   Pipe round trip (send an int, the child sends it back), median
//   Queue round trip (put an int, the child puts it back), median
//   SharedMemory copy bandwidth vs memcpy between private buffers
//
//     bench_process [--quick] [--no-python]
#include <cstdio>    // printf
#include <cstdlib>   // std::abort
#include <cstring>   // std::strcmp, std::memcpy
#include <map>       // Python's figures by name
#include <optional>  // a figure without a floor
#include <string>    // figure names
#include <vector>    // samples

#include "os_floor.hpp"                              // the raw floors
#include "report.hpp"                                // median, rows, the Python peer
#include "tandem/init.hpp"                           // tandem::init: spawn and forkserver
#include "tandem/multiprocessing/connection.hpp"     // Pipe, Connection
#include "tandem/multiprocessing/context.hpp"        // StartMethod
#include "tandem/multiprocessing/process.hpp"        // Process
#include "tandem/multiprocessing/queues.hpp"         // Queue
#include "tandem/multiprocessing/shared_memory.hpp"  // SharedMemory

namespace mp = tandem::multiprocessing;
using namespace tandem_bench;  // median, row, lookup, Clock: bench/common

namespace {

void noop() {}

void pipe_echo(mp::Connection connection, std::size_t count) {
    for (std::size_t i = 0; i < count; ++i) connection.send(connection.recv<int>());
}

void queue_echo(mp::Queue<int> requests, mp::Queue<int> replies, std::size_t count) {
    for (std::size_t i = 0; i < count; ++i) replies.put(requests.get());
}

double start_join_us(mp::StartMethod method, int reps) {
    std::vector<double> samples;
    for (int rep = 0; rep < reps; ++rep) {
        const auto start = Clock::now();
        mp::Process process({.start_method = method}, &noop);
        process.start();
        process.join();
        samples.push_back(micros_since(start));
    }
    return median(std::move(samples));
}

double pipe_round_trip_us(std::size_t count) {
    auto [here, there] = mp::Pipe();
    mp::Process child(&pipe_echo, std::move(there), count);
    child.start();
    std::vector<double> samples(count);
    for (std::size_t i = 0; i < count; ++i) {
        const auto start = Clock::now();
        here.send(static_cast<int>(i));
        if (here.recv<int>() != static_cast<int>(i)) std::abort();
        samples[i] = micros_since(start);
    }
    child.join();
    return median(std::move(samples));
}

double queue_round_trip_us(std::size_t count) {
    mp::Queue<int> requests, replies;
    mp::Process child(&queue_echo, requests, replies, count);
    child.start();
    std::vector<double> samples(count);
    for (std::size_t i = 0; i < count; ++i) {
        const auto start = Clock::now();
        requests.put(static_cast<int>(i));
        if (replies.get() != static_cast<int>(i)) std::abort();
        samples[i] = micros_since(start);
    }
    child.join();
    return median(std::move(samples));
}

double shared_memory_gib_per_s(std::size_t bytes, int reps) {
    mp::SharedMemory segment(std::nullopt, true, bytes);
    std::vector<std::byte> source(bytes, std::byte{1});
    std::span<std::byte> target = segment.buf();
    std::memset(target.data(), 0, bytes);  // fault the pages in before timing
    std::vector<double> samples;
    for (int rep = 0; rep < reps; ++rep) {
        const auto start = Clock::now();
        std::memcpy(target.data(), source.data(), bytes);
        samples.push_back(static_cast<double>(bytes) / (micros_since(start) / 1e6) / (1024.0 * 1024.0 * 1024.0));
    }
    segment.close();
    segment.unlink();
    return median(std::move(samples));
}

}  // namespace

int main(int argc, char** argv) {
    tandem::init(argc, argv);
    bool quick = false, python = true;
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--quick") == 0) {
            quick = true;
        } else if (std::strcmp(argv[i], "--no-python") == 0) {
            python = false;
        } else {
            std::fprintf(stderr, "usage: bench_process [--quick] [--no-python]\n");
            return 2;
        }
    }
    const int starts = quick ? 10 : 30;
    const std::size_t trips = quick ? 2'000 : 20'000;
    const std::size_t segment = std::size_t{64} << 20;

    std::printf("tandem multiprocessing vs Python %s and the raw OS floor, medians%s\n",
                python ? "(python3 bench/process/python_multiprocessing.py)" : "(skipped)", quick ? ", quick sizes" : "");
    std::printf("(N.Nx) = python/tandem: how many times faster tandem is; tandem/floor: 1.00 is the floor itself\n\n");
    const auto py = python ? tandem_bench::run_python(std::string(TANDEM_BENCH_DIR) + "/process/python_multiprocessing.py",
                                                      quick ? "--quick" : "")
                           : std::map<std::string, double>{};

    const double fork_floor = tandem_bench::fork_wait_us(starts);
    for (auto method : {mp::StartMethod::fork, mp::StartMethod::forkserver, mp::StartMethod::spawn}) {
        const std::string name(mp::start_method_name(method));
        row(("start + join, " + name).c_str(), start_join_us(method, starts), lookup(py, "start_join_us." + name),
            method == mp::StartMethod::spawn ? std::nullopt : std::optional(fork_floor), "us");
    }
    const double pipe_floor = tandem_bench::pipe_ping_pong_us(trips);
    row("Pipe round trip", pipe_round_trip_us(trips), lookup(py, "pipe_round_trip_us"), pipe_floor, "us");
    row("Queue round trip", queue_round_trip_us(trips), lookup(py, "queue_round_trip_us"), pipe_floor, "us");
    const double copy = shared_memory_gib_per_s(segment, 9);
    const double memcpy_floor = tandem_bench::memcpy_gib_per_s(segment, 9);
    std::printf("%-34s tandem %9.2f GiB/s | floor (memcpy) %.2f GiB/s (tandem/floor %.2fx)\n",
                "SharedMemory copy, 64 MiB", copy, memcpy_floor, copy / memcpy_floor);
    std::printf("floors: fork+waitpid %.0f us, pipe ping-pong %.2f us, futex ping-pong %.2f us\n", fork_floor,
                pipe_floor, tandem_bench::futex_ping_pong_us(trips));
}
