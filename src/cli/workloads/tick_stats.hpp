// tandem bench: the figures of a periodic loop (workloads 7 and 8) — how late
// each tick ran, and how many missed their deadline.
#pragma once

#include <algorithm>  // std::sort
#include <cstddef>    // std::size_t
#include <string>     // the mode's name
#include <vector>     // delays

#include "../report.hpp"  // ModeResult

namespace tandem::cli {

/// Delays of a periodic loop, in seconds.
struct TickStats {
    std::vector<double> delays;  // one per tick that ran
    std::size_t ticks = 0;       // ticks due during the run
    std::size_t missed = 0;      // ticks that ran late by more than a period, or not at all
    bool realtime = false;       // the loop ran at a real-time priority (SCHED_FIFO)

    /// The mode's figures: seconds = the worst delay; worst/p99/median delay
    /// in ms, ticks, missed, period_ms.
    ModeResult to_mode(std::string mode, std::size_t workers, double period_seconds) const {
        ModeResult result{.mode = std::move(mode), .workers = workers, .samples = delays};
        std::vector<double> sorted = delays;
        std::sort(sorted.begin(), sorted.end());
        const auto at = [&](double fraction) {
            if (sorted.empty()) return 0.0;
            return sorted[std::min(sorted.size() - 1, static_cast<std::size_t>(fraction * static_cast<double>(sorted.size())))];
        };
        result.seconds = sorted.empty() ? 0 : sorted.back();
        result.set_figure("worst_delay_ms", result.seconds * 1e3);
        result.set_figure("p99_delay_ms", at(0.99) * 1e3);
        result.set_figure("median_delay_ms", at(0.5) * 1e3);
        result.set_figure("ticks", static_cast<double>(ticks));
        result.set_figure("missed", static_cast<double>(missed));
        result.set_figure("period_ms", period_seconds * 1e3);
        return result;
    }
};

}  // namespace tandem::cli
