// tandem bench: running the selected workloads and producing the outputs.
#include "bench.hpp"

#include <fmt/core.h>  // fmt::print

#include <algorithm>  // std::find
#include <cstdio>     // stdout, std::fflush
#include <optional>   // the Python runner

#include "chart.hpp"                           // draw_chart
#include "interrupt.hpp"                       // Interrupted
#include "json_report.hpp"                     // write_json
#include "python_runner.hpp"                   // PythonRunner
#include "subprocess.hpp"                      // in_path: gnuplot
#include "table.hpp"                           // format_header, format_workload, format_verdicts
#include "tandem/multiprocessing/process.hpp"  // cpu_count
#include "tandem/progress.hpp"                 // ProgressBar
#include "verdicts.hpp"                        // judge

namespace tandem::cli {

namespace {

std::vector<const Workload*> selected(const BenchOptions& options) {
    std::vector<const Workload*> chosen;
    for (const Workload& workload : all_workloads()) {
        if (options.only.empty() ||
            std::find(options.only.begin(), options.only.end(), workload.name) != options.only.end())
            chosen.push_back(&workload);
    }
    return chosen;
}

void print(const std::string& text) {
    fmt::print("{}", text);
    std::fflush(stdout);
}

// Measures the selected workloads, printing each table as it completes, and
// judges the claims.
Report measure(const BenchOptions& options) {
    const auto start = Clock::now();
    Report report;
    report.preset = options.preset == Preset::quick ? "quick" : "full";
    report.jobs = options.jobs.value_or(multiprocessing::cpu_count());
    report.machine = describe_machine();
    report.machine.parallel_capacity = measure_parallel_capacity(report.jobs);

    std::optional<PythonRunner> python;
    if (options.python) {
        std::string why_not;
        python = PythonRunner::locate(why_not);
        if (!python) fmt::print(stderr, "tandem bench: running without the Python modes: {}\n", why_not);
    }
    report.python = python.has_value();

    const auto workloads = selected(options);
    std::size_t steps = 0;
    for (const Workload* workload : workloads) steps += workload->steps(options.preset) + (python ? 1 : 0);

    print(format_header(report));
    ProgressBar bar({.total = steps, .unit = "step", .leave = false});
    try {
        for (std::size_t i = 0; i < workloads.size(); ++i) {
            const Workload& workload = *workloads[i];
            bar.set_description(std::string(workload.name));
            bar.refresh();
            BenchContext context{.preset = options.preset,
                                 .jobs = report.jobs,
                                 .python = python ? &*python : nullptr,
                                 .progress = [&bar, &workload](std::string_view next) {
                                     bar.set_description(std::string(workload.name) + (next.empty() ? "" : ": ") +
                                                         std::string(next));
                                     bar.update();
                                 }};
            WorkloadResult result = workload.run(context);
            compute_speedups(result);
            bar.clear();
            print(format_workload(result, i + 1, workloads.size()));
            report.workloads.push_back(std::move(result));
        }
    } catch (...) {
        bar.clear();  // the error goes where the bar was
        throw;
    }
    bar.close();

    report.machine.load_after = load_average();
    report.total_seconds = seconds_since(start);
    report.verdicts = judge(report);
    print(format_verdicts(report));
    return report;
}

void write_outputs(const Report& report, const BenchOptions& options) {
    if (!options.json_path.empty()) {
        write_json(report, options.json_path);
        print(fmt::format("JSON report: {}\n", options.json_path));
    }
    if (!options.plot_path.empty()) {
        draw_chart(report, options.plot_path);
        print(fmt::format("chart: {}\n", options.plot_path));
    }
}

}  // namespace

int run_bench(const BenchOptions& options) {
    if (!options.plot_path.empty() && !in_path("gnuplot")) {
        fmt::print(stderr, "tandem bench: --plot needs gnuplot, which is not installed (scripts/install-deps.sh)\n");
        return 1;
    }
    try {
        write_outputs(measure(options), options);
        return 0;
    } catch (const std::exception& error) {
        // After a Ctrl-C, a failure is its consequence (the terminal's SIGINT
        // also ended a child of ours, whose pipe then broke): the run was
        // interrupted, whatever noticed it first.
        if (const int signal_number = interrupt_signal()) {
            fmt::print(stderr, "\ntandem bench: {}; stopped\n", Interrupted(signal_number).what());
            return 128 + signal_number;
        }
        fmt::print(stderr, "\ntandem bench: {}\n", error.what());
        return 1;
    }
}

}  // namespace tandem::cli
