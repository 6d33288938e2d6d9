// tandem bench: the workloads, in the lecture's order — CPU-bound (crunching,
// preprocessing), I/O-bound (network, files), then the costs (overheads,
// memory) and the cases for threads (a responsive loop, audio).
#include "workload.hpp"

namespace tandem::cli {

extern const Workload kCpuCrunch;
extern const Workload kAudioPreprocess;
extern const Workload kHttpFetch;
extern const Workload kFilesWaits;
extern const Workload kOverheads;
extern const Workload kMemoryCopy;
extern const Workload kUiResponsiveness;
extern const Workload kAudioRealtime;

const std::vector<Workload>& all_workloads() {
    static const std::vector<Workload> workloads = {kCpuCrunch, kAudioPreprocess, kHttpFetch,        kFilesWaits,
                                                    kOverheads, kMemoryCopy,      kUiResponsiveness, kAudioRealtime};
    return workloads;
}

}  // namespace tandem::cli
