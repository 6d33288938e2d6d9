// tandem bench: the report as JSON (schema in the README, "The JSON report"):
//
//   {"schema": 1, "tandem": "0.1.0", "preset": "quick", "jobs": 2, "python": true, "seconds": 41.2,
//    "machine": {"cpus": 2, "online_cpus": 2, "affinity": "0-1", "cpu_model": ..., "memory_gib": ...,
//                "kernel": ..., "load_before": [1m, 5m, 15m], "load_after": [...], "compiler": ...,
//                "build": ..., "start_methods": [...], "libraries": {"fmt": "9.1.0", ...},
//                "python": "Python 3.11.2", "gnuplot": ...},
//    "workloads": [{"name", "kind": "cpu"|"io"|"overhead"|"memory"|"latency", "title", "work",
//                   "python_work", "modes": [{"mode", "language": "c++"|"python", "workers", "seconds",
//                   "speedup": number|null, "samples": [...], <figures by name>...}]}],
//    "verdicts": [{"id", "claim", "holds": bool, "text"}]}
#pragma once

#include <string>  // the output path

#include <nlohmann/json.hpp>  // nlohmann::ordered_json

#include "report.hpp"  // Report

namespace tandem::cli {

/// The report as a JSON document, keys in the order above.
nlohmann::ordered_json to_json(const Report& report);

/// Writes to_json(report) to `path`, indented. Throws std::runtime_error if
/// the file cannot be written.
void write_json(const Report& report, const std::string& path);

}  // namespace tandem::cli
