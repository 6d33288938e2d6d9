// tandem bench: a whole run — the workloads in order with a progress bar on
// a terminal, a table after each, then the verdicts, the JSON and the chart.
#pragma once

#include "arguments.hpp"  // BenchOptions

namespace tandem::cli {

/// Runs the bench; returns the exit status: 0, 1 after an error (printed),
/// 128 + the signal after an interrupt.
int run_bench(const BenchOptions& options);

}  // namespace tandem::cli
