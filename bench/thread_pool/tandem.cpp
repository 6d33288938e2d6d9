// The workloads written against tandem::ThreadPoolExecutor, as a Python user
// would write them: keep the futures, call result() on each. Fork-join tasks
// wait the same way, inside the pool (result() runs other tasks meanwhile);
// children not yet submitted are empty futures.
#include <array>   // a fork-join task's children
#include <chrono>  // round-trip timing
#include <ranges>  // map() input
#include <vector>  // the futures of a batch

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

std::uint64_t nqueens(tandem::ThreadPoolExecutor& pool, Board board, int row, int n) {
    if (row == n) return 1;
    std::array<tandem::Future<std::uint64_t>, kMaxQueens> children;  // empty: valid() is false
    for (int column = 0; column < n; ++column) {
        board[static_cast<std::size_t>(row)] = static_cast<std::int8_t>(column);
        if (!queen_fits(board, row)) continue;
        children[static_cast<std::size_t>(column)] =
            pool.submit([&pool, board, row, n] { return nqueens(pool, board, row + 1, n); });
    }
    std::uint64_t solutions = 0;
    for (const auto& child : children)
        if (child.valid()) solutions += child.result();
    return solutions;
}

std::uint64_t skynet(tandem::ThreadPoolExecutor& pool, std::uint64_t first, std::uint64_t leaves) {
    if (leaves == 1) return first;
    const std::uint64_t each = leaves / kSkynetFanOut;
    std::array<tandem::Future<std::uint64_t>, kSkynetFanOut> children;
    for (std::uint64_t i = 0; i < kSkynetFanOut; ++i)
        children[i] = pool.submit([&pool, first = first + i * each, each] { return skynet(pool, first, each); });
    std::uint64_t sum = 0;
    for (const auto& child : children) sum += child.result();
    return sum;
}

void matmul(tandem::ThreadPoolExecutor& pool, MatrixBlock a, MatrixBlock b, MatrixBlock c, bool add) {
    if (c.n <= kMatmulBlock) return multiply_block(a, b, c, add);
    for (std::size_t round = 0; round < 2; ++round) {
        const auto products = quadrant_round(a, b, c, add, round);
        std::array<tandem::Future<void>, 3> tasks;
        for (std::size_t i = 0; i < tasks.size(); ++i)
            tasks[i] = pool.submit([&pool, p = products[i]] { matmul(pool, p.a, p.b, p.c, p.add); });
        matmul(pool, products[3].a, products[3].b, products[3].c, products[3].add);
        for (const auto& task : tasks) task.result();
    }
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

    std::optional<std::uint64_t> nqueens(int n) override {
        return pool_.submit([this, n] { return tandem_bench::nqueens(pool_, Board{}, 0, n); }).result();
    }

    std::optional<std::uint64_t> skynet(std::uint64_t leaves) override {
        return pool_.submit([this, leaves] { return tandem_bench::skynet(pool_, 0, leaves); }).result();
    }

    bool matmul(MatrixBlock a, MatrixBlock b, MatrixBlock c) override {
        pool_.submit([this, a, b, c] { tandem_bench::matmul(pool_, a, b, c, false); }).result();
        return true;
    }

private:
    tandem::ThreadPoolExecutor pool_;
};

}  // namespace

std::unique_ptr<Peer> make_tandem_peer(std::size_t threads) { return std::make_unique<TandemPeer>(threads); }

}  // namespace tandem_bench
