// Internal: what a multiprocessing pool shares with everything it hands out.
//
// A Pool's state (run, close, terminate), the number of its tasks not yet
// ended (join() waits for 0) and the imaps still reading their input live in
// one PoolCore that the pool, its AsyncResults' callbacks and its imap feeds
// hold: any of them may outlive the others.
//
//     auto core = std::make_shared<PoolCore>();
//     Future<int> future = executor.submit(fn, 1);
//     track(core, future);                       // join() now waits for it
#pragma once

#include <condition_variable>  // join() waiting for tasks
#include <cstddef>             // std::size_t
#include <exception>           // what a callback throws
#include <memory>              // the shared core, weak feeds
#include <mutex>               // the core's lock
#include <utility>             // std::forward
#include <vector>              // the feeds

#include "tandem/detail/future/future_state.hpp"  // report_callback_exception
#include "tandem/future.hpp"                      // Future: what track() counts

namespace tandem::detail {

/// Used by join(): an imap whose input is not all read yet.
class Drainable {
public:
    /// Reads and submits the rest of the input.
    virtual void drain() noexcept = 0;

protected:
    ~Drainable() = default;
};

/// What the pool and everything it hands out share: its state, the number
/// of tasks not yet ended, and the imaps still reading input.
struct PoolCore {
    enum class State { run, close, terminate };

    std::mutex mutex;
    std::condition_variable idle;  // outstanding reached 0
    State state = State::run;
    std::size_t outstanding = 0;
    std::vector<std::weak_ptr<Drainable>> feeds;

    bool terminated() {
        std::lock_guard lock(mutex);
        return state == State::terminate;
    }
};

/// Counts `future` as outstanding until it ends (or is cancelled).
template <class T>
void track(const std::shared_ptr<PoolCore>& core, Future<T>& future) {
    {
        std::lock_guard lock(core->mutex);
        ++core->outstanding;
    }
    future.add_done_callback([core] {
        std::lock_guard lock(core->mutex);
        if (--core->outstanding == 0) core->idle.notify_all();
    });
}

/// Runs a user callback, sending what it throws to the callback-exception
/// handler: a callback must not change the job's result nor kill the thread
/// that completes jobs.
template <class Callback, class... Args>
void run_user_callback(const Callback& callback, Args&&... args) noexcept {
    if (!callback) return;
    try {
        callback(std::forward<Args>(args)...);
    } catch (...) {
        report_callback_exception(std::current_exception());
    }
}

}  // namespace tandem::detail
