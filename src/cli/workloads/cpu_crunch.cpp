// tandem bench, workload 1 — CPU-bound, crunching numbers: count the primes in
// ranges of integers by trial division, one range per task. The lecture's
// first use case for processes; without a GIL, C++ threads do as well.
#include <fmt/core.h>  // fmt::format

#include "kernels.hpp"     // count_primes
#include "task_modes.hpp"  // run_task_modes, run_python_modes

namespace tandem::cli {

namespace {

struct Sizes {
    std::uint64_t first;         // the first number tested
    std::size_t ranges;          // tasks
    std::uint64_t length;        // numbers per range (C++)
    std::uint64_t python_length; // numbers per range (Python: ~30x slower per number)
    int repetitions;
};

constexpr Sizes kQuick{1'000'000, 32, 50'000, 1'500, 3};
constexpr Sizes kFull{1'000'000, 64, 100'000, 3'000, 5};

// A process pool task: the primes in [low, high).
std::uint64_t count_primes_task(std::uint64_t low, std::uint64_t high) { return count_primes(low, high); }

WorkloadResult run(const BenchContext& context) {
    const Sizes& sizes = context.quick() ? kQuick : kFull;
    WorkloadResult result{.name = "cpu_crunch", .kind = WorkloadKind::cpu,
                          .title = "CPU-bound, crunching numbers (the lecture: use processes)"};
    result.work = fmt::format("count the primes in {} ranges of {} numbers from {} by trial division, one range per task",
                              sizes.ranges, sizes.length, sizes.first);
    const auto low = [&](std::size_t i, std::uint64_t length) { return sizes.first + i * length; };

    run_task_modes(
        context, result, {.tasks = sizes.ranges, .workers = context.jobs, .repetitions = sizes.repetitions},
        [&](std::size_t i, const OptionalGil& gil) {
            return count_primes(low(i, sizes.length), low(i + 1, sizes.length), [&gil] { gil.tick(); });
        },
        [&](ProcessPoolExecutor& pool, std::size_t i) {
            return pool.submit(&count_primes_task, low(i, sizes.length), low(i + 1, sizes.length));
        });

    const auto python = run_python_modes(context, result,
                                         {{"first", sizes.first}, {"ranges", sizes.ranges},
                                          {"length", sizes.python_length}, {"repetitions", sizes.repetitions},
                                          {"workers", context.jobs}});
    // Python's answer is checked against C++ on Python's (smaller) ranges.
    if (python) {
        std::uint64_t expected = 0;
        for (std::size_t i = 0; i < sizes.ranges; ++i)
            expected += count_primes(low(i, sizes.python_length), low(i + 1, sizes.python_length));
        expect_same_work(result.name, "python", expected, *python);
    }
    return result;
}

}  // namespace

extern const Workload kCpuCrunch{"cpu_crunch", WorkloadKind::cpu, kQuick.repetitions, kFull.repetitions, &run};

}  // namespace tandem::cli
