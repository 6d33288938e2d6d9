// tandem bench and tandem info: the facts about this machine that a reader of
// the figures needs — CPUs and affinity, load, memory, kernel, compiler and
// build, start methods, library and Python versions.
#pragma once

#include <array>    // load averages
#include <cstddef>  // std::size_t
#include <string>   // descriptions
#include <utility>  // std::pair
#include <vector>   // lists

namespace tandem::cli {

/// A description of the machine and the build.
struct Machine {
    std::size_t cpus = 1;         // CPUs this process may run on (its affinity mask)
    std::size_t online_cpus = 1;  // CPUs online in the machine
    std::string affinity;         // the affinity mask as a list: "0-1", "0,2-3"
    std::string cpu_model;        // /proc/cpuinfo's "model name"
    double memory_gib = 0;        // physical memory
    std::string kernel;           // "Linux 6.1.0-18-amd64"
    std::array<double, 3> load_before{};  // 1, 5 and 15 minute load averages at the start
    std::array<double, 3> load_after{};   // ... and at the end of a run
    std::string compiler;         // "GCC 12.2.0"
    std::string build;            // "optimized", "debug", plus sanitizers
    std::vector<std::string> start_methods;  // usable here, the default first
    std::vector<std::pair<std::string, std::string>> libraries;  // name, version
    std::string python;           // "Python 3.11.2", or empty when python3 is not found
    std::string gnuplot;          // "gnuplot 5.4 patchlevel 4", or empty
    double parallel_capacity = 0; // how much faster `cpus` threads run a trivially parallel loop than one (0: not measured)
};

/// Describes this machine now (runs python3 --version and gnuplot --version;
/// load_after is left equal to load_before).
Machine describe_machine();

/// The 1, 5 and 15 minute load averages (getloadavg), zeros if unknown.
std::array<double, 3> load_average() noexcept;

/// The CPUs in this process's affinity mask, as a list ("0-1", "0,2-3").
std::string affinity_list();

/// How much of `threads` CPUs this process gets now: `threads` threads each
/// run the same arithmetic loop (no memory, no sharing) that one thread runs
/// alone first; returns threads x (time alone) / (time together), the median
/// of three tries. About `threads` on an idle machine, less when other
/// programs keep the CPUs busy. Takes about a third of a second.
double measure_parallel_capacity(std::size_t threads);

}  // namespace tandem::cli
