// tandem/wait.hpp — concurrent.futures.wait() and as_completed().
//
// Both take any range of futures — from one executor or several, of one type or
// mixed through AnyFuture — and, like Python, treat duplicates as one future.
//
//     std::vector<tandem::Future<int>> fs = ...;
//     auto [done, not_done] = tandem::wait(fs, std::chrono::seconds(1),
//                                          tandem::ReturnWhen::FirstException);
//
//     for (tandem::Future<int> f : tandem::as_completed(fs, std::chrono::seconds(5)))
//         use(f.result());   // in completion order; TimeoutError if 5 s pass first
//
// Only futures that finished, or whose cancellation the executor has seen,
// count as done (Python's FINISHED and CANCELLED_AND_NOTIFIED).
//
// Called in a thread pool's worker — a task waiting for a group of its
// children — both run the pool's other tasks while they wait, as result()
// does, so the worker never blocks (Python's would). An empty
// (default-constructed or moved-from) future among the inputs is an
// InvalidStateError.
#pragma once

#include <atomic>         // the collector's signal
#include <chrono>         // timeouts
#include <cstddef>        // std::size_t
#include <cstdint>        // std::uint32_t
#include <deque>          // futures ready to be yielded
#include <iterator>       // std::default_sentinel_t
#include <memory>         // the collector outlives moves of the range
#include <mutex>          // guards the collector
#include <optional>       // "no timeout"
#include <ranges>         // input ranges of futures
#include <string>         // timeout message
#include <unordered_map>  // state -> future, for as_completed
#include <vector>         // results

#include "tandem/detail/future/pull_iterator.hpp"  // as_completed's iterator
#include "tandem/future.hpp"

namespace tandem {

/// When wait() returns (Python: FIRST_COMPLETED, FIRST_EXCEPTION, ALL_COMPLETED).
enum class ReturnWhen { FirstCompleted, FirstException, AllCompleted };
inline constexpr ReturnWhen FIRST_COMPLETED = ReturnWhen::FirstCompleted;
inline constexpr ReturnWhen FIRST_EXCEPTION = ReturnWhen::FirstException;
inline constexpr ReturnWhen ALL_COMPLETED = ReturnWhen::AllCompleted;

/// What wait() returns (Python: DoneAndNotDoneFutures), each in input order.
template <class F>
struct DoneAndNotDone {
    std::vector<F> done;
    std::vector<F> not_done;
};

namespace detail {

/// Blocks until `when` holds for `states` or `deadline` passes. The caller
/// owns a reference to each state for the whole call (wait() holds the
/// futures): the waiter is removed from every state before it returns.
void wait_for(const std::vector<FutureStateBase*>& states, Deadline deadline, ReturnWhen when);

/// as_completed()'s waiter: collects futures in the order they complete.
class CompletionCollector final : public Waiter {
public:
    void on_complete(FutureStateBase& future, Outcome outcome) noexcept override;
    /// Moves what completed since the last call into `out`; waits until there
    /// is something or `deadline` passes (running other tasks meanwhile, in a
    /// pool's worker).
    bool take(std::vector<FutureStateBase*>& out, Deadline deadline);

private:
    std::mutex mutex_;
    std::vector<FutureStateBase*> finished_;
    std::atomic<std::uint32_t> signal_{0};
    WaitHelper* helper_ = nullptr;  // the worker waiting in take(), woken by on_complete
};

template <class F>
std::vector<F> unique_futures(auto&& futures) {
    std::vector<F> unique;
    std::unordered_map<FutureStateBase*, bool> seen;
    for (auto&& future : futures) {
        if (future.state() == nullptr) throw_no_state();
        if (seen.emplace(future.state(), true).second) unique.push_back(future);
    }
    return unique;
}

template <class R>
using future_of = std::ranges::range_value_t<R>;

}  // namespace detail

/// Waits for the futures, returning when `when` holds or `deadline` passes.
/// InvalidStateError if one of them is empty.
template <std::ranges::input_range R>
DoneAndNotDone<detail::future_of<R>> wait(R&& futures, detail::Deadline deadline,
                                          ReturnWhen when = ReturnWhen::AllCompleted) {
    using F = detail::future_of<R>;
    std::vector<F> unique = detail::unique_futures<F>(futures);
    std::vector<detail::FutureStateBase*> states;
    states.reserve(unique.size());
    for (const F& f : unique) states.push_back(f.state());
    detail::wait_for(states, deadline, when);
    DoneAndNotDone<F> result;
    for (F& f : unique) (f.state()->notified_done() ? result.done : result.not_done).push_back(std::move(f));
    return result;
}

/// wait() with no timeout.
template <std::ranges::input_range R>
DoneAndNotDone<detail::future_of<R>> wait(R&& futures, ReturnWhen when = ReturnWhen::AllCompleted) {
    return wait(std::forward<R>(futures), detail::Deadline{}, when);
}

/// wait() giving up after `timeout`; what is not done then is in not_done.
template <std::ranges::input_range R, class Rep, class Period>
DoneAndNotDone<detail::future_of<R>> wait(R&& futures, std::chrono::duration<Rep, Period> timeout,
                                          ReturnWhen when = ReturnWhen::AllCompleted) {
    return wait(std::forward<R>(futures), detail::Deadline{detail::deadline_after(timeout)}, when);
}

/// The range as_completed() returns; iterate it once.
///
/// Like Python's as_completed, which keeps its own set of the futures, the
/// range owns a reference to every future it watches: the caller may drop
/// its copies, and each future once yielded, at any time. A future leaves
/// the watched set, and its waiter is removed, while the range still owns
/// it; what the range has yielded it never touches again.
template <class F>
class AsCompleted {
public:
    AsCompleted(std::vector<F> futures, detail::Deadline deadline)
        : deadline_(deadline), total_(futures.size()), collector_(std::make_unique<detail::CompletionCollector>()) {
        for (F& f : futures) {
            detail::FutureStateBase* state = f.state();
            if (state->add_waiter(*collector_)) {
                watched_.emplace(state, std::move(f));
            } else {
                ready_.push_back(std::move(f));  // already done: yielded first
            }
        }
    }
    AsCompleted(AsCompleted&&) noexcept = default;
    AsCompleted& operator=(AsCompleted&&) = delete;
    ~AsCompleted() {
        // Every state in watched_ is kept alive by the future beside it.
        if (collector_)
            for (auto& [state, future] : watched_) state->remove_waiter(*collector_);
    }

