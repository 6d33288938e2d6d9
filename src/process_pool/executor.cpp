// ProcessPoolExecutor's non-template parts. See tandem/process_pool_executor.hpp.
#include "tandem/process_pool_executor.hpp"

#include <fcntl.h>  // fcntl(F_DUPFD_CLOEXEC)

#include <cerrno>        // errno
#include <system_error>  // std::system_error

namespace tandem {

detail::UniqueFd Initializer::duplicate_fd(int fd) {
    const int copy = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (copy < 0) throw std::system_error(errno, std::generic_category(), "initializer: dup");
    return detail::UniqueFd(copy);
}

ProcessPoolExecutor::ProcessPoolExecutor(ProcessPoolOptions options) {
    if (options.max_workers && *options.max_workers == 0) throw ValueError("max_workers must be greater than 0");
    if (options.max_tasks_per_child && *options.max_tasks_per_child == 0)
        throw ValueError("max_tasks_per_child must be >= 1");
    detail::process_pool::EngineOptions engine;
    engine.workers = options.max_workers.value_or(detail::process_cpu_count());
    engine.start_method = options.start_method;
    if (options.initializer.call_) {
        engine.initializer = options.initializer.call_->bytes;
        for (const detail::UniqueFd& fd : options.initializer.call_->fds)
            engine.initializer_fds.push_back(Initializer::duplicate_fd(fd.get()));
    }
    engine.max_tasks_per_child = options.max_tasks_per_child;
    engine.max_retries = options.max_retries;
    engine_ = std::make_unique<detail::process_pool::PoolEngine>(std::move(engine));
}

ProcessPoolExecutor::~ProcessPoolExecutor() = default;

}  // namespace tandem
