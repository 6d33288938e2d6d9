// tandem bench: the lecture's claims, judged on the measured figures — never
// hard-coded. A claim that does not hold on this machine is reported as such.
//
// The thresholds (documented in the README's "Verdicts" section):
// - a parallel speedup "holds" at half the ideal gain or more:
//   speedup >= 1 + (p - 1) / 2, with p = min(workers, usable CPUs);
// - "no speedup" (threads under a GIL) means below 1.2x;
// - the emulated GIL matches CPython when their speedups differ by at most 25%;
// - I/O-bound threads speed up at 4x or more (with the bench's 16 workers);
// - processes cost "significant" overhead when the cheapest process start is
//   10x a thread start or more; threads cost an overhead when starting one
//   costs 2x a task's round trip on a running pool or more;
// - memory is "copied" into a worker when its private memory is at least half
//   the parent's heap;
// - a loop is responsive when its worst delay is at most two tick periods;
// - audio keeps up when at most 1% of the blocks miss their deadline.
// A claim whose figures were not measured (--only, --no-python) is left out.
#pragma once

#include <cstddef>  // std::size_t
#include <vector>   // verdicts

#include "report.hpp"  // Report, Verdict

namespace tandem::cli {

/// The gain a parallel mode must reach to count as a speedup, with `workers`
/// workers on `cpus` usable CPUs.
double parallel_gain_threshold(std::size_t workers, std::size_t cpus) noexcept;

inline constexpr double kNoSpeedupCeiling = 1.2;
inline constexpr double kGilFidelity = 0.25;
inline constexpr double kIoGain = 4.0;
inline constexpr double kProcessStartRatio = 10.0;
inline constexpr double kThreadStartRatio = 2.0;
inline constexpr double kCopiedFraction = 0.5;
inline constexpr double kResponsivePeriods = 2.0;
inline constexpr double kAudioMissedFraction = 0.01;

/// Judges every claim whose figures `report` holds.
std::vector<Verdict> judge(const Report& report);

}  // namespace tandem::cli
