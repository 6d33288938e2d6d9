// Internal: the stop sources of a thread pool's stop-token tasks.
//
// Threads cannot be killed, so a thread-pool task that takes a
// std::stop_token as its first parameter gets one (C++20's cooperative
// idiom), and ThreadPoolExecutor::stop(future) or shutdown(cancel_futures)
// request a stop on it. The registry maps such a task's future state to its
// stop source from submit() until the future completes (a done-callback
// removes it), so plain tasks cost nothing and a finished task is never
// asked to stop.
//
//     auto registry = std::make_shared<StopRegistry>();
//     registry->add(state, source);                   // before the task is queued
//     registry->request_stop(state);                  // stop(future)
#pragma once

#include <mutex>          // guards the map
#include <stop_token>     // std::stop_source, std::stop_token
#include <unordered_map>  // future state -> its stop source
#include <utility>        // std::move

#include "tandem/detail/future/future_state.hpp"  // FutureStateBase

namespace tandem::detail {

class StopRegistry {
public:
    /// Records `source` as the stop source of the task whose future is `future`.
    void add(const FutureStateBase* future, std::stop_source source) {
        std::lock_guard lock(mutex_);
        sources_.insert_or_assign(future, std::move(source));
    }
    /// Forgets `future`'s source (its task finished, or was never queued).
    void remove(const FutureStateBase* future) noexcept {
        std::lock_guard lock(mutex_);
        sources_.erase(future);
    }
    /// Requests a stop of `future`'s task. True if this call made the request;
    /// false for a future that is not an unfinished stop-token task, or one
    /// asked before.
    bool request_stop(const FutureStateBase* future) {
        std::lock_guard lock(mutex_);
        const auto found = sources_.find(future);
        return found != sources_.end() && found->second.request_stop();
    }
    /// Requests a stop of every unfinished stop-token task.
    void request_stop_all() {
        std::lock_guard lock(mutex_);
        for (auto& [future, source] : sources_) source.request_stop();
    }

private:
    std::mutex mutex_;
    std::unordered_map<const FutureStateBase*, std::stop_source> sources_;
};

}  // namespace tandem::detail
