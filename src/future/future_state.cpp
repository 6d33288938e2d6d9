// The future state machine shared by every executor (see detail/future/future_state.hpp).
#include "tandem/detail/future/future_state.hpp"

#include <climits>   // INT_MAX: wake every sleeper
#include <cstdio>    // default callback-exception report
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
constexpr FutureStatus status_of(std::uint32_t word) noexcept { return static_cast<FutureStatus>(word & 0x7); }

// How long result() spins before it sleeps: long enough to catch a task that an
// awake worker finishes within a few microseconds (a futex sleep and wake-up
// costs far more), short enough not to matter when the task is long.
constexpr std::chrono::microseconds spin_budget{20};
}  // namespace

WaitHelper*& current_wait_helper() noexcept {
    thread_local WaitHelper* helper = nullptr;
    return helper;
}

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

void throw_already_done() { throw InvalidStateError("future is already done"); }

FutureStateBase::~FutureStateBase() = default;

bool FutureStateBase::done() const noexcept { return is_done(status()); }

bool FutureStateBase::notified_done() const noexcept {
    const auto s = status();
    return s == FutureStatus::finished || s == FutureStatus::cancelled_and_notified;
}

bool FutureStateBase::cancelled() const noexcept {
    const auto s = status();
    return s == FutureStatus::cancelled || s == FutureStatus::cancelled_and_notified;
}

bool FutureStateBase::cancel() {
    std::uint32_t word = word_.load(std::memory_order_acquire);
    for (;;) {
        const auto s = status_of(word);
        if (s == FutureStatus::cancelled || s == FutureStatus::cancelled_and_notified) return true;
        if (s != FutureStatus::pending) return false;
        // Waiters registered by wait() stay registered: like Python, they learn
        // of the cancellation only once the executor has seen it.
        const std::uint32_t desired = (word & listeners_flag) | static_cast<std::uint32_t>(FutureStatus::cancelled);
        if (word_.compare_exchange_weak(word, desired, std::memory_order_acq_rel)) break;
    }
    wake_sleepers(word);
    if (word & listeners_flag) {
        std::vector<DoneCallback> callbacks;
        {
            std::lock_guard lock(listeners_mutex_);
            for (Waiter* waiter : waiters_) waiter->on_cancel(*this);
            callbacks.swap(callbacks_);
        }
        run_callbacks(std::move(callbacks));
    }
    return true;
}

bool FutureStateBase::set_running_or_notify_cancel() {
    std::uint32_t word = word_.load(std::memory_order_acquire);
    while (status_of(word) == FutureStatus::pending) {
        const std::uint32_t desired = (word & ~status_mask) | static_cast<std::uint32_t>(FutureStatus::running);
        if (word_.compare_exchange_weak(word, desired, std::memory_order_acq_rel)) return true;
    }
    if (status_of(word) != FutureStatus::cancelled) throw RuntimeError("Future in unexpected state");
    std::lock_guard lock(listeners_mutex_);
    word = word_.load(std::memory_order_acquire);
    do {
        if (status_of(word) != FutureStatus::cancelled) throw RuntimeError("Future in unexpected state");
    } while (!word_.compare_exchange_weak(
        word, (word & ~status_mask) | static_cast<std::uint32_t>(FutureStatus::cancelled_and_notified),
        std::memory_order_acq_rel));
    for (Waiter* waiter : waiters_) waiter->on_complete(*this, Waiter::Outcome::cancelled);
    return false;
}

void FutureStateBase::set_exception(std::exception_ptr error) {
    if (!try_set_exception(std::move(error))) throw_already_done();
}

bool FutureStateBase::try_set_exception(std::exception_ptr error) noexcept {
    if (!begin_completion()) return false;
    error_ = std::move(error);
    finish(Waiter::Outcome::exception);
    return true;
}

bool FutureStateBase::begin_completion() noexcept {
    std::uint32_t word = word_.load(std::memory_order_acquire);
    for (;;) {
        const auto s = status_of(word);
        if (s != FutureStatus::pending && s != FutureStatus::running) return false;
        const std::uint32_t desired = (word & ~status_mask) | static_cast<std::uint32_t>(FutureStatus::completing);
        if (word_.compare_exchange_weak(word, desired, std::memory_order_acq_rel)) return true;
    }
}

void FutureStateBase::finish(Waiter::Outcome outcome) noexcept {
    const std::uint32_t previous = word_.exchange(static_cast<std::uint32_t>(FutureStatus::finished),
                                                  std::memory_order_acq_rel);
    wake_sleepers(previous);
    if (!(previous & listeners_flag)) return;
    std::vector<DoneCallback> callbacks;
    {
        // Waiters are told under the lock: remove_waiter() takes it too, so a
        // waiter cannot be destroyed while we call it.
        std::lock_guard lock(listeners_mutex_);
        for (Waiter* waiter : waiters_) waiter->on_complete(*this, outcome);
        callbacks.swap(callbacks_);
    }
    run_callbacks(std::move(callbacks));
}

void FutureStateBase::wake_sleepers(std::uint32_t previous_word) noexcept {
    if (previous_word & sleepers_flag) futex_wake(word_, INT_MAX);
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
        std::lock_guard lock(listeners_mutex_);
        const std::uint32_t word = word_.fetch_or(listeners_flag, std::memory_order_acq_rel);
        if (!is_done(status_of(word))) {
            callbacks_.push_back(std::move(callback));
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
    std::lock_guard lock(listeners_mutex_);
    const auto s = status_of(word_.fetch_or(listeners_flag, std::memory_order_acq_rel));
    if (s == FutureStatus::finished || s == FutureStatus::cancelled_and_notified) return false;
    waiters_.push_back(&waiter);
    return true;
}

void FutureStateBase::remove_waiter(Waiter& waiter) noexcept {
    std::lock_guard lock(listeners_mutex_);
    std::erase(waiters_, &waiter);
}

bool FutureStateBase::wait(Deadline deadline) {
    if (done()) return true;
    if (WaitHelper* helper = current_wait_helper()) return helper->wait_helping(*this, deadline);
    if (spin_until([this] { return done(); }, spin_budget)) return true;
    return sleep_until_done(deadline);
}

bool FutureStateBase::sleep_until_done(Deadline deadline) noexcept {
    std::uint32_t word = word_.load(std::memory_order_acquire);
    for (;;) {
        if (is_done(status_of(word))) return true;
        if (!(word & sleepers_flag)) {
            if (!word_.compare_exchange_weak(word, word | sleepers_flag, std::memory_order_acq_rel)) continue;
            word |= sleepers_flag;
        }
        if (!futex_wait(word_, word, deadline)) return done();
        word = word_.load(std::memory_order_acquire);
    }
}

}  // namespace detail
}  // namespace tandem
