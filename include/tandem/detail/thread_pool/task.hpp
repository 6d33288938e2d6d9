// Internal: a task of the thread pool — the callable and its future in one
// allocation, from the calling thread's task cache (task_allocator.hpp).
//
// The queues hold Runnable pointers; each owns one reference to its task. A
// worker calls run(), which claims the future (claim_for_runner: from then on
// only the runner completes it), runs the callable, destroys it (so captured
// arguments die before anyone sees the result, as Python drops the work item),
// then publishes the result and drops the queue's reference, in one atomic
// operation when nobody waits on the future. abandon() does the same for work
// that will never run.
#pragma once

#include <exception>    // std::current_exception
#include <functional>   // std::invoke
#include <new>          // placement new into cached memory
#include <optional>     // the callable, destroyed right after it ran
#include <type_traits>  // std::invoke_result_t
#include <utility>      // std::move

#include "tandem/detail/future/future_state.hpp"         // FutureState: what a Task completes
#include "tandem/detail/thread_pool/task_allocator.hpp"  // allocate_task, deallocate_task

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
    /// A new task holding two references: the creator's and the queue's.
    static Task* make(Callable callable) {
        if constexpr (cached()) {
            void* memory = allocate_task(sizeof(Task));
            try {
                return new (memory) Task(std::move(callable));
            } catch (...) {
                deallocate_task(memory, sizeof(Task));
                throw;
            }
        } else {
            return new Task(std::move(callable));
        }
    }

    void run() noexcept override {
        if (!this->claim_for_runner()) {
            this->release();
            return;
        }
        Waiter::Outcome outcome = Waiter::Outcome::result;
        try {
            if constexpr (std::is_void_v<Result>) {
                std::invoke(*callable_);
            } else {
                this->store_value(std::invoke(*callable_));
            }
        } catch (...) {
            this->store_exception(std::current_exception());
            outcome = Waiter::Outcome::exception;
        }
        callable_.reset();
        finishing();
        this->publish_and_release(outcome);
    }

    void abandon(std::exception_ptr error) noexcept override {
        callable_.reset();
        if (error) {
            this->try_set_exception(std::move(error));
        } else if (this->cancel()) {
            this->claim_for_runner();  // tells wait()/as_completed() at once (Python leaves them waiting)
        }
        this->release();
    }

private:
    // Over-aligned callables are rare; they come from the system allocator.
    static constexpr bool cached() noexcept { return alignof(Task) <= kTaskAlignment; }

    // Two references: the creator's and the queue's.
    explicit Task(Callable callable) : FutureState<Result>(2), callable_(std::move(callable)) {}

    void dispose() noexcept override {
        if constexpr (cached()) {
            this->~Task();
            deallocate_task(this, sizeof(Task));
        } else {
            delete this;
        }
    }

    static void finishing() noexcept {
        if (before_task_completes != nullptr) before_task_completes();
    }

    std::optional<Callable> callable_;
};

}  // namespace tandem::detail
