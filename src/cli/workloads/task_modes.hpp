// tandem bench: the four C++ modes of a workload made of independent tasks
// (crunching, preprocessing, HTTP GETs, file reads): serial, a thread pool, the
// same pool with each task under the emulated GIL, and a process pool.
//
// Pools are started before the clock starts and reused by every repetition,
// as a program would keep its pool; what starting them costs is the
// "overheads" workload's subject.
#pragma once

#include <cstddef>  // std::size_t
#include <cstdint>  // checksums
#include <string>   // names
#include <vector>   // futures

#include "../python_runner.hpp"              // PythonRunner, add_python_modes
#include "optional_gil.hpp"                  // OptionalGil
#include "tandem/interpreter_lock.hpp"       // InterpreterLock
#include "tandem/process_pool_executor.hpp"  // ProcessPoolExecutor
#include "tandem/thread_pool_executor.hpp"   // ThreadPoolExecutor
#include "workload.hpp"                      // BenchContext, time_in_rounds, expect_same_work

namespace tandem::cli {

/// The shape of a task workload's run.
struct TaskModesSpec {
    std::size_t tasks = 0;        // tasks per run
    std::size_t workers = 1;      // threads and processes
    int repetitions = 3;          // runs per mode (the median counts)
};

/// A process pool's first task, so that timing starts with warm workers.
inline int warm_up() { return 0; }

/// Runs the four C++ modes into `result` and returns the serial checksum.
/// `task(i, gil)` does task i and returns its checksum (gil inactive except
/// in threads_gil); `submit(pool, i)` submits task i to a process pool and
/// returns its Future<std::uint64_t>. The modes run in rounds (time_in_rounds),
/// one progress step per round.
template <class Task, class Submit>
std::uint64_t run_task_modes(const BenchContext& context, WorkloadResult& result, const TaskModesSpec& spec,
                             Task&& task, Submit&& submit) {
    ThreadPoolExecutor threads(spec.workers);
    InterpreterLock gil;
    ProcessPoolExecutor processes(spec.workers);
    {
        std::vector<Future<int>> warm;
        for (std::size_t i = 0; i < spec.workers; ++i) warm.push_back(processes.submit(&warm_up));
        for (auto& future : warm) future.result();
    }
    const auto sum_of = [&](auto&& futures) {
        std::uint64_t sum = 0;
        for (auto& future : futures) sum += future.result();
        return sum;
    };
    const auto on_threads = [&](auto&& one) {
        std::vector<Future<std::uint64_t>> futures;
        futures.reserve(spec.tasks);
        for (std::size_t i = 0; i < spec.tasks; ++i) futures.push_back(threads.submit(one, i));
        return sum_of(futures);
    };
    std::vector<TimedMode> modes;
    modes.push_back({"serial", 1, [&] {
                         std::uint64_t sum = 0;
                         for (std::size_t i = 0; i < spec.tasks; ++i) sum += task(i, OptionalGil());
                         return sum;
                     }});
    modes.push_back({"threads", spec.workers, [&] {
                         return on_threads([&task](std::size_t i) { return task(i, OptionalGil()); });
                     }});
    modes.push_back({"threads_gil", spec.workers, [&] {
                         return on_threads([&task, &gil](std::size_t i) {
                             InterpreterLock::Holder held(gil);
                             return task(i, OptionalGil(gil));
                         });
                     }});
    modes.push_back({"processes", spec.workers, [&] {
                         std::vector<Future<std::uint64_t>> futures;
                         futures.reserve(spec.tasks);
                         for (std::size_t i = 0; i < spec.tasks; ++i) futures.push_back(submit(processes, i));
                         return sum_of(futures);
                     }});
    std::uint64_t checksum = 0;
    for (ModeResult& mode : time_in_rounds(result.name, std::move(modes), spec.repetitions, context, checksum)) {
        if (mode.mode == "threads_gil") mode.set_figure("gil_switches", static_cast<double>(gil.switch_count()));
        result.modes.push_back(std::move(mode));
    }
    return checksum;
}

/// Runs the workload's Python script (when Python is available) and adds its
/// modes; returns the checksum it reported. Counts one progress step.
inline std::optional<std::uint64_t> run_python_modes(const BenchContext& context, WorkloadResult& result,
                                                     const nlohmann::json& parameters) {
    if (context.python == nullptr) return std::nullopt;
    const auto checksum = add_python_modes(result, context.python->run(result.name, parameters));
    context.step("");
    return checksum;
}

}  // namespace tandem::cli
