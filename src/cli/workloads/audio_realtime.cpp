// tandem bench, workload 8 — audio programming: a real-time loop takes one
// block of 128 samples every 2.67 ms (48 kHz), fed by a worker thread that
// renders them, while other threads keep the CPUs busy. Blocks travel through
// a lock-free single-producer/single-consumer ring, or a mutex-guarded queue,
// or a queue under the emulated GIL. A block that is not there in time, or
// taken more than a period late, is a missed deadline (an audible glitch).
#include <fmt/core.h>  // fmt::format

#include <array>      // blocks
#include <atomic>     // stop flags
#include <cmath>      // std::sin
#include <deque>      // the mutex-guarded queue
#include <memory>     // the load threads
#include <mutex>      // the mutex-guarded queue
#include <numbers>    // std::numbers::pi
#include <pthread.h>  // pthread_setschedparam: a real-time callback
#include <thread>     // sleep_until: the audio clock

#include "kernels.hpp"                  // count_primes: the load
#include "spsc_ring.hpp"                // SpscRing
#include "tandem/threading/thread.hpp"  // threading::Thread
#include "task_modes.hpp"               // InterpreterLock, run_python_modes
#include "tick_stats.hpp"               // TickStats

namespace tandem::cli {

namespace {

constexpr std::size_t kFrames = 128;
constexpr int kRate = 48000;
constexpr std::size_t kQueueBlocks = 8;  // room between the renderer and the callback (~21 ms)
constexpr std::size_t kPrefill = 4;      // blocks rendered before the clock starts
using Block = std::array<float, kFrames>;

struct Sizes {
    std::chrono::milliseconds duration;  // per mode
};

constexpr Sizes kQuick{std::chrono::milliseconds(750)};
constexpr Sizes kFull{std::chrono::milliseconds(3000)};

// The renderer's work: two partials, phase-continuous from block to block.
class Synth {
public:
    Block next() {
        Block block;
        for (float& sample : block) {
            sample = static_cast<float>(0.3 * std::sin(phase_) + 0.2 * std::sin(2.01 * phase_));
            phase_ += 2 * std::numbers::pi * 440.0 / kRate;
        }
        return block;
    }

private:
    double phase_ = 0;
};

// The textbook queue: a deque behind a mutex.
class MutexQueue {
public:
    bool try_push(const Block& block) {
        std::lock_guard lock(mutex_);
        if (blocks_.size() + 1 >= kQueueBlocks) return false;
        blocks_.push_back(block);
        return true;
    }
    bool try_pop(Block& block) {
        std::lock_guard lock(mutex_);
        if (blocks_.empty()) return false;
        block = blocks_.front();
        blocks_.pop_front();
        return true;
    }
    std::size_t size() {
        std::lock_guard lock(mutex_);
        return blocks_.size();
    }

private:
    std::mutex mutex_;
    std::deque<Block> blocks_;
};

// Runs the audio loop for `duration` with `load` CPU-bound threads beside it;
// with `gil`, every thread runs its code under it (the callback included).
template <class Queue>
TickStats run_audio(Queue& queue, const Sizes& sizes, std::size_t load, InterpreterLock* gil) {
    std::atomic<bool> stop{false};
    std::vector<std::unique_ptr<threading::Thread>> threads;
    for (std::size_t i = 0; i < load; ++i) {
        threads.push_back(std::make_unique<threading::Thread>([&stop, gil] {
            std::optional<InterpreterLock::Holder> held;
            if (gil) held.emplace(*gil);
            for (std::uint64_t low = 1'000'000; !stop.load(std::memory_order_relaxed); low += 20'000)
                keep_result(count_primes(low, low + 20'000, [gil] { if (gil) gil->checkpoint(); }));
        }));
    }
    threads.push_back(std::make_unique<threading::Thread>([&stop, &queue, gil] {
        Synth synth;
        std::optional<Block> rendered;
        while (!stop.load(std::memory_order_relaxed)) {
            bool pushed = false;
            {
                std::optional<InterpreterLock::Holder> held;
                if (gil) held.emplace(*gil);
                if (!rendered) rendered = synth.next();
                pushed = queue.try_push(*rendered);
            }
            if (pushed) {
                rendered.reset();
            } else {
                // Full: come back when the callback has taken a block or two.
                std::this_thread::sleep_for(std::chrono::microseconds(500));
            }
        }
    }));
    for (auto& thread : threads) thread->start();

    // The callback runs in a thread of its own, at a real-time priority
    // where the system allows it, as audio servers (JACK, PipeWire) run theirs.
    TickStats stats;
    bool realtime = false;
    const auto period = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(
        static_cast<double>(kFrames) / kRate));
    const double period_seconds = std::chrono::duration<double>(period).count();
    threading::Thread callback([&] {
        sched_param priority{};
        priority.sched_priority = 10;
        realtime = ::pthread_setschedparam(::pthread_self(), SCHED_FIFO, &priority) == 0;
        const auto give_up = Clock::now() + std::chrono::seconds(10);
        while (queue.size() < kPrefill && Clock::now() < give_up)
            std::this_thread::sleep_for(std::chrono::microseconds(200));
        const auto start = Clock::now();
        const auto blocks =
            static_cast<std::size_t>(std::chrono::duration<double>(sizes.duration).count() / period_seconds);
        double output = 0;
        for (std::size_t k = 1; k <= blocks && interrupt_signal() == 0; ++k) {
            const auto due = start + k * period;
            std::this_thread::sleep_until(due);
            std::optional<InterpreterLock::Holder> held;
            if (gil) held.emplace(*gil);
            Block block;
            const bool got = queue.try_pop(block);
            const double delay = std::chrono::duration<double>(Clock::now() - due).count();
            if (got) output += block[0];
            stats.delays.push_back(delay);
            ++stats.ticks;
            if (!got || delay > period_seconds) ++stats.missed;
        }
        keep_result(static_cast<std::uint64_t>(output * 1000 + 1e9));
    });
    callback.start();
    callback.join();
    stop = true;
    for (auto& thread : threads) thread->join();
    check_interrupt();
    stats.realtime = realtime;
    return stats;
}

WorkloadResult run(const BenchContext& context) {
    const Sizes& sizes = context.quick() ? kQuick : kFull;
    const std::size_t load = context.jobs;
    const double period = static_cast<double>(kFrames) / kRate;
    WorkloadResult result{.name = "audio_realtime", .kind = WorkloadKind::latency,
                          .title = "Audio programming: a real-time loop fed by a worker thread (the lecture: use threads)"};
    result.work = fmt::format(
        "a callback takes a {}-sample block every {:.2f} ms ({} Hz) for {} ms from a renderer thread, with {} "
        "CPU-bound threads beside them; blocks pass through a lock-free SPSC ring, a mutex-guarded deque, or a "
        "mutex-guarded deque with every thread under the emulated GIL ({} blocks of room, {} rendered ahead); the "
        "callback thread asks for real-time priority (SCHED_FIFO)",
        kFrames, period * 1e3, kRate, sizes.duration.count(), load, kQueueBlocks - 1, kPrefill);

    const auto add = [&](std::string mode, const TickStats& stats) {
        ModeResult entry = stats.to_mode(std::move(mode), 1, period);
        entry.set_figure("load_threads", static_cast<double>(load));
        entry.set_figure("realtime_priority", stats.realtime ? 1 : 0);
        result.modes.push_back(std::move(entry));
    };
    {
        SpscRing<Block, kQueueBlocks> ring;
        add("spsc_ring", run_audio(ring, sizes, load, nullptr));
    }
    context.step("mutex queue");
    {
        MutexQueue queue;
        add("mutex_queue", run_audio(queue, sizes, load, nullptr));
    }
    context.step("under the GIL");
    {
        MutexQueue queue;
        InterpreterLock gil;
        add("threads_gil", run_audio(queue, sizes, load, &gil));
    }
    context.step("Python");

    run_python_modes(context, result,
                     {{"frames", kFrames}, {"rate", kRate}, {"duration_ms", sizes.duration.count()},
                      {"queue_blocks", kQueueBlocks}, {"prefill", kPrefill}, {"load_threads", load}});
    return result;
}

}  // namespace

extern const Workload kAudioRealtime{"audio_realtime", WorkloadKind::latency, 3, 3, &run};

}  // namespace tandem::cli
