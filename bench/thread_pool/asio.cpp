// The workloads written against boost::asio::thread_pool. post() returns
// nothing, so a batch is awaited with a std::latch that each task counts down;
// a single result comes back through asio's use_future.
#include <boost/asio/post.hpp>         // submitting
#include <boost/asio/thread_pool.hpp>  // the pool
#include <boost/asio/use_future.hpp>   // a task's result as a std::future

#include <algorithm>  // std::min
#include <chrono>     // round-trip timing
#include <future>     // std::future
#include <latch>      // waiting for a batch

#include "peer.hpp"  // the workloads

namespace tandem_bench {
namespace {

using Clock = std::chrono::steady_clock;

class AsioPeer final : public Peer {
public:
    explicit AsioPeer(std::size_t threads) : pool_(threads) {}

    const char* await_style() const override { return "std::latch counted down by each task"; }

    void run_tasks(std::size_t count, std::uint64_t iterations) override {
        std::latch done(static_cast<std::ptrdiff_t>(count));
        for (std::size_t i = 0; i < count; ++i) {
            boost::asio::post(pool_, [&done, iterations] {
                spin(iterations);
                done.count_down();
            });
        }
        done.wait();
    }

    void run_tasks_from_threads(std::size_t submitters, std::size_t count) override {
        std::latch done(static_cast<std::ptrdiff_t>(count));
        on_threads_at_once(submitters, [&](std::size_t index) {
            const std::size_t mine = share(count, submitters, index);
            for (std::size_t i = 0; i < mine; ++i) boost::asio::post(pool_, [&done] { done.count_down(); });
        });
        done.wait();
    }

    std::uint64_t round_trips(std::span<double> samples_ns) override {
        std::uint64_t sum = 0;
        for (std::size_t i = 0; i < samples_ns.size(); ++i) {
            const auto start = Clock::now();
            std::future<std::uint64_t> result =
                boost::asio::post(pool_, boost::asio::use_future([i] { return std::uint64_t{i}; }));
            sum += result.get();
            samples_ns[i] = std::chrono::duration<double, std::nano>(Clock::now() - start).count();
        }
        return sum;
    }

    void map(std::span<std::uint64_t> out, std::size_t chunksize) override {
        const std::size_t chunks = (out.size() + chunksize - 1) / chunksize;
        std::latch done(static_cast<std::ptrdiff_t>(chunks));
        for (std::size_t begin = 0; begin < out.size(); begin += chunksize) {
            const std::size_t end = std::min(out.size(), begin + chunksize);
            boost::asio::post(pool_, [out, begin, end, &done] {
                for (std::size_t i = begin; i != end; ++i) out[i] = mix(i);
                done.count_down();
            });
        }
        done.wait();
    }

private:
    boost::asio::thread_pool pool_;
};

}  // namespace

std::unique_ptr<Peer> make_asio_peer(std::size_t threads) { return std::make_unique<AsioPeer>(threads); }

}  // namespace tandem_bench
