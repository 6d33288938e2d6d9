// tandem bench: how a task's code runs — freely, or as Python code would,
// under an InterpreterLock (the emulated GIL).
//
// A task written once against OptionalGil runs in both modes: tick() is the
// eval loop's check between "bytecodes", and release_around() is what a
// CPython extension does around a blocking call or a long C computation
// (Py_BEGIN_ALLOW_THREADS: socket reads, file reads, time.sleep, zlib on
// large buffers). Without a lock both are plain calls.
#pragma once

#include "tandem/interpreter_lock.hpp"  // InterpreterLock

namespace tandem::cli {

class OptionalGil {
public:
    /// No lock: the code runs freely.
    OptionalGil() = default;
    /// The code runs under `gil`, which the calling thread holds.
    explicit OptionalGil(InterpreterLock& gil) noexcept : gil_(&gil) {}

    /// A check point: hands the lock over if a waiter asked for it.
    void tick() const {
        if (gil_ != nullptr) gil_->checkpoint();
    }

    /// Runs `call` with the lock released (a blocking call), and returns its result.
    template <class Call>
    decltype(auto) release_around(Call&& call) const {
        if (gil_ == nullptr) return call();
        InterpreterLock::AllowThreads released(*gil_);
        return call();
    }

    /// Whether a lock is in use.
    bool active() const noexcept { return gil_ != nullptr; }

private:
    InterpreterLock* gil_ = nullptr;
};

}  // namespace tandem::cli
