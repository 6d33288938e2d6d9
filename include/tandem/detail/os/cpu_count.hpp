// Internal: how many CPUs this process may run on.
#pragma once

#include <cstddef>  // std::size_t

namespace tandem::detail {

/// The CPUs in this process's affinity mask (Python's os.process_cpu_count()),
/// at least 1. A container or `taskset` limit is therefore honoured.
std::size_t process_cpu_count() noexcept;

}  // namespace tandem::detail
