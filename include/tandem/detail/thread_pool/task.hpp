// Internal: a task of the thread pool — the callable and its future in one
// allocation.
//
// The queues hold Runnable pointers; each owns one reference to its task. A
// worker calls run(), which claims the future (set_running_or_notify_cancel),
// runs the callable, destroys it (so captured arguments die before anyone sees
// the result, as Python drops the work item), completes the future and drops
// the queue's reference. abandon() does the same for work that will never run.
#pragma once

#include <exception>    // std::current_exception
#include <functional>   // std::invoke
#include <optional>     // the callable, destroyed right after it ran
#include <type_traits>  // std::invoke_result_t
#include <utility>      // std::move

#include "tandem/detail/future/future_state.hpp"

namespace tandem::detail {

/// Called on the thread that runs a task, after the callable returned and
/// before the task's future completes. The thread pool counts its worker as
/// free here, before anyone can see the result: a caller that submits again
/// as soon as result() returns then finds that worker instead of starting
/// another (Python's idle-thread reuse).
inline thread_local void (*before_task_completes)() noexcept = nullptr;

class Runnable {
public:
    /// Runs the task unless it was cancelled, completes its future, and drops
    /// the queue's reference.
    virtual void run() noexcept = 0;
    /// Completes the future with `error` without running (a broken pool), or
    /// cancels it when `error` is null (shutdown with cancel_futures), and drops
    /// the queue's reference.
    virtual void abandon(std::exception_ptr error) noexcept = 0;

protected:
    ~Runnable() = default;
};

template <class Callable, class Result = std::invoke_result_t<Callable&>>
class Task final : public FutureState<Result>, public Runnable {
public:
    explicit Task(Callable callable) : callable_(std::move(callable)) {
        this->retain();  // the queue's reference; the creator keeps the first
    }

    void run() noexcept override {
        if (claim()) {
            try {
                if constexpr (std::is_void_v<Result>) {
                    std::invoke(*callable_);
                    callable_.reset();
                    finishing();
                    this->try_set_result();
                } else {
                    Result value = std::invoke(*callable_);
                    callable_.reset();
                    finishing();
                    this->try_set_result(std::move(value));
                }
            } catch (...) {
                callable_.reset();
                finishing();
                this->try_set_exception(std::current_exception());
            }
        }
        this->release();
    }

    void abandon(std::exception_ptr error) noexcept override {
        callable_.reset();
        if (error) {
            this->try_set_exception(std::move(error));
        } else if (this->cancel()) {
            claim();  // tells wait()/as_completed() at once (Python leaves them waiting)
        }
        this->release();
    }

private:
    static void finishing() noexcept {
        if (before_task_completes != nullptr) before_task_completes();
    }

    bool claim() noexcept {
        try {
            return this->set_running_or_notify_cancel();
        } catch (...) {
            return false;  // someone completed this executor's future by hand
        }
    }

    std::optional<Callable> callable_;
};

}  // namespace tandem::detail
