// The future state machine shared by every executor (see detail/future/future_state.hpp).
#include "tandem/detail/future/future_state.hpp"

#include <climits>   // INT_MAX: wake every sleeper
#include <cstdio>    // default callback-exception report
#include <memory>    // the listeners block, made on first use
#include <mutex>     // guards callbacks and waiters
#include <typeinfo>  // type name in the default report

#include "tandem/errors.hpp"
#include "tandem/future.hpp"

namespace tandem {

namespace {
std::mutex handler_mutex;
CallbackExceptionHandler& handler_slot() {
    static CallbackExceptionHandler handler;
    return handler;
}

void print_callback_exception(std::exception_ptr error) {
    try {
        std::rethrow_exception(error);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "tandem: exception calling callback for future: %s\n", e.what());
    } catch (...) {
        std::fprintf(stderr, "tandem: exception calling callback for future: (not a std::exception)\n");
    }
}
}  // namespace

CallbackExceptionHandler set_callback_exception_handler(CallbackExceptionHandler handler) {
    std::lock_guard lock(handler_mutex);
    return std::exchange(handler_slot(), std::move(handler));
}

namespace detail {

namespace {
constexpr bool is_done(FutureStatus s) noexcept {
    return s == FutureStatus::cancelled || s == FutureStatus::cancelled_and_notified ||
           s == FutureStatus::finished;
}

// How long result() spins before it sleeps: long enough to catch a task that an
// awake worker finishes within a few microseconds (a futex sleep and wake-up
// costs far more), short enough not to matter when the task is long.
constexpr std::chrono::microseconds spin_budget{20};
}  // namespace

WaitHelper*& current_wait_helper() noexcept {
    thread_local WaitHelper* helper = nullptr;
    return helper;
}

struct FutureStateBase::Listeners {
    std::mutex mutex;
    std::vector<DoneCallback> callbacks;
    std::vector<Waiter*> waiters;
};

namespace {

/// result() on a worker: wakes the helper when the future completes or is
/// cancelled, registered only while the helper sleeps.
class FutureWait final : public HelpedWait, public Waiter {
public:
    explicit FutureWait(FutureStateBase& future) noexcept : future_(future) {}
    bool ready() noexcept override { return future_.done(); }
    bool arm(WaitHelper& helper) override {
        helper_ = &helper;
        installed_ = future_.add_waiter(*this);
        return installed_ && !future_.done();
    }
    void disarm() noexcept override {
        if (std::exchange(installed_, false)) future_.remove_waiter(*this);
    }
    void on_complete(FutureStateBase&, Outcome) noexcept override { helper_->wake(); }
    void on_cancel(FutureStateBase&) noexcept override { helper_->wake(); }

private:
    FutureStateBase& future_;
    WaitHelper* helper_ = nullptr;
    bool installed_ = false;
};

}  // namespace

void report_callback_exception(std::exception_ptr error) noexcept {
    CallbackExceptionHandler handler;
    {
        std::lock_guard lock(handler_mutex);
        handler = handler_slot();
    }
    try {
        if (handler) {
            handler(error);
            return;
        }
    } catch (...) {
        // A failing handler must not take the process down; fall back to stderr.
    }
    print_callback_exception(error);
}

void throw_already_done(const FutureStateBase& state) {
    if (state.running()) throw InvalidStateError("future is running in an executor, which completes it");
    throw InvalidStateError("future is already done");
}
void throw_no_state() { throw InvalidStateError("future has no state (default-constructed or moved from)"); }

FutureStateBase::~FutureStateBase() { delete listeners_.load(std::memory_order_acquire); }

FutureStateBase::Listeners& FutureStateBase::listeners() {
    Listeners* existing = listeners_.load(std::memory_order_acquire);
    if (existing != nullptr) return *existing;
    auto fresh = std::make_unique<Listeners>();
    if (listeners_.compare_exchange_strong(existing, fresh.get(), std::memory_order_acq_rel, std::memory_order_acquire))
        return *fresh.release();
    return *existing;  // another thread made it first
}

bool FutureStateBase::cancel() {
    Word word = word_.load(std::memory_order_acquire);
    for (;;) {
        const auto s = status_of(word);
        if (s == FutureStatus::cancelled || s == FutureStatus::cancelled_and_notified) return true;
        if (s != FutureStatus::pending) return false;
        // Waiters registered by wait() stay registered: like Python, they learn
        // of the cancellation only once the executor has seen it. Sleepers are
        // all woken below, so their flag goes.
        const Word desired = (word & (references_mask | listeners_flag)) | static_cast<Word>(FutureStatus::cancelled);
        if (word_.compare_exchange_weak(word, desired, std::memory_order_acq_rel)) break;
    }
    wake_sleepers(word);
    if (word & listeners_flag) {
        // The flag is set after the block is made: it is there.
        Listeners& block = *listeners_.load(std::memory_order_acquire);
        std::vector<DoneCallback> callbacks;
        {
            std::lock_guard lock(block.mutex);
            for (Waiter* waiter : block.waiters) waiter->on_cancel(*this);
            callbacks.swap(block.callbacks);
        }
        run_callbacks(std::move(callbacks));
    }
    return true;
}

bool FutureStateBase::set_running_or_notify_cancel() {
    Word word = word_.load(std::memory_order_acquire);
    while (status_of(word) == FutureStatus::pending) {
        const Word desired = (word & ~status_mask) | static_cast<Word>(FutureStatus::running);
        if (word_.compare_exchange_weak(word, desired, std::memory_order_acq_rel)) return true;
    }
    if (status_of(word) != FutureStatus::cancelled) throw RuntimeError("Future in unexpected state");
    notify_cancelled_and_notified(word);
    return false;
}

bool FutureStateBase::claim_for_runner() noexcept {
    Word word = word_.load(std::memory_order_acquire);
    while (status_of(word) == FutureStatus::pending) {
        const Word desired = (word & ~status_mask) | owned_flag | static_cast<Word>(FutureStatus::running);
        if (word_.compare_exchange_weak(word, desired, std::memory_order_acq_rel)) return true;
    }
    // Cancelled while queued: tell the waiters now. Anything else: someone
    // completed this executor's future by hand before it ran.
    if (status_of(word) == FutureStatus::cancelled) notify_cancelled_and_notified(word);
    return false;
}

/// cancelled -> cancelled_and_notified, then wait()/as_completed() are told.
void FutureStateBase::notify_cancelled_and_notified(Word word) noexcept {
    while (status_of(word) == FutureStatus::cancelled) {
        const Word desired = (word & ~status_mask) | static_cast<Word>(FutureStatus::cancelled_and_notified);
        if (word_.compare_exchange_weak(word, desired, std::memory_order_acq_rel)) {
            // A waiter that registers after this transition sees it and is not
            // added; one that registered before set the flag first, and is in
            // the list.
            tell_listeners(word, Waiter::Outcome::cancelled);
            return;
        }
    }
}

void FutureStateBase::set_exception(std::exception_ptr error) {
    if (!try_set_exception(std::move(error))) throw_already_done(*this);
}

bool FutureStateBase::try_set_exception(std::exception_ptr error) noexcept {
    if (!begin_completion()) return false;
    error_ = std::move(error);
    finish(Waiter::Outcome::exception);
    return true;
}

bool FutureStateBase::begin_completion() noexcept {
    Word word = word_.load(std::memory_order_acquire);
    for (;;) {
        const auto s = status_of(word);
        if ((s != FutureStatus::pending && s != FutureStatus::running) || (word & owned_flag)) return false;
        const Word desired = (word & ~status_mask) | static_cast<Word>(FutureStatus::completing);
        if (word_.compare_exchange_weak(word, desired, std::memory_order_acq_rel)) return true;
    }
}

void FutureStateBase::finish(Waiter::Outcome outcome) noexcept {
    // completing (0b101) -> finished (0b100), dropping the flags: whoever comes
    // later sees a finished future and needs no wake-up. The count stays.
    static_assert((static_cast<Word>(FutureStatus::completing) & ~Word{1}) == static_cast<Word>(FutureStatus::finished));
    const Word previous = word_.fetch_and(~(Word{1} | sleepers_flag | listeners_flag), std::memory_order_acq_rel);
    wake_sleepers(previous);
    tell_listeners(previous, outcome);
}

void FutureStateBase::publish_and_release(Waiter::Outcome outcome) noexcept {
    Word word = word_.load(std::memory_order_relaxed);
    Word desired = 0;
    bool released = false;
    do {
        desired = (word & references_mask) | static_cast<Word>(FutureStatus::finished);
        // With nobody to wake or tell, nothing touches the state after this
        // operation, so the runner's reference can go with it.
        released = (word & (sleepers_flag | listeners_flag)) == 0;
        if (released) desired -= one_reference;
    } while (!word_.compare_exchange_weak(word, desired, std::memory_order_acq_rel, std::memory_order_relaxed));
    if (released) {
        if ((desired >> reference_shift) == 0) dispose();
        return;
    }
    wake_sleepers(word);
    tell_listeners(word, outcome);
    release();
}

/// Tells the waiters and runs the callbacks, if `previous` had any.
void FutureStateBase::tell_listeners(Word previous, Waiter::Outcome outcome) noexcept {
    if (!(previous & listeners_flag)) return;
    Listeners& block = *listeners_.load(std::memory_order_acquire);
    std::vector<DoneCallback> callbacks;
    {
        // Waiters are told under the lock: remove_waiter() takes it too, so a
        // waiter cannot be destroyed while we call it.
        std::lock_guard lock(block.mutex);
        for (Waiter* waiter : block.waiters) waiter->on_complete(*this, outcome);
        callbacks.swap(block.callbacks);  // empty after a cancellation: cancel() ran them
    }
    run_callbacks(std::move(callbacks));
}

void FutureStateBase::wake_sleepers(Word previous) noexcept {
    if (previous & sleepers_flag) futex_wake(word_, INT_MAX);
}

void FutureStateBase::run_callbacks(std::vector<DoneCallback> callbacks) noexcept {
    for (auto& callback : callbacks) {
        try {
            callback(*this);
        } catch (...) {
            report_callback_exception(std::current_exception());
        }
    }
}

void FutureStateBase::add_done_callback(DoneCallback callback) {
    {
        Listeners& block = listeners();
        std::lock_guard lock(block.mutex);
        const Word word = word_.fetch_or(listeners_flag, std::memory_order_acq_rel);
        if (!is_done(status_of(word))) {
            block.callbacks.push_back(std::move(callback));
            return;
        }
    }
    try {
        callback(*this);
    } catch (...) {
        report_callback_exception(std::current_exception());
    }
}

bool FutureStateBase::add_waiter(Waiter& waiter) {
    Listeners& block = listeners();
    std::lock_guard lock(block.mutex);
    const auto s = status_of(word_.fetch_or(listeners_flag, std::memory_order_acq_rel));
    if (s == FutureStatus::finished || s == FutureStatus::cancelled_and_notified) return false;
    block.waiters.push_back(&waiter);
    return true;
}

void FutureStateBase::remove_waiter(Waiter& waiter) noexcept {
    Listeners* block = listeners_.load(std::memory_order_acquire);
    if (block == nullptr) return;  // never registered
    std::lock_guard lock(block->mutex);
    std::erase(block->waiters, &waiter);
}

bool FutureStateBase::wait(Deadline deadline) {
    if (done()) return true;
    if (WaitHelper* helper = current_wait_helper()) {
        FutureWait wait(*this);
        return helper->help_until(wait, deadline);
    }
    if (spin_until([this] { return done(); }, spin_budget)) return true;
    return sleep_until_done(deadline);
}

bool FutureStateBase::sleep_until_done(Deadline deadline) noexcept {
    Word word = word_.load(std::memory_order_acquire);
    for (;;) {
        if (is_done(status_of(word))) return true;
        if (!(word & sleepers_flag)) {
            if (!word_.compare_exchange_weak(word, word | sleepers_flag, std::memory_order_acq_rel)) continue;
            word |= sleepers_flag;
        }
        // The futex watches the low half: the status and flags, not the count.
        if (!futex_wait(word_, static_cast<std::uint32_t>(word), deadline)) return done();
        word = word_.load(std::memory_order_acquire);
    }
}

}  // namespace detail
}  // namespace tandem
