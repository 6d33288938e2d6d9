// tandem bench: reading /proc/PID/smaps_rollup.
#include "memory_use.hpp"

#include <fstream>    // the rollup file
#include <sstream>    // "Name:   1234 kB" lines
#include <stdexcept>  // std::runtime_error
#include <string>     // lines

namespace tandem::cli {

MemoryUse memory_use(pid_t pid) {
    const std::string path = pid == 0 ? "/proc/self/smaps_rollup" : "/proc/" + std::to_string(pid) + "/smaps_rollup";
    std::ifstream rollup(path);
    if (!rollup) throw std::runtime_error("cannot read " + path);
    MemoryUse use;
    bool found = false;
    for (std::string line; std::getline(rollup, line);) {
        std::istringstream fields(line);
        std::string name;
        double kib = 0;
        if (!(fields >> name >> kib)) continue;
        const double mib = kib / 1024;
        if (name == "Rss:") {
            use.rss_mib = mib;
            found = true;
        } else if (name == "Pss:") {
            use.pss_mib = mib;
        } else if (name == "Private_Clean:" || name == "Private_Dirty:") {
            use.private_mib += mib;
        } else if (name == "Shared_Clean:" || name == "Shared_Dirty:") {
            use.shared_mib += mib;
        }
    }
    if (!found) throw std::runtime_error(path + " has no Rss line");
    return use;
}

}  // namespace tandem::cli
