// The lecture's "don't be blocked by slow tasks" (a GUI): a loop that must
// tick every 10 ms hands slow work to a worker thread and stays on time.
//
//     example_responsive_loop [ticks]       (default 50)
#include <algorithm>  // std::max
#include <atomic>     // the work counter
#include <chrono>     // ticks and delays
#include <cstdio>     // std::printf
#include <cstdlib>    // std::atoi
#include <thread>     // sleep_until

#include "tandem/threading.hpp"  // Thread, Event

namespace {

long slow_task(long n) {  // ~tens of milliseconds of CPU work
    long sum = 0;
    for (long i = 0; i < n; ++i) sum += i % 7 * (i % 11);
    return sum;
}

}  // namespace

int main(int argc, char** argv) {
    using Clock = std::chrono::steady_clock;
    const int ticks = argc > 1 ? std::atoi(argv[1]) : 50;
    tandem::threading::Event stop;
    std::atomic<long> finished{0};
    tandem::threading::Thread worker([&] {
        for (long n = 20'000'000; !stop.is_set(); ++n) finished += slow_task(n) > 0;
    });
    worker.start();

    const auto period = std::chrono::milliseconds(10);
    auto due = Clock::now() + period;
    double worst_ms = 0;
    for (int tick = 0; tick < ticks; ++tick, due += period) {
        std::this_thread::sleep_until(due);  // the event loop waits for its next frame
        worst_ms = std::max(worst_ms, std::chrono::duration<double, std::milli>(Clock::now() - due).count());
    }
    stop.set();
    worker.join();
    std::printf("%d ticks of 10 ms while a worker thread finished %ld slow tasks: worst delay %.2f ms\n", ticks,
                finished.load(), worst_ms);
    return 0;
}
