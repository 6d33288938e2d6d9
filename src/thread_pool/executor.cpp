// ThreadPoolExecutor's defaults (the rest is in the header and the scheduler).
#include "tandem/thread_pool_executor.hpp"

#include <atomic>  // pool counter for default names

#include "tandem/detail/os/cpu_count.hpp"

namespace tandem::detail {

std::size_t default_thread_pool_workers() { return std::min<std::size_t>(32, process_cpu_count() + 4); }

std::string default_thread_pool_prefix() {
    static std::atomic<int> counter{0};
    return "ThreadPoolExecutor-" + std::to_string(counter.fetch_add(1, std::memory_order_relaxed));
}

}  // namespace tandem::detail
