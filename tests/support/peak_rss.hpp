// Test support: a process's peak resident memory, to check that a claim read
// from a peer (a length, a count) costs memory only for bytes that arrived.
// Measure in a fresh child (child_process.hpp): its peak starts at its size
// at fork().
//
//     const long before = peak_rss_kib();
//     receive_something_hostile();
//     EXPECT_LT(peak_rss_kib() - before, 64 * 1024);
#pragma once

#include <fstream>  // /proc/self/status
#include <string>   // its keys

namespace tandem_test {

/// VmHWM of this process in KiB (the peak resident set), or -1 if unknown.
inline long peak_rss_kib() {
    std::ifstream status("/proc/self/status");
    std::string key;
    while (status >> key) {
        if (key == "VmHWM:") {
            long kib = 0;
            status >> kib;
            return kib;
        }
        status.ignore(1 << 12, '\n');
    }
    return -1;
}

}  // namespace tandem_test
