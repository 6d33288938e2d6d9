// A waiting caller collects a process pool's replies. See
// tandem/detail/process_pool/caller_collector.hpp.
#include "tandem/detail/process_pool/caller_collector.hpp"

#include <memory>  // std::weak_ptr: the pool, held weakly

#include "tandem/detail/future/future_state.hpp"  // WaitHelper, current_wait_helper

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

    void attach(PoolEngine& engine) {
        // The address alone could be a new pool where a dead one was.
        if (attached_ == &engine && !engine_.expired()) return;
        engine_ = engine.weak_from_this();
        attached_ = &engine;
    }

    bool wait_helping(FutureStateBase& future, Deadline deadline) override {
        if (const std::shared_ptr<PoolEngine> engine = engine_.lock()) {
            if (engine->collect_while_waiting(future, deadline)) return true;
        }
        // Nothing more to collect soon: wait as any thread does (the
        // collector thread completes the future), with this helper out of
        // the way for that one wait.
        struct Reinstall {
            CallerCollector* self;
            ~Reinstall() { current_wait_helper() = self; }
        } reinstall{this};
        current_wait_helper() = nullptr;
        return future.wait(deadline);
    }

private:
    std::weak_ptr<PoolEngine> engine_;
    const PoolEngine* attached_ = nullptr;
};

thread_local CallerCollector caller_collector;

}  // namespace

void collect_while_waiting_here(PoolEngine& engine) {
    WaitHelper*& helper = current_wait_helper();
    if (helper != nullptr && helper != &caller_collector) return;
    caller_collector.attach(engine);
    helper = &caller_collector;
}

}  // namespace tandem::detail::process_pool
