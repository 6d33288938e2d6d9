// tandem's command line: `tandem bench [options]` and `tandem info`, parsed
// with CLI11. A usage error prints CLI11's message and exits with status 2
// (the convention of Python's argparse and of most Unix tools; CLI11's own
// codes are above 100).
#pragma once

#include <cstddef>   // std::size_t
#include <optional>  // --jobs
#include <string>    // paths, names
#include <variant>   // a command or an exit status
#include <vector>    // --only

#include "workloads/workload.hpp"  // Preset

namespace tandem::cli {

/// The exit status of a usage error.
constexpr int kUsageError = 2;

/// `tandem bench`'s options.
struct BenchOptions {
    Preset preset = Preset::quick;      // --quick (default) or --full
    std::vector<std::string> only;      // --only NAMES: these workloads (all when empty)
    std::optional<std::size_t> jobs;    // --jobs N: workers for CPU-bound modes (default: usable CPUs)
    std::string json_path;              // --json FILE
    std::string plot_path;              // --plot FILE.svg|FILE.png
    bool python = true;                 // --no-python turns the Python modes off
};

/// What to do.
struct Command {
    enum class Kind { bench, info } kind = Kind::bench;
    BenchOptions bench;
};

/// Parses the command line. Returns the command to run, or the status to
/// exit with at once: 0 after --help, kUsageError after a usage error (the
/// message is printed to stderr).
std::variant<Command, int> parse_arguments(int argc, char** argv);

}  // namespace tandem::cli
