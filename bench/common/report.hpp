// What the process-side benchmarks share: medians, timing, running the
// Python peer script and reading its "name value" lines, and printing a
// row of tandem vs Python vs the OS floor.
#pragma once

#include <algorithm>  // std::nth_element
#include <chrono>     // timing
#include <cstdio>     // printf, popen
#include <map>        // Python's figures by name
#include <optional>   // a figure Python or the floor did not give
#include <string>     // names, the command line
#include <vector>     // samples

namespace tandem_bench {

using Clock = std::chrono::steady_clock;

inline double median(std::vector<double> samples) {
    auto middle = samples.begin() + static_cast<std::ptrdiff_t>(samples.size() / 2);
    std::nth_element(samples.begin(), middle, samples.end());
    return *middle;
}

inline double micros_since(Clock::time_point start) {
    return std::chrono::duration<double, std::micro>(Clock::now() - start).count();
}

/// Runs the shell command `command` and reads its "name value" lines.
/// Empty if it cannot run or prints none.
inline std::map<std::string, double> run_peer(const std::string& command) {
    std::map<std::string, double> figures;
    FILE* output = ::popen(command.c_str(), "r");
    if (output == nullptr) return figures;
    char name[128];
    double value;
    while (std::fscanf(output, "%127s %lf", name, &value) == 2) figures[name] = value;
    ::pclose(output);
    return figures;
}

/// Runs `python3 <script> [arguments]` and reads its "name value" lines.
/// Empty if Python is missing or fails: the table then shows tandem alone.
inline std::map<std::string, double> run_python(const std::string& script, const std::string& arguments) {
    return run_peer("python3 " + script + " " + arguments);
}

inline std::optional<double> lookup(const std::map<std::string, double>& figures, const std::string& name) {
    const auto found = figures.find(name);
    if (found == figures.end()) return std::nullopt;
    return found->second;
}

/// Which way is better for a row's unit: times are better low, rates high.
enum class Better { lower, higher };

/// One line: tandem's figure, Python's with how many times better tandem is,
/// and the floor with tandem's distance from it.
inline void row(const char* title, double tandem, std::optional<double> python, std::optional<double> floor,
                const char* unit, Better better = Better::lower) {
    std::printf("%-40s tandem %10.2f %s", title, tandem, unit);
    if (python) {
        const double ratio = better == Better::lower ? *python / tandem : tandem / *python;
        std::printf(" | python %10.2f %s (%.1fx)", *python, unit, ratio);
    }
    if (floor) std::printf(" | floor %8.2f %s (tandem/floor %.2fx)", *floor, unit, tandem / *floor);
    std::printf("\n");
}

}  // namespace tandem_bench
