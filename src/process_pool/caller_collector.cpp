// A waiting caller collects a process pool's replies. See
// caller_collector.hpp.
#include "caller_collector.hpp"

#include <atomic>   // the wake-up word
#include <cstdint>  // std::uint32_t
#include <memory>   // std::weak_ptr: the pool, held weakly

#include "tandem/detail/future/future_state.hpp"  // WaitHelper, HelpedWait, current_wait_helper
#include "tandem/detail/os/futex.hpp"             // futex_wait, futex_wake, Clock

namespace tandem::detail::process_pool {
namespace {

class CallerCollector final : public WaitHelper {
public:
    CallerCollector() = default;
    CallerCollector(const CallerCollector&) = delete;
    CallerCollector& operator=(const CallerCollector&) = delete;
    ~CallerCollector() {
        if (current_wait_helper() == this) current_wait_helper() = nullptr;
    }

    void attach(EngineImpl& engine) {
        // The address alone could be a new pool where a dead one was.
        if (attached_ == &engine && !engine_.expired()) return;
        engine_ = engine.weak_from_this();
        attached_ = &engine;
    }

    bool help_until(HelpedWait& wait, Deadline deadline) override {
        if (const std::shared_ptr<EngineImpl> engine = engine_.lock()) {
            if (engine->collect_while_waiting(wait, deadline)) return true;
        }
        // Nothing more to collect soon: sleep as any waiting thread does
        // (the collector thread completes the future) until the wait wakes
        // this helper or the deadline passes.
        for (;;) {
            if (wait.ready()) return true;
            if (deadline && Clock::now() >= *deadline) return false;
            woken_.store(0, std::memory_order_seq_cst);
            if (wait.arm(*this)) {
                while (woken_.load(std::memory_order_acquire) == 0) {
                    if (!futex_wait(woken_, 0, deadline)) break;
                }
            }
            wait.disarm();
        }
    }

    void wake() noexcept override {
        woken_.store(1, std::memory_order_release);
        futex_wake(woken_, 1);
    }

private:
    std::weak_ptr<EngineImpl> engine_;
    const EngineImpl* attached_ = nullptr;
    std::atomic<std::uint32_t> woken_{0};  // set by wake(); the futex this thread sleeps on
};

thread_local CallerCollector caller_collector;

}  // namespace

void collect_while_waiting_here(EngineImpl& engine) {
    WaitHelper*& helper = current_wait_helper();
    if (helper != nullptr && helper != &caller_collector) return;
    caller_collector.attach(engine);
    helper = &caller_collector;
}

}  // namespace tandem::detail::process_pool
