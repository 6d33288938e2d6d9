// The workloads written against oneTBB: a task_group run inside a task_arena
// of `threads` slots. TBB's model differs from a pool's: the thread that waits
// joins the arena and runs tasks itself, so task_arena(N) is N-1 worker
// threads plus the waiting caller — N threads executing tasks, as for the
// other peers.
#include <oneapi/tbb/blocked_range.h>   // map ranges
#include <oneapi/tbb/global_control.h>  // allow N-1 workers even past the core count
#include <oneapi/tbb/parallel_for.h>    // map
#include <oneapi/tbb/partitioner.h>     // fixed chunks for map
#include <oneapi/tbb/task_arena.h>      // the fixed thread count
#include <oneapi/tbb/task_group.h>      // tasks and waiting

#include <array>    // a fork-join task's children's results
#include <chrono>   // round-trip timing
#include <numeric>  // summing the children's results

#include "peer.hpp"  // the workloads

namespace tandem_bench {
namespace {

using Clock = std::chrono::steady_clock;

// The canonical TBB fork-join: one child as a task, the other inline; the
// other workloads as a oneTBB user writes them, one task_group per parent.
std::uint64_t fib(int n, int cutoff) {
    if (n < cutoff) return serial_fib(n);
    std::uint64_t left = 0;
    tbb::task_group group;
    group.run([&left, n, cutoff] { left = fib(n - 1, cutoff); });
    const std::uint64_t right = fib(n - 2, cutoff);
    group.wait();  // runs tasks while it waits
    return left + right;
}

std::uint64_t nqueens(Board board, int row, int n) {
    if (row == n) return 1;
    std::array<std::uint64_t, kMaxQueens> solutions{};
    tbb::task_group group;
    for (int column = 0; column < n; ++column) {
        board[static_cast<std::size_t>(row)] = static_cast<std::int8_t>(column);
        if (!queen_fits(board, row)) continue;
        group.run([&solutions, board, row, n, column] {
            solutions[static_cast<std::size_t>(column)] = nqueens(board, row + 1, n);
        });
    }
    group.wait();
    return std::accumulate(solutions.begin(), solutions.end(), std::uint64_t{0});
}

std::uint64_t skynet(std::uint64_t first, std::uint64_t leaves) {
    if (leaves == 1) return first;
    const std::uint64_t each = leaves / kSkynetFanOut;
    std::array<std::uint64_t, kSkynetFanOut> sums{};
    tbb::task_group group;
    for (std::uint64_t i = 0; i < kSkynetFanOut; ++i)
        group.run([&sums, i, first = first + i * each, each] { sums[i] = skynet(first, each); });
    group.wait();
    return std::accumulate(sums.begin(), sums.end(), std::uint64_t{0});
}

void matmul(MatrixBlock a, MatrixBlock b, MatrixBlock c, bool add) {
    if (c.n <= kMatmulBlock) return multiply_block(a, b, c, add);
    for (std::size_t round = 0; round < 2; ++round) {
        const auto products = quadrant_round(a, b, c, add, round);
        tbb::task_group group;
        for (std::size_t i = 0; i < 3; ++i) group.run([p = products[i]] { matmul(p.a, p.b, p.c, p.add); });
        matmul(products[3].a, products[3].b, products[3].c, products[3].add);
        group.wait();
    }
}

class TbbPeer final : public Peer {
public:
    explicit TbbPeer(std::size_t threads)
        : control_(tbb::global_control::max_allowed_parallelism, threads), arena_(static_cast<int>(threads)) {}

    const char* await_style() const override { return "task_group::wait() (the waiter runs tasks)"; }

    void run_tasks(std::size_t count, std::uint64_t iterations) override {
        arena_.execute([&] {
            tbb::task_group group;
            for (std::size_t i = 0; i < count; ++i) group.run([iterations] { spin(iterations); });
            group.wait();
        });
    }

    // Each submitter joins the arena to spawn into one shared task_group (a
    // submitter that finds no free slot has its loop run by the arena). This
    // measured about twice as fast here as arena.enqueue(group.defer(...)).
    void run_tasks_from_threads(std::size_t submitters, std::size_t count) override {
        tbb::task_group group;
        on_threads_at_once(submitters, [&](std::size_t index) {
            const std::size_t mine = share(count, submitters, index);
            arena_.execute([&] {
                for (std::size_t i = 0; i < mine; ++i) group.run([] {});
            });
        });
        arena_.execute([&] { group.wait(); });
    }

    std::uint64_t round_trips(std::span<double> samples_ns) override {
        std::uint64_t sum = 0;
        arena_.execute([&] {
            tbb::task_group group;
            for (std::size_t i = 0; i < samples_ns.size(); ++i) {
                const auto start = Clock::now();
                std::uint64_t result = 0;
                group.run([&result, i] { result = i; });
                group.wait();
                sum += result;
                samples_ns[i] = std::chrono::duration<double, std::nano>(Clock::now() - start).count();
            }
        });
        return sum;
    }

    // simple_partitioner: chunks of exactly `chunksize` elements (at most), the
    // chunking the other peers use, rather than TBB's adaptive default.
    void map(std::span<std::uint64_t> out, std::size_t chunksize) override {
        arena_.execute([&] {
            tbb::parallel_for(
                tbb::blocked_range<std::size_t>(0, out.size(), chunksize),
                [out](const tbb::blocked_range<std::size_t>& range) {
                    for (std::size_t i = range.begin(); i != range.end(); ++i) out[i] = mix(i);
                },
                tbb::simple_partitioner());
        });
    }

    std::optional<std::uint64_t> fib(int n, int cutoff) override {
        return arena_.execute([n, cutoff] { return tandem_bench::fib(n, cutoff); });
    }

    std::optional<std::uint64_t> nqueens(int n) override {
        return arena_.execute([n] { return tandem_bench::nqueens(Board{}, 0, n); });
    }

    std::optional<std::uint64_t> skynet(std::uint64_t leaves) override {
        return arena_.execute([leaves] { return tandem_bench::skynet(0, leaves); });
    }

    bool matmul(MatrixBlock a, MatrixBlock b, MatrixBlock c) override {
        arena_.execute([a, b, c] { tandem_bench::matmul(a, b, c, false); });
        return true;
    }

private:
    tbb::global_control control_;
    tbb::task_arena arena_;
};

}  // namespace

std::unique_ptr<Peer> make_tbb_peer(std::size_t threads) { return std::make_unique<TbbPeer>(threads); }

}  // namespace tandem_bench
