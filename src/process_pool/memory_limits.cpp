// A pool worker's memory bounds. See tandem/detail/process_pool/memory_limits.hpp.
#include "tandem/detail/process_pool/memory_limits.hpp"

#include <fcntl.h>         // open
#include <sys/resource.h>  // setrlimit(RLIMIT_DATA)
#include <unistd.h>        // pread, sysconf

#include <cerrno>        // errno
#include <cstdio>        // std::sscanf
#include <cstring>       // std::strstr
#include <new>           // std::bad_alloc
#include <string>        // the message
#include <system_error>  // std::system_error

#include "tandem/detail/os/system_error.hpp"  // throw_errno
#include "tandem/errors.hpp"                  // MemoryError
#include "tandem/serialization.hpp"           // decode_exception

namespace tandem::detail::process_pool {
namespace {

// VmData of /proc/self/status: the private writable memory RLIMIT_DATA counts.
std::size_t data_bytes_now() {
    const UniqueFd status(::open("/proc/self/status", O_RDONLY | O_CLOEXEC));
    if (!status) throw_errno("pool worker: open /proc/self/status");
    char text[4096];
    const ssize_t got = ::pread(status.get(), text, sizeof text - 1, 0);
    if (got <= 0) throw_errno("pool worker: read /proc/self/status");
    text[got] = '\0';
    const char* line = std::strstr(text, "VmData:");
    unsigned long kib = 0;
    if (line == nullptr || std::sscanf(line, "VmData: %lu kB", &kib) != 1) {
        throw std::system_error(EINVAL, std::generic_category(), "pool worker: no VmData in /proc/self/status");
    }
    return static_cast<std::size_t>(kib) * 1024;
}

}  // namespace

void limit_data_growth(std::size_t bytes) {
    const std::size_t now = data_bytes_now();
    rlimit limit{};
    limit.rlim_cur = limit.rlim_max = static_cast<rlim_t>(now + bytes);
    if (::setrlimit(RLIMIT_DATA, &limit) != 0) throw_errno("pool worker: setrlimit(RLIMIT_DATA)");
}

ResidentSetSize::ResidentSetSize()
    : statm_(::open("/proc/self/statm", O_RDONLY | O_CLOEXEC)),
      page_size_(static_cast<std::size_t>(::sysconf(_SC_PAGESIZE))) {
    if (!statm_) throw_errno("pool worker: open /proc/self/statm");
}

std::size_t ResidentSetSize::bytes() const noexcept {
    // "size resident shared text lib data dt", in pages.
    char text[128];
    const ssize_t got = ::pread(statm_.get(), text, sizeof text - 1, 0);
    if (got <= 0) return 0;
    text[got] = '\0';
    unsigned long size = 0;
    unsigned long resident = 0;
    if (std::sscanf(text, "%lu %lu", &size, &resident) != 2) return 0;
    return static_cast<std::size_t>(resident) * page_size_;
}

bool name_memory_limit(CallOutcome& outcome, std::size_t limit) {
    if (limit == 0 || !outcome.raised) return false;
    try {
        std::rethrow_exception(decode_exception(outcome.payload));
    } catch (const std::bad_alloc&) {
        outcome = raised_outcome(std::make_exception_ptr(
            MemoryError("the task ran out of memory: its worker may grow by at most " + std::to_string(limit) +
                        " bytes (memory_limit_per_child, enforced as RLIMIT_DATA)")));
        return true;
    } catch (...) {
    }
    return false;
}

}  // namespace tandem::detail::process_pool
