// detail::process_cpu_count(): the affinity mask, not the machine's core count.
#include "tandem/detail/os/cpu_count.hpp"

#include <sched.h>   // sched_getaffinity, CPU_COUNT
#include <unistd.h>  // sysconf fallback

namespace tandem::detail {

std::size_t process_cpu_count() noexcept {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) == 0) {
        const int count = CPU_COUNT(&set);
        if (count > 0) return static_cast<std::size_t>(count);
    }
    const long online = sysconf(_SC_NPROCESSORS_ONLN);
    return online > 0 ? static_cast<std::size_t>(online) : 1;
}

}  // namespace tandem::detail
