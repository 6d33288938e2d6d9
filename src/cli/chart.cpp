// tandem bench: writing the gnuplot script for the four panels and running it.
#include "chart.hpp"

#include <fmt/core.h>  // fmt::format

#include <algorithm>   // std::find_if
#include <filesystem>  // the output's extension, its existence afterwards
#include <stdexcept>   // std::runtime_error
#include <vector>      // rows and columns

#include "subprocess.hpp"  // run_process, in_path
#include "table.hpp"       // mode_label

namespace tandem::cli {

namespace {

// A string as a gnuplot single-quoted literal ('' stands for ').
std::string quoted(const std::string& text) {
    std::string out = "'";
    for (char c : text) out += c == '\'' ? std::string("''") : std::string(1, c);
    return out + "'";
}

// A string as a datablock field (double quotes; none inside).
std::string field(std::string text) {
    for (char& c : text) c = c == '"' ? '\'' : c;
    return "\"" + text + "\"";
}

std::string number_or_missing(std::optional<double> value) {
    return value ? fmt::format("{:.6g}", *value) : std::string("-");
}

// A clustered bar chart of `rows` (label, one value per column) with
// `columns` as the legend.
std::string histogram(const std::string& block, const std::vector<std::string>& columns,
                      const std::vector<std::pair<std::string, std::vector<std::optional<double>>>>& rows) {
    std::string out = "$" + block + " << EOD\nrow";
    for (const auto& column : columns) {
        out += ' ';
        out += field(column);
    }
    out += "\n";
    for (const auto& [label, values] : rows) {
        out += field(label);
        for (const auto& value : values) {
            out += ' ';
            out += number_or_missing(value);
        }
        out += "\n";
    }
    out += "EOD\n";
    return out;
}

std::string plot_histogram(const std::string& block, std::size_t columns) {
    return fmt::format("plot for [i=2:{}] ${} using i:xtic(1) title columnheader(i)\n", columns + 1, block);
}

using Rows = std::vector<std::pair<std::string, std::vector<std::optional<double>>>>;

// One row per operation (ModeResult::operation()), the C++ value beside the Python one.
template <class Value>
Rows paired_rows(const WorkloadResult& workload, Value&& value) {
    Rows rows;
    for (const ModeResult& mode : workload.modes) {
        auto row = std::find_if(rows.begin(), rows.end(), [&](const auto& r) { return r.first == mode.operation(); });
        if (row == rows.end()) row = rows.insert(rows.end(), {std::string(mode.operation()), {std::nullopt, std::nullopt}});
        row->second[mode.python() ? 1 : 0] = value(mode);
    }
    return rows;
}

const std::vector<std::string> kSpeedupModes = {"serial",        "threads",        "threads_gil",     "processes",
                                                "python_serial", "python_threads", "python_processes"};

}  // namespace

std::string chart_script(const Report& report, const std::string& path) {
    const bool png = std::filesystem::path(path).extension() == ".png";
    std::string script;
    script += png ? "set terminal pngcairo size 1400,1000 font 'sans,10' noenhanced\n"
                  : "set terminal svg size 1400,1000 dynamic font 'sans,11' noenhanced\n";
    script += "set output " + quoted(path) + "\n";
    script += "set datafile missing '-'\nset style data histograms\nset style histogram clustered gap 1\n"
              "set style fill solid 0.85 border -1\nset key top left autotitle columnhead\nset grid ytics\n"
              "set xtics nomirror\n";

    std::vector<std::string> speedup_columns;
    for (const auto& mode : kSpeedupModes) speedup_columns.push_back(mode_label(mode));
    Rows speedups, overheads, memory, latency;
    double cpp_heap = 0, python_heap = 0;
    std::vector<std::string> latency_columns = {"worst delay (ms)", "p99 delay (ms)"};
    for (const WorkloadResult& workload : report.workloads) {
        if (workload.kind == WorkloadKind::cpu || workload.kind == WorkloadKind::io) {
            std::vector<std::optional<double>> values;
            for (const auto& mode : kSpeedupModes) {
                const ModeResult* found = workload.find(mode);
                values.push_back(found ? found->speedup : std::nullopt);
            }
            speedups.emplace_back(workload.name, values);
        } else if (workload.kind == WorkloadKind::overhead) {
            overheads = paired_rows(workload, [](const ModeResult& mode) { return mode.seconds * 1e6; });
        } else if (workload.kind == WorkloadKind::memory) {
            memory = paired_rows(workload, [](const ModeResult& mode) { return mode.figure("private_mib"); });
            for (const ModeResult& mode : workload.modes) {
                if (const auto heap = mode.figure("heap_mib"))
                    (mode.python() ? python_heap : cpp_heap) = *heap;
            }
        } else if (workload.kind == WorkloadKind::latency) {
            for (const ModeResult& mode : workload.modes) {
                const std::string prefix = workload.name == "audio_realtime" ? "audio: " : "UI: ";
                latency.emplace_back(prefix + mode_label(mode.mode),
                                     std::vector<std::optional<double>>{mode.figure("worst_delay_ms"),
                                                                        mode.figure("p99_delay_ms")});
            }
        }
    }

    const Machine& m = report.machine;
    script += fmt::format("set multiplot layout 2,2 title {}\n",
                          quoted(fmt::format("tandem bench --{} - {} CPUs ({}), load {:.2f} at the start, {}",
                                             report.preset, m.cpus, m.cpu_model, m.load_before[0],
                                             report.python ? m.python : "without Python")));
    const auto panel = [&](const std::string& block, const std::string& title, const std::string& ylabel,
                           bool log, const std::vector<std::string>& columns, const Rows& rows) {
        if (rows.empty()) {
            script += "set title " + quoted(title + " (not measured)") + "\nunset key\nplot [0:1][0:1] NaN notitle\n"
                      "set key top left autotitle columnhead\n";
            return;
        }
        script += histogram(block, columns, rows);
        script += "set title " + quoted(title) + "\nset ylabel " + quoted(ylabel) + "\n";
        script += log ? "set logscale y\nset yrange [*:*]\n" : "unset logscale y\nset yrange [0:*]\n";
        script += "set xtics rotate by -20\n";
        script += plot_histogram(block, columns.size());
    };
    panel("speedup", "Speedup over serial, same language (higher is better)", "speedup (x)", false, speedup_columns,
          speedups);
    panel("overhead", "Overheads per operation (lower is better)", "microseconds (log)", true, {"C++", "Python"},
          overheads);
    panel("memory",
          fmt::format("A worker's private memory beside the parent's heap (C++ {:.0f} MiB, Python {:.0f} MiB)",
                      cpp_heap, python_heap),
          "MiB", false, {"C++", "Python"}, memory);
    panel("latency", "How late a periodic loop runs (lower is better)", "milliseconds (log)", true, latency_columns,
          latency);
    script += "unset multiplot\n";
    return script;
}

void draw_chart(const Report& report, const std::string& path) {
    if (!in_path("gnuplot")) throw std::runtime_error("gnuplot is not installed (scripts/install-deps.sh installs it)");
    std::error_code ignored;
    std::filesystem::remove(path, ignored);
    const ProcessOutput output = run_process({"gnuplot"}, {.input = chart_script(report, path),
                                                           .timeout = std::chrono::seconds(60)});
    if (output.status != 0 || !std::filesystem::exists(path))
        throw std::runtime_error("gnuplot failed to draw " + path + ":\n" + output.err);
}

}  // namespace tandem::cli
