// tandem/multiprocessing/async_result.hpp — multiprocessing.pool.AsyncResult.
//
// What Pool.apply_async(), map_async() and starmap_async() return (Pool and
// ThreadPool alike, tandem/multiprocessing/pool.hpp), and the callbacks they
// take: get() waits for the job and returns its result or rethrows its
// exception, as in Python.
//
//     tandem::multiprocessing::ThreadPool pool(4);
//     tandem::multiprocessing::AsyncResult<int> job = pool.apply_async(square, 7);
//     if (job.wait(std::chrono::seconds(1))) use(job.get());    // 49
//     auto all = pool.map_async(square, inputs, {}, {.callback = [](const std::vector<int>& r) { log(r); }});
//     all.get();
#pragma once

#include <chrono>       // timeouts
#include <exception>    // std::exception_ptr for error_callback
#include <functional>   // std::function callbacks
#include <optional>     // "no deadline"
#include <type_traits>  // result types
#include <utility>      // std::move
#include <vector>       // MapResult's values

#include "tandem/detail/future/future_state.hpp"  // ResultTypes: what get() returns
#include "tandem/detail/os/futex.hpp"             // deadline_after
#include "tandem/errors.hpp"                      // ValueError from successful()
#include "tandem/future.hpp"                      // Future, what an AsyncResult wraps

namespace tandem::multiprocessing {

/// Python's callback / error_callback arguments of apply_async, map_async and
/// starmap_async. `callback` receives the result, `error_callback` the
/// exception; exactly one of them runs, once, when the job ends, before
/// get() returns, as in Python. They run in the thread that completes the
/// job (a pool thread for ThreadPool, the pool's result collector for Pool),
/// or, if the job (the last chunk, for map_async) already ended when the
/// pool registers them, inside the apply_async/map_async call itself. Keep
/// them short: they hold up that thread. An exception a callback throws goes
/// to the callback-exception handler (tandem::set_callback_exception_handler)
/// and does not change the job's result.
template <class R>
struct AsyncCallbacks {
    /// Called with the result when the job succeeds; may be empty.
    std::function<void(const R&)> callback;
    /// Called with the exception when the job fails (CancelledError if the
    /// pool was terminated first); may be empty.
    std::function<void(std::exception_ptr)> error_callback;
};
/// A job without a result: `callback` takes nothing.
template <>
struct AsyncCallbacks<void> {
    /// Called when the job succeeds; may be empty.
    std::function<void()> callback;
    /// Called with the exception when the job fails; may be empty.
    std::function<void(std::exception_ptr)> error_callback;
};

/// Python's AsyncResult (ApplyResult, MapResult): the result of
/// apply_async(), map_async() or starmap_async(). Copies share one result.
template <class R>
class AsyncResult {
public:
    /// Wraps a future (pools make these; a test can too).
    explicit AsyncResult(Future<R> future) noexcept : future_(std::move(future)) {}

    /// Waits for the job and returns its result (a reference into the shared
    /// result, valid while a copy of this AsyncResult lives), or rethrows the
    /// job's exception. CancelledError if the pool was terminated before the
    /// job ran.
    typename tandem::detail::ResultTypes<R>::const_reference get() const { return future_.result(); }
    /// As get(), but throws TimeoutError (multiprocessing.TimeoutError) if the
    /// result is not ready within `timeout`.
    template <class Rep, class Period>
    typename tandem::detail::ResultTypes<R>::const_reference get(std::chrono::duration<Rep, Period> timeout) const {
        return future_.result(timeout);
    }
    /// Waits until the job ended. Returns true (Python returns None).
    bool wait() const {
        future_.state()->wait(std::nullopt);
        return true;
    }
    /// Waits at most `timeout`; returns ready() (Python returns None: test
    /// ready() there).
    template <class Rep, class Period>
    bool wait(std::chrono::duration<Rep, Period> timeout) const {
        return future_.state()->wait(tandem::detail::deadline_after(timeout));
    }
    /// Whether the job has ended.
    bool ready() const { return future_.done(); }
    /// Whether the job ended without an exception. Throws ValueError if it has
    /// not ended yet, as Python does.
    bool successful() const {
        if (!ready()) throw ValueError("AsyncResult not ready");
        return !future_.cancelled() && future_.exception() == nullptr;
    }
    /// The underlying future, for tandem::wait() and as_completed() (beyond
    /// Python: pool results mix with executor futures there).
    const Future<R>& future() const noexcept { return future_; }

private:
    Future<R> future_;
};

/// Python's multiprocessing.pool.ApplyResult and MapResult are AsyncResults.
template <class R>
using ApplyResult = AsyncResult<R>;
template <class R>
using MapResult = AsyncResult<std::vector<R>>;

}  // namespace tandem::multiprocessing
