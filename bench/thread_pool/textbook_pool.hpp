// bench/thread_pool/textbook_pool.hpp — the baseline: the thread pool that
// textbooks and tutorials show. One FIFO of std::function guarded by one mutex,
// one condition variable that wakes a sleeping worker per submission, results
// through std::packaged_task and std::future.
//
//     TextbookPool pool(4);
//     std::future<int> answer = pool.submit([] { return 42; });
//     answer.get();
//
// Every submit and every dequeue takes the same mutex, and an idle worker
// sleeps on the condition variable at once: the two costs tandem's
// work-stealing scheduler is built to avoid.
#pragma once

#include <condition_variable>  // waking idle workers
#include <cstddef>             // std::size_t
#include <functional>          // queued work
#include <future>              // std::packaged_task, std::future
#include <memory>              // the packaged_task shared with the queue entry
#include <mutex>               // the one lock
#include <queue>               // the FIFO
#include <thread>              // workers
#include <type_traits>         // result type
#include <vector>              // workers

namespace tandem_bench {

class TextbookPool {
public:
    /// Starts `threads` workers.
    explicit TextbookPool(std::size_t threads) {
        workers_.reserve(threads);
        for (std::size_t i = 0; i < threads; ++i) workers_.emplace_back([this] { work(); });
    }
    TextbookPool(const TextbookPool&) = delete;
    TextbookPool& operator=(const TextbookPool&) = delete;

    /// Runs what is queued, then stops and joins the workers.
    ~TextbookPool() {
        {
            std::lock_guard lock(mutex_);
            stopping_ = true;
        }
        wake_.notify_all();
        for (std::thread& worker : workers_) worker.join();
    }

    /// Queues `fn()`; returns the future of its result (or exception).
    template <class Fn>
    std::future<std::invoke_result_t<Fn&>> submit(Fn fn) {
        using Result = std::invoke_result_t<Fn&>;
        // std::function needs a copyable callable; a packaged_task is move-only.
        auto task = std::make_shared<std::packaged_task<Result()>>(std::move(fn));
        std::future<Result> result = task->get_future();
        {
            std::lock_guard lock(mutex_);
            queue_.emplace([task] { (*task)(); });
        }
        wake_.notify_one();
        return result;
    }

private:
    void work() {
        for (;;) {
            std::function<void()> task;
            {
                std::unique_lock lock(mutex_);
                wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
                if (queue_.empty()) return;  // stopping, and nothing left
                task = std::move(queue_.front());
                queue_.pop();
            }
            task();
        }
    }

    std::mutex mutex_;
    std::condition_variable wake_;
    std::queue<std::function<void()>> queue_;
    bool stopping_ = false;
    std::vector<std::thread> workers_;
};

}  // namespace tandem_bench
