// wait() and as_completed(): waiters installed on each future (Python's design),
// woken by the completing thread rather than polling.
#include "tandem/wait.hpp"

#include <climits>  // INT_MAX

namespace tandem::detail {

namespace {

bool failed(FutureStateBase& state) {
    return state.status() == FutureStatus::finished && state.stored_exception() != nullptr;
}

/// wait()'s waiter: fires when its ReturnWhen condition holds.
class ConditionWaiter final : public Waiter {
public:
    explicit ConditionWaiter(ReturnWhen when) : when_(when) {}

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

    bool wait(Deadline deadline) {
        while (fired_.load(std::memory_order_acquire) == 0) {
            if (!futex_wait(fired_, 0, deadline)) return fired_.load(std::memory_order_acquire) != 0;
        }
        return true;
    }

private:
    void fire() noexcept {
        if (fired_.exchange(1, std::memory_order_acq_rel) == 0) futex_wake(fired_, INT_MAX);
    }

    const ReturnWhen when_;
    std::mutex mutex_;
    std::size_t completed_ = 0;
    std::size_t installed_ = 0;
    bool installed_known_ = false;
    std::atomic<std::uint32_t> fired_{0};
};

}  // namespace

void wait_for(const std::vector<FutureStateBase*>& states, Deadline deadline, ReturnWhen when) {
    ConditionWaiter waiter(when);
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
    signal_.fetch_add(1, std::memory_order_release);
    futex_wake(signal_, 1);
}

bool CompletionCollector::take(std::vector<FutureStateBase*>& out, Deadline deadline) {
    for (;;) {
        const std::uint32_t seen = signal_.load(std::memory_order_acquire);
        {
            std::lock_guard lock(mutex_);
            if (!finished_.empty()) {
                out.insert(out.end(), finished_.begin(), finished_.end());
                finished_.clear();
                return true;
            }
        }
        if (!futex_wait(signal_, seen, deadline)) {
            std::lock_guard lock(mutex_);
            if (finished_.empty()) return false;
        }
    }
}

}  // namespace tandem::detail
