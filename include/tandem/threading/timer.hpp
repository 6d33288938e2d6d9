// tandem/threading/timer.hpp — threading.Timer.
//
// A Thread that calls a function after an interval unless cancel() is called
// first. cancel() wakes the timer's thread at once, which then ends without
// calling the function. The interval is counted from start().
//
//     tandem::threading::Timer reminder(std::chrono::seconds(30), [](const std::string& text) {
//         std::puts(text.c_str());
//     }, std::string("still waiting..."));
//     reminder.start();
//     // ... the answer arrives in time:
//     reminder.cancel();
//
// Being a Thread, it follows Thread's lifetime rule: destroying a started
// non-daemon Timer that was neither cancelled nor fired waits for it to fire.
#pragma once

#include <chrono>   // the interval
#include <memory>   // the shared "finished" event
#include <utility>  // std::forward, std::move

#include "tandem/threading/event.hpp"   // Event, what the timer waits on
#include "tandem/threading/thread.hpp"  // Thread

namespace tandem::threading {

/// A thread that runs a function after a delay (Python: threading.Timer).
class Timer final : public Thread {
public:
    /// Timer(interval, function, args=(args...)); arguments are decay-copied.
    template <class Rep, class Period, class F, class... Args>
        requires ThreadTargetFor<F, Args...>
    Timer(std::chrono::duration<Rep, Period> interval, F&& function, Args&&... args)
        : Timer(std::make_shared<Event>(), interval,
                detail::bind_thread_target(std::forward<F>(function), std::forward<Args>(args)...)) {}

    /// Stops the timer if it has not fired yet (also before start()); the
    /// waiting thread ends at once. Does nothing if the function already runs.
    void cancel() noexcept { finished_->set(); }

private:
    // The event is shared with the thread so that a daemon Timer destroyed
    // while waiting leaves its thread nothing dangling.
    template <class Rep, class Period>
    Timer(std::shared_ptr<Event> finished, std::chrono::duration<Rep, Period> interval,
          std::unique_ptr<detail::ThreadTarget> function)
        : Thread(ThreadOptions{},
                 detail::bind_thread_target([finished, interval, function = std::move(function)] {
                     finished->wait(interval);
                     if (!finished->is_set()) function->call();
                     finished->set();
                 }),
                 true),
          finished_(std::move(finished)) {}

    std::shared_ptr<Event> finished_;
};

}  // namespace tandem::threading
