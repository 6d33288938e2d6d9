// tandem bench: what every workload shares — the run's settings, the list of
// workloads, and timing modes in rounds of repetitions.
//
// A workload runs its C++ modes, then (when Python is available) its Python
// script, and returns every mode's figures. Sizes depend on the preset:
// --quick keeps the whole bench under a minute on two cores, --full measures
// longer for steadier figures. Results of every mode are checked against the
// serial mode's (a checksum of the work), so that no mode can look fast by
// doing less.
#pragma once

#include <chrono>       // timing
#include <cstddef>      // std::size_t
#include <cstdint>      // checksums
#include <functional>   // the progress callback
#include <stdexcept>    // std::logic_error for a mode that computed something else
#include <string>       // mode names
#include <string_view>  // names
#include <vector>       // samples, the workload list

#include "../interrupt.hpp"  // check_interrupt between repetitions
#include "../report.hpp"     // WorkloadResult, ModeResult, WorkloadKind

namespace tandem::cli {

class PythonRunner;

/// --quick or --full.
enum class Preset { quick, full };

/// What the bench hands each workload.
struct BenchContext {
    Preset preset = Preset::quick;
    std::size_t jobs = 2;                  // workers for the CPU-bound modes (--jobs)
    const PythonRunner* python = nullptr;  // null: no Python modes (--no-python, or python3 missing)
    std::function<void(std::string_view)> progress;  // after each step, with what comes next

    bool quick() const noexcept { return preset == Preset::quick; }
    /// Reports a finished step to the progress bar, and stops if interrupted.
    void step(std::string_view next) const {
        if (progress) progress(next);
        check_interrupt();
    }
};

/// A workload of the bench.
struct Workload {
    std::string_view name;     // as --only names it: "cpu_crunch", ...
    WorkloadKind kind;
    std::size_t quick_steps;   // progress steps of the C++ modes under --quick (the Python run is one more)
    std::size_t full_steps;    // ... under --full
    WorkloadResult (*run)(const BenchContext&);

    std::size_t steps(Preset preset) const noexcept { return preset == Preset::quick ? quick_steps : full_steps; }
};

/// Every workload, in the order the bench runs them (the lecture's order).
const std::vector<Workload>& all_workloads();

using Clock = std::chrono::steady_clock;

/// Seconds since `start`.
inline double seconds_since(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

/// A mode to time: a run returns a checksum of the work it did.
struct TimedMode {
    std::string mode;
    std::size_t workers = 1;
    std::function<std::uint64_t()> once;
};

/// Times `modes` in `rounds` rounds, each round running every mode once, so
/// that a change in the machine's load (other programs starting or ending)
/// weighs on every mode alike rather than on whichever ran then. Returns the
/// modes with their samples and medians, and in `checksum` what they
/// computed. Throws std::logic_error if two runs disagree, Interrupted
/// between runs once a signal arrived. One progress step per round.
std::vector<ModeResult> time_in_rounds(std::string_view workload, std::vector<TimedMode> modes, int rounds,
                                       const BenchContext& context, std::uint64_t& checksum);

/// Throws std::logic_error unless `mode` computed what the serial mode did.
inline void expect_same_work(std::string_view workload, std::string_view mode, std::uint64_t serial, std::uint64_t got) {
    if (serial != got)
        throw std::logic_error(std::string(workload) + ": mode " + std::string(mode) +
                               " computed a different result than the serial mode (a bug in the bench)");
}

}  // namespace tandem::cli
