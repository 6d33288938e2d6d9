// The workloads written against tandem::ThreadPoolExecutor, as a Python user
// would write them: keep the futures, call result() on each.
#include <chrono>   // round-trip timing
#include <ranges>   // map() input
#include <vector>   // the futures of a batch

#include "peer.hpp"                         // the workloads
#include "tandem/thread_pool_executor.hpp"  // the pool under test

namespace tandem_bench {
namespace {

using Clock = std::chrono::steady_clock;

std::uint64_t fib(tandem::ThreadPoolExecutor& pool, int n, int cutoff) {
    if (n < cutoff) return serial_fib(n);
    tandem::Future<std::uint64_t> left = pool.submit([&pool, n, cutoff] { return fib(pool, n - 1, cutoff); });
    const std::uint64_t right = fib(pool, n - 2, cutoff);
    return left.result() + right;  // runs queued tasks while it waits
}

class TandemPeer final : public Peer {
public:
    explicit TandemPeer(std::size_t threads) : pool_(threads) {}

    const char* await_style() const override { return "Future::result() on each future"; }

    void run_tasks(std::size_t count, std::uint64_t iterations) override {
        std::vector<tandem::Future<void>> futures;
        futures.reserve(count);
        for (std::size_t i = 0; i < count; ++i) futures.push_back(pool_.submit([iterations] { spin(iterations); }));
        for (const auto& future : futures) future.result();
    }

    void run_tasks_from_threads(std::size_t submitters, std::size_t count) override {
        on_threads_at_once(submitters, [&](std::size_t index) {
            const std::size_t mine = share(count, submitters, index);
            std::vector<tandem::Future<void>> futures;
            futures.reserve(mine);
            for (std::size_t i = 0; i < mine; ++i) futures.push_back(pool_.submit([] {}));
            for (const auto& future : futures) future.result();
        });
    }

    std::uint64_t round_trips(std::span<double> samples_ns) override {
        std::uint64_t sum = 0;
        for (std::size_t i = 0; i < samples_ns.size(); ++i) {
            const auto start = Clock::now();
            sum += pool_.submit([i] { return std::uint64_t{i}; }).result();
            samples_ns[i] = std::chrono::duration<double, std::nano>(Clock::now() - start).count();
        }
        return sum;
    }

    void map(std::span<std::uint64_t> out, std::size_t chunksize) override {
        std::uint64_t* next = out.data();
        for (std::uint64_t value : pool_.map([](std::uint64_t i) { return mix(i); },
                                             std::views::iota(std::uint64_t{0}, std::uint64_t{out.size()}),
                                             {.chunksize = chunksize}))
            *next++ = value;
    }

    std::optional<std::uint64_t> fib(int n, int cutoff) override {
        return pool_.submit([this, n, cutoff] { return tandem_bench::fib(pool_, n, cutoff); }).result();
    }

private:
    tandem::ThreadPoolExecutor pool_;
};

}  // namespace

std::unique_ptr<Peer> make_tandem_peer(std::size_t threads) { return std::make_unique<TandemPeer>(threads); }

}  // namespace tandem_bench
