// tandem bench: running a workload's Python script (shipped with tandem, in
// share/tandem/bench/ beside bin/tandem, in the build tree as when installed)
// with python3, and reading the modes it measured.
//
// Protocol: `python3 <script>.py '<parameters as JSON>'` prints one JSON
// object on stdout: {"work": "what it did", "modes": [{"mode": "python_...",
// "workers": n, "seconds": s, "samples": [...], "figures": {...}}],
// "checksum": n}. Each run gets a temporary folder of its own as TMPDIR,
// removed afterwards, so nothing Python leaves there survives the run.
#pragma once

#include <cstdint>      // checksums
#include <filesystem>   // the scripts' folder
#include <optional>     // the checksum a script may report
#include <string>       // names, errors
#include <string_view>  // script names

#include <nlohmann/json.hpp>  // parameters and results

#include "report.hpp"  // WorkloadResult, ModeResult

namespace tandem::cli {

/// python3 and the bench's scripts.
class PythonRunner {
public:
    /// Finds python3 in PATH and the scripts relative to this program
    /// (/proc/self/exe). Returns nullopt with the reason in `why_not` when
    /// either is missing.
    static std::optional<PythonRunner> locate(std::string& why_not);

    /// Runs `<script>.py` with `parameters`; returns its JSON output. Throws
    /// std::runtime_error if it fails (with its stderr) or prints something
    /// else than JSON; Interrupted if a signal arrives meanwhile (after
    /// killing everything it started).
    nlohmann::json run(std::string_view script, const nlohmann::json& parameters) const;

    /// The folder holding the scripts.
    const std::filesystem::path& scripts() const noexcept { return scripts_; }

private:
    explicit PythonRunner(std::filesystem::path scripts) : scripts_(std::move(scripts)) {}
    std::filesystem::path scripts_;
};

/// The folder of the bench's Python scripts for this program: <exe>/../share/tandem/bench.
std::filesystem::path bench_scripts_folder();

/// Appends the modes of a script's output to `workload` and sets its
/// python_work; returns the checksum the script reported, if any. Throws
/// std::runtime_error for output that does not follow the protocol.
std::optional<std::uint64_t> add_python_modes(WorkloadResult& workload, const nlohmann::json& output);

}  // namespace tandem::cli