    using iterator = detail::PullIterator<AsCompleted, const F>;

    /// Yields the first future; may block, and throws TimeoutError if none
    /// completes in time.
    iterator begin() { return iterator::first(this); }
    std::default_sentinel_t end() const noexcept { return {}; }

private:
    friend iterator;
    bool advance() {
        while (ready_.empty()) {
            if (watched_.empty()) return false;
            // The collector hands back the states that completed; each is a
            // key of watched_, so it is alive until erased below.
            std::vector<detail::FutureStateBase*> finished;
            if (!collector_->take(finished, deadline_))
                throw TimeoutError(std::to_string(watched_.size()) + " (of " + std::to_string(total_) +
                                   ") futures unfinished");
            for (detail::FutureStateBase* state : finished) {
                auto found = watched_.find(state);
                if (found == watched_.end()) continue;
                state->remove_waiter(*collector_);
                ready_.push_back(std::move(found->second));
                watched_.erase(found);
            }
        }
        current_.emplace(std::move(ready_.front()));
        ready_.pop_front();
        return true;
    }

    detail::Deadline deadline_;
    std::size_t total_;
    std::unique_ptr<detail::CompletionCollector> collector_;
    // The futures not yet completed, by state: each owns its state, on which
    // collector_ is registered as a waiter.
    std::unordered_map<detail::FutureStateBase*, F> watched_;
    std::deque<F> ready_;
    std::optional<F> current_;
};

/// Yields the futures as they complete: those already done first, then each as
/// it finishes. Duplicates are yielded once. InvalidStateError if one of them
/// is empty.
template <std::ranges::input_range R>
AsCompleted<detail::future_of<R>> as_completed(R&& futures) {
    using F = detail::future_of<R>;
    return AsCompleted<F>(detail::unique_futures<F>(futures), detail::Deadline{});
}

/// as_completed() whose iteration throws TimeoutError("N (of M) futures
/// unfinished") once `timeout`, counted from this call, has passed.
template <std::ranges::input_range R, class Rep, class Period>
AsCompleted<detail::future_of<R>> as_completed(R&& futures, std::chrono::duration<Rep, Period> timeout) {
    using F = detail::future_of<R>;
    return AsCompleted<F>(detail::unique_futures<F>(futures), detail::deadline_after(timeout));
}

}  // namespace tandem
