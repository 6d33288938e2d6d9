// ProcessPoolExecutor's non-template parts. See tandem/process_pool_executor.hpp.
#include "tandem/process_pool_executor.hpp"

#include <string>  // error messages

namespace tandem {

namespace {

// Python's mp_context, or the start_method option; both only if they agree.
std::optional<multiprocessing::StartMethod> chosen_start_method(const ProcessPoolOptions& options) {
    const std::optional<multiprocessing::StartMethod> from_context =
        options.mp_context ? options.mp_context->start_method() : std::nullopt;
    if (options.start_method && from_context && *options.start_method != *from_context) {
        throw ValueError("start_method '" + std::string(multiprocessing::start_method_name(*options.start_method)) +
                         "' disagrees with the context's '" +
                         std::string(multiprocessing::start_method_name(*from_context)) + "'");
    }
    return options.start_method ? options.start_method : from_context;
}

}  // namespace

ProcessPoolExecutor::ProcessPoolExecutor(ProcessPoolOptions options) {
    if (options.max_workers && *options.max_workers == 0) throw ValueError("max_workers must be greater than 0");
    if (options.max_tasks_per_child && *options.max_tasks_per_child == 0)
        throw ValueError("max_tasks_per_child must be >= 1");
    detail::process_pool::EngineOptions engine;
    engine.workers = options.max_workers.value_or(detail::process_cpu_count());
    engine.start_method = chosen_start_method(options);
    if (!options.initializer.empty()) {
        if (!options.initializer.remote_) {
            throw ValueError(std::string("ProcessPoolExecutor: the initializer cannot run in a worker process: ") +
                             options.initializer.not_remote_reason_);
        }
        engine.initializer = options.initializer.remote_->bytes;
        for (const detail::UniqueFd& fd : options.initializer.remote_->fds)
            engine.initializer_fds.push_back(detail::duplicate_fd(fd.get()));
    }
    engine.max_tasks_per_child = options.max_tasks_per_child;
    engine.max_retries = options.max_retries;
    if (options.max_memory_per_child == 0u) throw ValueError("max_memory_per_child must be greater than 0");
    if (options.memory_limit_per_child == 0u) throw ValueError("memory_limit_per_child must be greater than 0");
    engine.max_memory_per_child = options.max_memory_per_child.value_or(0);
    engine.memory_limit_per_child = options.memory_limit_per_child.value_or(0);
    engine.prefix_worker_output = options.prefix_worker_output;
    engine_ = detail::process_pool::start_engine(std::move(engine));
}

// Shut down here rather than when the last reference goes: a lazy map()
// may hold the engine for a moment while it submits.
ProcessPoolExecutor::~ProcessPoolExecutor() {
    if (engine_) engine_->shutdown(true, false);
}

}  // namespace tandem
