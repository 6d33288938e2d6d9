// Test support for the tandem program's tests: reports built from given
// figures, so that verdicts, tables, JSON and charts can be checked without
// measuring anything.
#pragma once

#include <initializer_list>  // figure lists
#include <optional>          // speedups
#include <string>            // names
#include <utility>           // std::pair

#include "report.hpp"  // Report, WorkloadResult, ModeResult

namespace tandem_test {

using tandem::cli::ModeResult;
using tandem::cli::Report;
using tandem::cli::WorkloadKind;
using tandem::cli::WorkloadResult;

/// A mode with these seconds, workers and figures.
inline ModeResult mode(std::string name, double seconds, std::size_t workers = 1,
                       std::initializer_list<std::pair<const char*, double>> figures = {}) {
    ModeResult result{.mode = std::move(name), .workers = workers, .seconds = seconds, .samples = {seconds}};
    for (const auto& [key, value] : figures) result.set_figure(key, value);
    return result;
}

/// A cpu or io workload whose modes take seconds = baseline / speedup, with
/// serial and python_serial at `baseline` (speedups computed as the bench does).
inline WorkloadResult speedup_workload(std::string name, WorkloadKind kind, std::size_t workers,
                                       std::initializer_list<std::pair<const char*, double>> speedups) {
    WorkloadResult workload{.name = std::move(name), .kind = kind, .title = "title", .work = "work"};
    workload.modes.push_back(mode("serial", 1.0));
    bool python = false;
    for (const auto& [mode_name, speedup] : speedups) python = python || std::string(mode_name).starts_with("python_");
    if (python) workload.modes.push_back(mode("python_serial", 1.0));
    for (const auto& [mode_name, speedup] : speedups) workload.modes.push_back(mode(mode_name, 1.0 / speedup, workers));
    tandem::cli::compute_speedups(workload);
    return workload;
}

/// A report on a machine with `cpus` CPUs.
inline Report report_on(std::size_t cpus) {
    Report report;
    report.preset = "quick";
    report.jobs = cpus;
    report.python = true;
    report.machine.cpus = cpus;
    report.machine.online_cpus = cpus;
    report.machine.affinity = cpus == 1 ? "0" : "0-" + std::to_string(cpus - 1);
    report.machine.cpu_model = "test CPU";
    report.machine.python = "Python 3.11.2";
    return report;
}

}  // namespace tandem_test
