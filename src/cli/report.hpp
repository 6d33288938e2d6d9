// tandem bench: what a run measured — workloads, their modes and figures,
// the machine, and the verdicts — independent of how it is printed (table.hpp),
// written (json_report.hpp) or drawn (chart.hpp).
#pragma once

#include <cstddef>      // std::size_t
#include <optional>     // figures a mode may lack
#include <string>       // names and texts
#include <string_view>  // look-ups
#include <utility>      // std::pair
#include <vector>       // modes, workloads, verdicts

#include "machine.hpp"  // Machine

namespace tandem::cli {

/// What a workload measures, and so how its modes compare (the JSON "kind").
enum class WorkloadKind {
    cpu,       // wall time of a fixed amount of CPU work; speedup vs serial
    io,        // wall time of a fixed number of waits; speedup vs serial
    overhead,  // seconds per operation (start + join, a round trip); no speedup
    memory,    // a worker's memory (RSS, PSS, private) beside a large parent heap
    latency,   // how late a periodic loop runs (worst delay, missed deadlines)
};

/// "cpu", "io", "overhead", "memory" or "latency".
std::string_view kind_name(WorkloadKind kind) noexcept;

/// One way of running a workload: serial, threads, threads under the
/// emulated GIL, processes, and the same in Python (mode names "python_...").
struct ModeResult {
    std::string mode;           // "serial", "threads", "threads_gil", "processes", "python_threads", ...
    std::size_t workers = 1;    // threads or processes doing the work
    double seconds = 0;         // the median of `samples`: wall time, or time per operation (overhead)
    std::vector<double> samples;                 // each repetition's seconds
    std::optional<double> speedup;               // cpu and io: the serial mode's seconds / these (same language)
    std::vector<std::pair<std::string, double>> figures;  // rss_mib, worst_delay_ms, missed, ...

    /// Whether the mode ran in CPython (its name starts with "python_").
    bool python() const noexcept { return mode.starts_with("python_"); }
    /// The mode's name without "python_": what C++ and Python rows share
    /// ("thread_start" for both "thread_start" and "python_thread_start").
    std::string_view operation() const noexcept { return std::string_view(mode).substr(python() ? 7 : 0); }
    /// The named figure, if measured.
    std::optional<double> figure(std::string_view name) const noexcept;
    /// Sets (or replaces) a figure.
    void set_figure(std::string name, double value);
};

/// A workload's results.
struct WorkloadResult {
    std::string name;        // "cpu_crunch", ...
    WorkloadKind kind = WorkloadKind::cpu;
    std::string title;       // one line, in the lecture's words
    std::string work;        // what the C++ modes do, with sizes
    std::string python_work; // what the Python modes do (may be scaled down); empty without Python
    std::vector<ModeResult> modes;

    /// The mode named `mode`, or nullptr.
    const ModeResult* find(std::string_view mode) const noexcept;
};

/// One of the lecture's claims, judged on the figures measured here.
struct Verdict {
    std::string id;     // stable name: "processes_speed_up_cpu_work", ...
    std::string claim;  // the lecture's words
    bool holds = false;
    std::string text;   // the figures that decide it, and what follows
};

/// A whole run.
struct Report {
    std::string preset;   // "quick" or "full"
    std::size_t jobs = 1; // workers for the CPU-bound modes
    bool python = false;  // whether the Python modes ran
    double total_seconds = 0;
    Machine machine;
    std::vector<WorkloadResult> workloads;
    std::vector<Verdict> verdicts;

    /// The workload named `name`, or nullptr.
    const WorkloadResult* find(std::string_view name) const noexcept;
};

/// The median of `samples` (the mean of the middle two for an even count);
/// 0 for none.
double median(std::vector<double> samples);

/// Fills in `speedup` for the cpu and io workloads: each mode against the
/// serial mode of its language ("serial" or "python_serial"), when present.
void compute_speedups(WorkloadResult& workload);

}  // namespace tandem::cli
