// tandem bench: the chart — speedup per workload and mode, the overheads, a
// worker's memory and the worst delays — drawn by gnuplot as SVG or PNG.
//
// The script carries its data inline (gnuplot datablocks) and goes to
// gnuplot's stdin, so no temporary file is written.
#pragma once

#include <string>  // the script, the output path

#include "report.hpp"  // Report

namespace tandem::cli {

/// The gnuplot script that draws `report` into `path` (.svg or .png, by its
/// extension).
std::string chart_script(const Report& report, const std::string& path);

/// Draws the chart into `path`. Throws std::runtime_error if gnuplot is
/// missing or fails, Interrupted if a signal arrives meanwhile.
void draw_chart(const Report& report, const std::string& path);

}  // namespace tandem::cli
