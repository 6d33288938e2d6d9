// tandem bench: look-ups, medians and speedups over the measured figures.
#include "report.hpp"

#include <algorithm>  // std::sort, std::find_if

namespace tandem::cli {

std::string_view kind_name(WorkloadKind kind) noexcept {
    switch (kind) {
        case WorkloadKind::cpu: return "cpu";
        case WorkloadKind::io: return "io";
        case WorkloadKind::overhead: return "overhead";
        case WorkloadKind::memory: return "memory";
        case WorkloadKind::latency: return "latency";
    }
    return "cpu";
}

std::optional<double> ModeResult::figure(std::string_view name) const noexcept {
    for (const auto& [key, value] : figures) {
        if (key == name) return value;
    }
    return std::nullopt;
}

void ModeResult::set_figure(std::string name, double value) {
    for (auto& [key, old] : figures) {
        if (key == name) {
            old = value;
            return;
        }
    }
    figures.emplace_back(std::move(name), value);
}

const ModeResult* WorkloadResult::find(std::string_view mode) const noexcept {
    const auto found = std::find_if(modes.begin(), modes.end(), [&](const ModeResult& m) { return m.mode == mode; });
    return found == modes.end() ? nullptr : &*found;
}

const WorkloadResult* Report::find(std::string_view name) const noexcept {
    const auto found =
        std::find_if(workloads.begin(), workloads.end(), [&](const WorkloadResult& w) { return w.name == name; });
    return found == workloads.end() ? nullptr : &*found;
}

double median(std::vector<double> samples) {
    if (samples.empty()) return 0;
    std::sort(samples.begin(), samples.end());
    const std::size_t middle = samples.size() / 2;
    return samples.size() % 2 == 1 ? samples[middle] : (samples[middle - 1] + samples[middle]) / 2;
}

void compute_speedups(WorkloadResult& workload) {
    if (workload.kind != WorkloadKind::cpu && workload.kind != WorkloadKind::io) return;
    const ModeResult* serial = workload.find("serial");
    const ModeResult* python_serial = workload.find("python_serial");
    const double serial_seconds = serial ? serial->seconds : 0;
    const double python_serial_seconds = python_serial ? python_serial->seconds : 0;
    for (ModeResult& mode : workload.modes) {
        const double baseline = mode.python() ? python_serial_seconds : serial_seconds;
        if (baseline > 0 && mode.seconds > 0) mode.speedup = baseline / mode.seconds;
    }
}

}  // namespace tandem::cli
