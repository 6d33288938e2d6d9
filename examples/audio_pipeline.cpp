// The lecture's audio programming: a renderer thread produces blocks of
// samples into a bounded queue, and a real-time loop takes one block every
// 2.67 ms (128 samples at 48 kHz). A block not there in time is a glitch.
//
//     example_audio_pipeline [blocks]       (default 375, one second)
#include <algorithm>  // std::max
#include <array>      // a block of samples
#include <chrono>     // the audio clock
#include <cmath>      // std::sin
#include <cstdio>     // std::printf
#include <cstdlib>    // std::atoi
#include <thread>     // sleep_until

#include "tandem/threading.hpp"  // Thread, Queue, Empty, ShutDown

using Block = std::array<float, 128>;

int main(int argc, char** argv) {
    using Clock = std::chrono::steady_clock;
    const int blocks = argc > 1 ? std::atoi(argv[1]) : 375;
    tandem::threading::Queue<Block> queue(8);  // ~21 ms of audio between the threads
    tandem::threading::Thread renderer([&queue] {
        double phase = 0;
        try {
            for (;;) {
                Block block;
                for (float& sample : block) sample = static_cast<float>(0.3 * std::sin(phase += 0.0576));
                queue.put(block);  // blocks while the queue is full
            }
        } catch (const tandem::ShutDown&) {  // the loop is over
        }
    });
    renderer.start();
    while (queue.qsize() < 4) std::this_thread::yield();  // render a little ahead

    const auto period = std::chrono::microseconds(2667);
    const auto start = Clock::now();
    int missed = 0;
    double peak = 0;
    for (int k = 1; k <= blocks; ++k) {
        std::this_thread::sleep_until(start + k * period);  // the sound card asks for the next block
        try {
            const Block block = queue.get_nowait();
            peak = std::max(peak, static_cast<double>(block[0]));
        } catch (const tandem::Empty&) {
            ++missed;  // a glitch: nothing to play
        }
    }
    queue.shutdown(true);
    renderer.join();
    std::printf("%d blocks of 128 samples at 48 kHz: %d missed, peak %.2f\n", blocks, missed, peak);
    return 0;
}
