// wait() and as_completed(): waiters installed on each future (Python's design),
// woken by the completing thread rather than polling. In a pool's worker the
// wait is a helping one: the worker runs other tasks until the condition holds,
// and the completing thread wakes it if it sleeps.
#include "tandem/wait.hpp"

#include <climits>  // INT_MAX

namespace tandem::detail {

namespace {

bool failed(FutureStateBase& state) {
    return state.status() == FutureStatus::finished && state.stored_exception() != nullptr;
}

/// wait()'s waiter: fires when its ReturnWhen condition holds.
class ConditionWaiter final : public Waiter, public HelpedWait {
public:
    ConditionWaiter(ReturnWhen when, WaitHelper* helper) : when_(when), helper_(helper) {}

    void on_complete(FutureStateBase&, Outcome outcome) noexcept override {
        std::lock_guard lock(mutex_);
        ++completed_;
        const bool trigger = when_ == ReturnWhen::FirstCompleted ||
                             (when_ == ReturnWhen::FirstException && outcome == Outcome::exception) ||
                             (installed_known_ && completed_ >= installed_);
        if (trigger) fire();
    }

    /// Called once every future has been offered the waiter.
    void installed(std::size_t count) {
        std::lock_guard lock(mutex_);
        installed_ = count;
        installed_known_ = true;
        if (completed_ >= installed_) fire();
    }

    bool ready() noexcept override { return fired_.load(std::memory_order_seq_cst) != 0; }

    bool wait(Deadline deadline) {
        if (helper_ != nullptr) return helper_->help_until(*this, deadline);
        while (fired_.load(std::memory_order_acquire) == 0) {
            if (!futex_wait(fired_, 0, deadline)) return fired_.load(std::memory_order_acquire) != 0;
        }
        return true;
    }

private:
    void fire() noexcept {
        // seq_cst: a helper clears its wake bits and then reads fired_.
        if (fired_.exchange(1, std::memory_order_seq_cst) != 0) return;
        futex_wake(fired_, INT_MAX);
        if (helper_ != nullptr) helper_->wake();
    }

    const ReturnWhen when_;
    WaitHelper* const helper_;  // the worker that waits, if a pool's worker does
    std::mutex mutex_;
    std::size_t completed_ = 0;
    std::size_t installed_ = 0;
    bool installed_known_ = false;
    std::atomic<std::uint32_t> fired_{0};
};

/// as_completed() in a worker: over once the collector's signal moves on.
class SignalMoved final : public HelpedWait {
public:
    SignalMoved(const std::atomic<std::uint32_t>& signal, std::uint32_t seen) : signal_(signal), seen_(seen) {}
    bool ready() noexcept override { return signal_.load(std::memory_order_seq_cst) != seen_; }

private:
    const std::atomic<std::uint32_t>& signal_;
    const std::uint32_t seen_;
};

}  // namespace

void wait_for(const std::vector<FutureStateBase*>& states, Deadline deadline, ReturnWhen when) {
    ConditionWaiter waiter(when, current_wait_helper());
    std::vector<FutureStateBase*> installed;
    installed.reserve(states.size());
    bool satisfied = false;
    for (FutureStateBase* state : states) {
        if (state->add_waiter(waiter)) {
            installed.push_back(state);
        } else if (when == ReturnWhen::FirstCompleted || (when == ReturnWhen::FirstException && failed(*state))) {
            satisfied = true;  // already done before we looked
            break;
        }
    }
    if (!satisfied) {
        waiter.installed(installed.size());
        waiter.wait(deadline);
    }
    for (FutureStateBase* state : installed) state->remove_waiter(waiter);
}

void CompletionCollector::on_complete(FutureStateBase& future, Outcome) noexcept {
    std::lock_guard lock(mutex_);
    finished_.push_back(&future);
    signal_.fetch_add(1, std::memory_order_seq_cst);
    futex_wake(signal_, 1);
    // Under the lock: take() clears helper_ under it before it returns.
    if (helper_ != nullptr) helper_->wake();
}

bool CompletionCollector::take(std::vector<FutureStateBase*>& out, Deadline deadline) {
    // Read per call: the range may be iterated on another thread than the
    // one that made it.
    WaitHelper* const helper = current_wait_helper();
    for (;;) {
        const std::uint32_t seen = signal_.load(std::memory_order_seq_cst);
        {
            std::lock_guard lock(mutex_);
            if (!finished_.empty()) {
                out.insert(out.end(), finished_.begin(), finished_.end());
                finished_.clear();
                return true;
            }
            helper_ = helper;
        }
        bool woken = false;
        if (helper != nullptr) {
            struct Unset {
                CompletionCollector& collector;
                ~Unset() {
                    std::lock_guard lock(collector.mutex_);
                    collector.helper_ = nullptr;
                }
            } unset{*this};
            SignalMoved moved(signal_, seen);
            woken = helper->help_until(moved, deadline);
        } else {
            woken = futex_wait(signal_, seen, deadline);
        }
        if (!woken) {
            std::lock_guard lock(mutex_);
            if (finished_.empty()) return false;
        }
    }
}

}  // namespace tandem::detail
