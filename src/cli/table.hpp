// tandem bench: the text a run prints — a header about the machine, a table
// per workload laid out for its kind, and the verdicts.
#pragma once

#include <cstddef>      // std::size_t
#include <string>       // formatted text
#include <string_view>  // mode names

#include "report.hpp"  // Report, WorkloadResult, Verdict

namespace tandem::cli {

/// "1.2 µs", "34.5 ms", "2.31 s".
std::string format_seconds(double seconds);

/// A mode's name for people: "C++ threads + GIL", "Python processes".
std::string mode_label(std::string_view mode);

/// The lines printed before the workloads: the machine and the settings.
std::string format_header(const Report& report);

/// Workload `number` of `count`: its title, what it does, and its table.
std::string format_workload(const WorkloadResult& workload, std::size_t number, std::size_t count);

/// The verdicts, one paragraph each.
std::string format_verdicts(const Report& report);

}  // namespace tandem::cli
