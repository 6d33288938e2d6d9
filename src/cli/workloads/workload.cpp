// tandem bench: timing modes in rounds.
#include "workload.hpp"

#include <fmt/core.h>  // fmt::format

namespace tandem::cli {

std::vector<ModeResult> time_in_rounds(std::string_view workload, std::vector<TimedMode> modes, int rounds,
                                       const BenchContext& context, std::uint64_t& checksum) {
    std::vector<ModeResult> results;
    for (const TimedMode& mode : modes) results.push_back({.mode = mode.mode, .workers = mode.workers});
    bool first = true;
    for (int round = 1; round <= rounds; ++round) {
        for (std::size_t m = 0; m < modes.size(); ++m) {
            check_interrupt();
            const auto start = Clock::now();
            const std::uint64_t sum = modes[m].once();
            results[m].samples.push_back(seconds_since(start));
            if (!first && sum != checksum) {
                throw std::logic_error(fmt::format("{}: mode {} computed another result than {} (a bug in the bench)",
                                                   workload, modes[m].mode, modes[0].mode));
            }
            checksum = sum;
            first = false;
        }
        context.step(round < rounds ? fmt::format("round {} of {}", round + 1, rounds)
                                    : std::string(context.python ? "Python" : ""));
    }
    for (ModeResult& result : results) result.seconds = median(result.samples);
    return results;
}

}  // namespace tandem::cli
