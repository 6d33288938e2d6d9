// Internal: a pool worker's memory bounds.
//
// Two options, both off unless asked for:
//  - max_memory_per_child (celery's worker_max_memory_per_child): after each
//    task the worker reads its resident set size (one pread of
//    /proc/self/statm on a descriptor opened at start) and, above the bound,
//    exits once the reply is out; the pool starts a new worker in its slot
//    and hands it any task the old one had not started. No task fails.
//  - memory_limit_per_child: a hard bound, enforced by the kernel with
//    RLIMIT_DATA (private writable memory: heap, anonymous mappings) set to
//    what the worker had when it started plus the limit — relative, so that
//    what a worker inherits (a forked parent's heap, a sanitizer's shadow)
//    does not count against its tasks. An allocation past it fails in that
//    worker only: operator new throws std::bad_alloc, which the worker sends
//    back as tandem::MemoryError naming the limit, and then exits so the pool
//    replaces it (its heap may be fragmented near the bound). The kernel's
//    OOM killer never has to choose. No cgroup is needed (nor root).
//
//     limit_data_growth(256 << 20);        // in the worker, at start
//     ResidentSetSize rss;                  // opened at start
//     if (rss.bytes() > bound) exit_after_reply();
#pragma once

#include <cstddef>  // std::size_t

#include "tandem/detail/os/unique_fd.hpp"      // /proc/self/statm, kept open
#include "tandem/detail/wire/remote_call.hpp"  // CallOutcome

namespace tandem::detail::process_pool {

/// Sets RLIMIT_DATA to this process's private writable memory now plus
/// `bytes`. Throws std::system_error if /proc/self/status cannot be read or
/// the limit cannot be set.
void limit_data_growth(std::size_t bytes);

/// This process's resident set size, read cheaply again and again.
class ResidentSetSize {
public:
    /// Opens /proc/self/statm. Throws std::system_error.
    ResidentSetSize();
    /// Resident bytes now; 0 if the read failed.
    std::size_t bytes() const noexcept;

private:
    UniqueFd statm_;
    std::size_t page_size_;
};

/// If `outcome` is a std::bad_alloc and the worker has a hard limit of
/// `limit` bytes, replaces it with a MemoryError that names the limit and
/// returns true.
bool name_memory_limit(CallOutcome& outcome, std::size_t limit);

}  // namespace tandem::detail::process_pool
