// The workloads written against the textbook mutex + condition_variable pool
// (textbook_pool.hpp): keep the std::futures, call get() on each.
#include <algorithm>  // std::min
#include <chrono>     // round-trip timing
#include <future>     // std::future
#include <vector>     // the futures of a batch

#include "peer.hpp"           // the workloads
#include "textbook_pool.hpp"  // the pool

namespace tandem_bench {
namespace {

using Clock = std::chrono::steady_clock;

class TextbookPeer final : public Peer {
public:
    explicit TextbookPeer(std::size_t threads) : pool_(threads) {}

    const char* await_style() const override { return "std::future::get() on each future"; }

    void run_tasks(std::size_t count, std::uint64_t iterations) override {
        std::vector<std::future<void>> futures;
        futures.reserve(count);
        for (std::size_t i = 0; i < count; ++i) futures.push_back(pool_.submit([iterations] { spin(iterations); }));
        for (auto& future : futures) future.get();
    }

    void run_tasks_from_threads(std::size_t submitters, std::size_t count) override {
        on_threads_at_once(submitters, [&](std::size_t index) {
            const std::size_t mine = share(count, submitters, index);
            std::vector<std::future<void>> futures;
            futures.reserve(mine);
            for (std::size_t i = 0; i < mine; ++i) futures.push_back(pool_.submit([] {}));
            for (auto& future : futures) future.get();
        });
    }

    std::uint64_t round_trips(std::span<double> samples_ns) override {
        std::uint64_t sum = 0;
        for (std::size_t i = 0; i < samples_ns.size(); ++i) {
            const auto start = Clock::now();
            sum += pool_.submit([i] { return std::uint64_t{i}; }).get();
            samples_ns[i] = std::chrono::duration<double, std::nano>(Clock::now() - start).count();
        }
        return sum;
    }

    void map(std::span<std::uint64_t> out, std::size_t chunksize) override {
        std::vector<std::future<void>> chunks;
        chunks.reserve((out.size() + chunksize - 1) / chunksize);
        for (std::size_t begin = 0; begin < out.size(); begin += chunksize) {
            const std::size_t end = std::min(out.size(), begin + chunksize);
            chunks.push_back(pool_.submit([out, begin, end] {
                for (std::size_t i = begin; i != end; ++i) out[i] = mix(i);
            }));
        }
        for (auto& chunk : chunks) chunk.get();
    }

private:
    TextbookPool pool_;
};

}  // namespace

std::unique_ptr<Peer> make_textbook_peer(std::size_t threads) { return std::make_unique<TextbookPeer>(threads); }

}  // namespace tandem_bench
