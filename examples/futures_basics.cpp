// Futures completed by plain threads, collected with as_completed() and wait():
// the concurrent.futures vocabulary before any executor is involved.
#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

#include "tandem/wait.hpp"

int main() {
    using namespace std::chrono_literals;
    std::vector<tandem::Future<int>> futures;
    for (int i = 0; i < 4; ++i) futures.push_back(tandem::Future<int>::create());  // pending, as Python's Future()
    std::vector<std::thread> threads;
    for (int i = 0; i < 4; ++i) {
        threads.emplace_back([f = futures[static_cast<std::size_t>(i)], i]() mutable {
            std::this_thread::sleep_for(std::chrono::milliseconds(10 * (4 - i)));  // the lecture's "slow I/O"
            f.set_result(i * i);
        });
    }
    for (const auto& f : tandem::as_completed(futures, 5s)) std::printf("completed: %d\n", f.result());
    auto [done, not_done] = tandem::wait(futures, 1s);
    std::printf("%zu done, %zu not done\n", done.size(), not_done.size());
    for (auto& t : threads) t.join();
}
