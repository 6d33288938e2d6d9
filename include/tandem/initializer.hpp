// tandem/initializer.hpp — Python's `initializer, initargs` pair, one type for
// every pool: ThreadPoolExecutor, ProcessPoolExecutor, multiprocessing::Pool
// and ThreadPool.
//
// An Initializer is a call, fn(args...), that each worker makes once before
// its first task: to open a connection per thread, load a model per process,
// set per-worker state. A thread pool calls it in the worker thread; a
// process pool sends it to each worker process, so there it must be what
// submit() accepts: a function or a lambda without captures, with initargs
// that are serializable (or handed off) and match its parameters.
//
//     void open_database(std::string path, int pool_size);
//
//     tandem::ThreadPoolExecutor threads({.max_workers = 8,
//                                         .initializer = {open_database, "/var/db", 4}});
//     tandem::ProcessPoolExecutor processes({.initializer = {open_database, "/var/db", 4}});
//     tandem::ThreadPoolExecutor with_state({.initializer = [&registry] { registry.enter(); }});
//
// Which calls can cross a process boundary is known at compile time, but a
// thread pool takes any callable (a capturing lambda, a function object), so
// the same Initializer cannot reject those when it is built: a process pool
// given one throws ValueError naming the reason when it is constructed
// (Python fails at that point too, when it pickles the initializer).
// If the call throws in a worker, the pool breaks (BrokenThreadPool,
// BrokenProcessPool), as in Python.
#pragma once

#include <concepts>     // std::invocable
#include <cstddef>      // std::byte
#include <functional>   // std::function: the call a thread pool makes, std::invoke
#include <memory>       // the encoded call, shared by copies
#include <type_traits>  // std::decay_t
#include <utility>      // std::forward, std::move
#include <vector>       // the encoded call's bytes and descriptors

#include "tandem/detail/os/unique_fd.hpp"      // UniqueFd: descriptors handed to each worker
#include "tandem/detail/wire/handoff.hpp"      // HandoffWriter: the encoded call
#include "tandem/detail/wire/remote_call.hpp"  // RemoteCallable, RemoteInvocable, encode_call

namespace tandem {

class ProcessPoolExecutor;

/// Python's initializer + initargs: fn(args...), run once in each worker of a
/// pool before it takes tasks. Cheap to copy (copies share the call).
class Initializer {
public:
    /// No initializer (Python: initializer=None).
    Initializer() = default;

    /// initializer = fn, initargs = (args...). `fn` and the arguments are
    /// decay-copied; a thread pool calls fn(args...) with them as const
    /// lvalues, in each worker thread. Implicit, so a pool's options take
    /// `.initializer = set_up` or `.initializer = {set_up, 1, "two"}`. When
    /// fn(args...) can run in another process (a function or captureless
    /// lambda whose arguments can travel) the call is also encoded now, for
    /// process pools: throws what encoding an argument throws.
    template <class F, class... Args>
        requires(!std::is_same_v<std::remove_cvref_t<F>, Initializer> &&
                 std::invocable<const std::decay_t<F>&, const std::decay_t<Args>&...>)
    Initializer(F&& fn, Args&&... args) {  // NOLINT(google-explicit-constructor): Python's keyword reads as a value
        using Fn = std::decay_t<F>;
        if constexpr (detail::RemoteInvocable<Fn, std::decay_t<Args>...>) {
            detail::HandoffWriter call;
            detail::encode_call(call, fn, args...);
            remote_ = keep(call);
        } else if constexpr (!detail::RemoteCallable<Fn>) {
            not_remote_reason_ =
                "it is a capturing lambda or a function object; only a function or a lambda without captures "
                "can be found again in another process (pass what it captures as initargs)";
        } else {
            not_remote_reason_ =
                "its initargs do not match the function's parameters, or one of them cannot be serialized "
                "(see tandem/serialization.hpp)";
        }
        local_ = [fn = Fn(std::forward<F>(fn)), ... args = std::decay_t<Args>(std::forward<Args>(args))] {
            static_cast<void>(std::invoke(fn, args...));
        };
    }

    /// Whether an initializer was given.
    bool empty() const noexcept { return !local_; }

    /// Calls fn(args...) in the calling thread (what a thread pool's worker
    /// does). Throws what fn throws.
    void operator()() const {
        if (local_) local_();
    }

private:
    friend class ProcessPoolExecutor;
    struct Encoded {
        std::vector<std::byte> bytes;
        std::vector<detail::UniqueFd> fds;
    };
    /// The call's bytes, with its descriptors duplicated: the objects they
    /// belong to may be gone by the time a worker starts.
    static std::shared_ptr<const Encoded> keep(const detail::HandoffWriter& call);

    std::function<void()> local_;
    std::shared_ptr<const Encoded> remote_;
    const char* not_remote_reason_ = nullptr;  // why remote_ is empty, for a process pool's error
};

}  // namespace tandem
