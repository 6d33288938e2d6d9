// tandem bench: a process's memory as the kernel accounts it
// (/proc/PID/smaps_rollup): resident, proportional (shared pages divided
// among their sharers) and private, the part that is this process's alone.
#pragma once

#include <sys/types.h>  // pid_t

namespace tandem::cli {

/// A process's memory in MiB. Trivially copyable: it travels between
/// processes as its bytes.
struct MemoryUse {
    double rss_mib = 0;      // resident pages, shared or not (Rss)
    double pss_mib = 0;      // shared pages counted 1/n for n sharers (Pss)
    double private_mib = 0;  // pages no other process maps (Private_Clean + Private_Dirty)
    double shared_mib = 0;   // pages other processes map too (Shared_Clean + Shared_Dirty)
};

/// The memory of process `pid` (0: this process). Throws std::runtime_error
/// if /proc/PID/smaps_rollup cannot be read (Linux 4.14+).
MemoryUse memory_use(pid_t pid = 0);

}  // namespace tandem::cli
