// The threading half of tandem in one short program, in the lecture's terms:
// threads for waiting (I/O), and — with no GIL — for CPU work too.
//
//   1. A producer/consumer pipeline over threading::Queue, ended with shutdown().
//   2. I/O-like waits overlapped by a ThreadPoolExecutor (map, in input order).
//   3. CPU-bound work spread over the pool's workers.
//   4. Recursive fork-join on a ONE-worker pool: each task waits on its
//      children's futures, which deadlocks in Python and works here.
//   5. threading::Thread, Event and Barrier coordinating a start signal.
#include <chrono>   // timings and waits
#include <cstdio>   // std::printf
#include <deque>    // Threads are not movable: a deque builds them in place
#include <numeric>  // std::iota
#include <string>   // work items
#include <thread>   // std::this_thread::sleep_for, the stand-in for slow I/O
#include <vector>   // inputs and threads

#include "tandem/thread_pool_executor.hpp"  // ThreadPoolExecutor, Future
#include "tandem/threading.hpp"             // Thread, Queue, Event, Barrier

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

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

long fibonacci(tandem::ThreadPoolExecutor& pool, int n) {
    if (n < 16) return n < 2 ? n : fibonacci(pool, n - 1) + fibonacci(pool, n - 2);
    auto left = pool.submit(fibonacci, std::ref(pool), n - 1);
    auto right = pool.submit(fibonacci, std::ref(pool), n - 2);
    return left.result() + right.result();  // a worker waiting here runs other tasks
}

void pipeline() {
    tandem::threading::Queue<std::string> lines(8);  // bounded: holds the producer back
    int handled = 0;
    tandem::threading::Thread consumer([&] {
        try {
            for (;;) {
                handled += static_cast<int>(!lines.get().empty());
                lines.task_done();
            }
        } catch (const tandem::ShutDown&) {
        }
    });
    consumer.start();
    for (int i = 0; i < 1000; ++i) lines.put("line " + std::to_string(i));
    lines.join();  // every line handled
    lines.shutdown();
    consumer.join();
    std::printf("1. pipeline: 1000 lines through a Queue(maxsize=8), %d handled, then shutdown()\n", handled);
}

void overlapped_waits(tandem::ThreadPoolExecutor& pool) {
    const auto start = Clock::now();
    std::vector<int> requests(16);
    std::iota(requests.begin(), requests.end(), 0);
    int answered = 0;
    for (int reply : pool.map(
             [](int request) {
                 std::this_thread::sleep_for(20ms);  // a 20 ms network call
                 return request;
             },
             requests)) {
        answered += reply == answered;  // results come back in input order
    }
    std::printf("2. I/O: 16 waits of 20 ms on %zu threads took %.0f ms (serially: 320 ms), %d in order\n",
                pool.max_workers(), milliseconds_since(start), answered);
}

void cpu_work(tandem::ThreadPoolExecutor& pool) {
    constexpr long long n = 20'000'000;
    auto start = Clock::now();
    long long serial = 0;
    for (int i = 0; i < 4; ++i) serial += crunch(n + i);
    const double serial_ms = milliseconds_since(start);
    start = Clock::now();
    std::vector<tandem::Future<long long>> parts;
    for (int i = 0; i < 4; ++i) parts.push_back(pool.submit(crunch, n + i));
    long long parallel = 0;
    for (auto& part : parts) parallel += part.result();
    std::printf("3. CPU: 4 equal loops, serial %.0f ms, on the pool %.0f ms (%u cores), same sum: %s\n", serial_ms,
                milliseconds_since(start), std::thread::hardware_concurrency(), serial == parallel ? "yes" : "NO");
}

void nested_waits() {
    tandem::ThreadPoolExecutor one_worker(1);
    const auto start = Clock::now();
    const long result = one_worker.submit(fibonacci, std::ref(one_worker), 27).result(30s);
    std::printf("4. fork-join: fib(27) = %ld with tasks waiting on tasks, on ONE worker, in %.0f ms\n", result,
                milliseconds_since(start));
}

void start_signal() {
    tandem::threading::Event go;
    tandem::threading::Barrier ready(4);
    std::deque<tandem::threading::Thread> runners;
    int arrivals[3] = {};
    for (int i = 0; i < 3; ++i) {
        runners.emplace_back(tandem::threading::ThreadOptions{.name = "runner-" + std::to_string(i)}, [&, i] {
            arrivals[i] = ready.wait();  // everyone at the line
            go.wait(10s);
        });
    }
    for (auto& runner : runners) runner.start();
    ready.wait();
    go.set();
    for (auto& runner : runners) runner.join();
    std::printf("5. threads: 3 named threads met at a Barrier (arrival indices %d %d %d) and started on an Event\n",
                arrivals[0], arrivals[1], arrivals[2]);
}

}  // namespace

int main() {
    std::printf("tandem threading tour\n");
    pipeline();
    tandem::ThreadPoolExecutor pool({.max_workers = 8, .thread_name_prefix = "tour"});
    overlapped_waits(pool);
    cpu_work(pool);
    nested_waits();
    start_signal();
}
