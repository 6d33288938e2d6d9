// Test support: a one-shot gate that tasks block on until the test opens it,
// and a bounded wait for a condition. Both bounded, so a broken test fails
// instead of hanging; neither sleeps. Declare a gate before the pool (it must
// outlive the tasks that wait on it) and take an opener() after the pool, so
// that even a failing test opens it before the pool joins its workers.
//
//     Gate gate;
//     auto opener = gate.opener();               // opens on scope exit, even on failure
//     auto f = pool.submit([&gate] { gate.wait(); });
//     EXPECT_TRUE(eventually([&] { return f.running(); }));
//     gate.open();
#pragma once

#include <chrono>  // timeouts
#include <future>  // the promise behind the gate
#include <memory>  // opener()
#include <mutex>   // std::once_flag
#include <thread>  // std::this_thread::yield

namespace tandem_test {

class Gate {
public:
    void open() {
        std::call_once(opened_, [this] { promise_.set_value(); });
    }
    /// True once open; false if `timeout` passed first.
    bool wait(std::chrono::milliseconds timeout = std::chrono::seconds(10)) const {
        return ready_.wait_for(timeout) == std::future_status::ready;
    }
    /// Opens the gate when it goes out of scope.
    [[nodiscard]] auto opener() {
        return std::unique_ptr<Gate, void (*)(Gate*)>(this, [](Gate* gate) { gate->open(); });
    }

private:
    std::promise<void> promise_;
    std::shared_future<void> ready_ = promise_.get_future().share();
    std::once_flag opened_;
};

/// Waits (bounded) until `condition` holds: yields between the first checks,
/// then polls every millisecond (a condition read from /proc, or one that
/// another process makes true, must not starve that process of a core).
/// Never a sleep in place of synchronisation: the wait ends as soon as the
/// condition holds, and `limit` only bounds a bug.
template <class Condition>
bool eventually(Condition condition, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
    constexpr int kYieldingChecks = 1000;
    const auto give_up = std::chrono::steady_clock::now() + limit;
    for (int check = 0; !condition(); ++check) {
        if (std::chrono::steady_clock::now() > give_up) return false;
        if (check < kYieldingChecks) {
            std::this_thread::yield();
        } else {
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
    }
    return true;
}

}  // namespace tandem_test
