// tandem bench: formatting the header, the tables and the verdicts.
#include "table.hpp"

#include <fmt/core.h>  // fmt::format

#include <algorithm>  // std::min
#include <map>        // overhead rows paired by operation

namespace tandem::cli {

namespace {

std::string with_spaces(std::string_view name) {
    std::string text(name);
    for (char& c : text) c = c == '_' ? ' ' : c;
    return text;
}

std::string figure_or_dash(const ModeResult& mode, std::string_view name, const char* format) {
    const auto value = mode.figure(name);
    return value ? fmt::format(fmt::runtime(format), *value) : std::string("-");
}

void append_speedup_table(std::string& out, const WorkloadResult& workload) {
    out += fmt::format("    {:<26} {:>7} {:>11} {:>9}\n", "mode", "workers", "time", "speedup");
    for (const ModeResult& mode : workload.modes) {
        out += fmt::format("    {:<26} {:>7} {:>11} {:>9}\n", mode_label(mode.mode), mode.workers,
                           format_seconds(mode.seconds),
                           mode.speedup ? fmt::format("{:.2f}x", *mode.speedup) : std::string("-"));
    }
}

void append_overhead_table(std::string& out, const WorkloadResult& workload) {
    // One row per operation, C++ beside Python.
    std::vector<std::string> order;
    std::map<std::string, std::pair<const ModeResult*, const ModeResult*>> rows;
    for (const ModeResult& mode : workload.modes) {
        const std::string operation(mode.operation());
        if (!rows.contains(operation)) order.push_back(operation);
        (mode.python() ? rows[operation].second : rows[operation].first) = &mode;
    }
    out += fmt::format("    {:<34} {:>11} {:>11} {:>9}\n", "operation (median)", "C++", "Python", "Python/C++");
    for (const std::string& operation : order) {
        const auto [cpp, python] = rows[operation];
        std::string ratio = "-";
        if (cpp && python && cpp->seconds > 0) {
            const double times = python->seconds / cpp->seconds;
            ratio = times < 10 ? fmt::format("{:.1f}x", times) : fmt::format("{:.0f}x", times);
        }
        out += fmt::format("    {:<34} {:>11} {:>11} {:>9}\n", with_spaces(operation),
                           cpp ? format_seconds(cpp->seconds) : "-", python ? format_seconds(python->seconds) : "-",
                           ratio);
    }
}

void append_memory_table(std::string& out, const WorkloadResult& workload) {
    out += fmt::format("    {:<22} {:>7} {:>10} {:>10} {:>12} {:>10} {:>12}\n", "mode", "workers", "heap", "RSS",
                       "PSS", "private", "start->reply");
    for (const ModeResult& mode : workload.modes) {
        out += fmt::format("    {:<22} {:>7} {:>10} {:>10} {:>12} {:>10} {:>12}\n", mode_label(mode.mode),
                           mode.workers, figure_or_dash(mode, "heap_mib", "{:.0f} MiB"),
                           figure_or_dash(mode, "rss_mib", "{:.1f} MiB"), figure_or_dash(mode, "pss_mib", "{:.1f} MiB"),
                           figure_or_dash(mode, "private_mib", "{:.1f} MiB"), format_seconds(mode.seconds));
    }
}

void append_latency_table(std::string& out, const WorkloadResult& workload) {
    out += fmt::format("    {:<26} {:>10} {:>10} {:>10} {:>14}\n", "mode", "worst", "p99", "median", "missed");
    for (const ModeResult& mode : workload.modes) {
        const auto ticks = mode.figure("ticks").value_or(0);
        const auto missed = mode.figure("missed").value_or(0);
        out += fmt::format("    {:<26} {:>10} {:>10} {:>10} {:>14}\n", mode_label(mode.mode),
                           figure_or_dash(mode, "worst_delay_ms", "{:.2f} ms"),
                           figure_or_dash(mode, "p99_delay_ms", "{:.2f} ms"),
                           figure_or_dash(mode, "median_delay_ms", "{:.2f} ms"),
                           fmt::format("{:.0f} of {:.0f}", missed, ticks));
    }
}

}  // namespace

std::string format_seconds(double seconds) {
    if (seconds < 1e-3) return fmt::format("{:.1f} µs", seconds * 1e6);
    if (seconds < 1) return fmt::format("{:.1f} ms", seconds * 1e3);
    return fmt::format("{:.2f} s", seconds);
}

std::string mode_label(std::string_view mode) {
    if (mode.starts_with("python_")) return "Python " + with_spaces(mode.substr(7));  // as ModeResult::operation()
    if (mode == "threads_gil") return "C++ threads + GIL";
    if (mode == "thread_gil") return "C++ thread + GIL";
    return "C++ " + with_spaces(mode);
}

std::string format_header(const Report& report) {
    const Machine& m = report.machine;
    std::string out = fmt::format("tandem bench --{}: the lecture \"Threading and Multiprocessing\", measured here\n",
                                  report.preset);
    out += fmt::format("  machine: {} CPUs usable (affinity {}) of {} online, {}, {:.1f} GiB, {}\n", m.cpus,
                       m.affinity, m.online_cpus, m.cpu_model, m.memory_gib, m.kernel);
    out += fmt::format("  load average at the start: {:.2f} {:.2f} {:.2f}{}\n", m.load_before[0], m.load_before[1],
                       m.load_before[2],
                       m.load_before[0] > 0.5 * static_cast<double>(m.cpus)
                           ? " (other work is running: figures will be noisier)"
                           : "");
    if (m.parallel_capacity > 0) {
        out += fmt::format("  parallel capacity now: {} threads of a trivially parallel loop ran {:.2f}x as fast as "
                           "one{}\n",
                           report.jobs, m.parallel_capacity,
                           m.parallel_capacity < 0.75 * static_cast<double>(std::min(report.jobs, m.cpus))
                               ? " (other programs hold the CPUs: parallel speedups cannot show)"
                               : "");
    }
    out += fmt::format("  build: {}, {}; workers for CPU-bound modes: {}; Python: {}\n", m.compiler, m.build,
                       report.jobs, report.python ? m.python : std::string("not run"));
    return out;
}

std::string format_workload(const WorkloadResult& workload, std::size_t number, std::size_t count) {
    std::string out = fmt::format("\n{}/{} {} — {}\n", number, count, workload.name, workload.title);
    out += fmt::format("    C++: {}\n", workload.work);
    if (!workload.python_work.empty()) out += fmt::format("    Python: {}\n", workload.python_work);
    switch (workload.kind) {
        case WorkloadKind::cpu:
        case WorkloadKind::io: append_speedup_table(out, workload); break;
        case WorkloadKind::overhead: append_overhead_table(out, workload); break;
        case WorkloadKind::memory: append_memory_table(out, workload); break;
        case WorkloadKind::latency: append_latency_table(out, workload); break;
    }
    return out;
}

std::string format_verdicts(const Report& report) {
    std::string out = "\nVerdicts: the lecture's claims, judged on the figures above\n";
    for (const Verdict& verdict : report.verdicts) {
        out += fmt::format("  [{}] {}\n      {}\n", verdict.holds ? "holds" : "DOES NOT HOLD here", verdict.claim,
                           verdict.text);
    }
    const Machine& m = report.machine;
    out += fmt::format("\nload average at the end: {:.2f} {:.2f} {:.2f}; {} in {:.1f} s\n", m.load_after[0],
                       m.load_after[1], m.load_after[2], report.workloads.size() == 1 ? "1 workload" :
                       fmt::format("{} workloads", report.workloads.size()), report.total_seconds);
    return out;
}

}  // namespace tandem::cli
