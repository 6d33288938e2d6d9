// bench/thread_pool/fork_join.hpp — the serial parts of the classic fork-join
// workloads, shared by every peer that runs them, so that both sides of a
// comparison do the same work with the same cutoffs:
//
//   fib      two-way recursion, a task per call at or above a cutoff
//   nqueens  a task per valid partial placement of queens (no cutoff)
//   skynet   ten-way fan-out, a task per node down to single leaves
//   matmul   C = A x B by quadrants, eight half-size products in two rounds
//            of four (three as tasks, one inline), serial below kMatmulBlock
//
//     std::uint64_t leaves = tandem_bench::skynet_expected(1'000'000);
//     if (peer.skynet(1'000'000) != leaves) ...  // the driver checks every result
#pragma once

#include <array>    // a board
#include <cstddef>  // std::size_t
#include <cstdint>  // std::uint64_t, std::int8_t
#include <span>     // matrices
#include <vector>   // matrices

namespace tandem_bench {

/// Fibonacci below the fork-join cutoff, computed in the calling task.
constexpr std::uint64_t serial_fib(int n) noexcept {
    return n < 2 ? static_cast<std::uint64_t>(n) : serial_fib(n - 1) + serial_fib(n - 2);
}

// --- nqueens ----------------------------------------------------------------

constexpr int kMaxQueens = 16;

/// board[r] is the column of the queen in row r, for the rows placed so far.
using Board = std::array<std::int8_t, kMaxQueens>;

/// Whether the queen just placed in `row` is attacked by one in an earlier row.
constexpr bool queen_fits(const Board& board, int row) noexcept {
    for (int earlier = 0; earlier < row; ++earlier) {
        const int apart = row - earlier;
        const int shift = board[static_cast<std::size_t>(row)] - board[static_cast<std::size_t>(earlier)];
        if (shift == 0 || shift == apart || shift == -apart) return false;
    }
    return true;
}

/// Solutions of the n-queens problem (OEIS A000170), to check the results.
constexpr std::uint64_t nqueens_expected(int n) noexcept {
    constexpr std::array<std::uint64_t, kMaxQueens + 1> solutions{
        1, 1, 0, 0, 2, 10, 4, 40, 92, 352, 724, 2680, 14200, 73712, 365596, 2279184, 14772512};
    return solutions[static_cast<std::size_t>(n)];
}

/// Tasks a fork-join nqueens(n) makes: one per valid partial placement,
/// counted serially (for the printed title).
inline std::uint64_t nqueens_tasks(int n, Board board = {}, int row = 0) noexcept {
    if (row == n) return 1;
    std::uint64_t tasks = 1;
    for (int column = 0; column < n; ++column) {
        board[static_cast<std::size_t>(row)] = static_cast<std::int8_t>(column);
        if (queen_fits(board, row)) tasks += nqueens_tasks(n, board, row + 1);
    }
    return tasks;
}

// --- skynet -----------------------------------------------------------------

constexpr std::uint64_t kSkynetFanOut = 10;

/// The sum of leaf numbers 0 .. leaves-1 that skynet computes.
constexpr std::uint64_t skynet_expected(std::uint64_t leaves) noexcept { return leaves * (leaves - 1) / 2; }

/// Tasks a skynet over `leaves` leaves (a power of ten) makes: every node.
constexpr std::uint64_t skynet_tasks(std::uint64_t leaves) noexcept {
    return leaves == 1 ? 1 : 1 + kSkynetFanOut * skynet_tasks(leaves / kSkynetFanOut);
}

// --- matmul -----------------------------------------------------------------

/// Blocks of at most this many rows are multiplied serially.
constexpr std::size_t kMatmulBlock = 32;

/// A view of an n x n block inside a row-major matrix of row length `stride`.
struct MatrixBlock {
    float* data;
    std::size_t n;
    std::size_t stride;

    /// Quadrant (row, column), each 0 or 1, of half the size.
    MatrixBlock quadrant(std::size_t row, std::size_t column) const noexcept {
        const std::size_t half = n / 2;
        return {data + row * half * stride + column * half, half, stride};
    }
    float& at(std::size_t row, std::size_t column) const noexcept { return data[row * stride + column]; }
};

/// c = a x b (or c += a x b) for one block, serially.
inline void multiply_block(MatrixBlock a, MatrixBlock b, MatrixBlock c, bool add) noexcept {
    for (std::size_t i = 0; i < c.n; ++i) {
        for (std::size_t j = 0; j < c.n; ++j) {
            float sum = add ? c.at(i, j) : 0.0F;
            for (std::size_t k = 0; k < c.n; ++k) sum += a.at(i, k) * b.at(k, j);
            c.at(i, j) = sum;
        }
    }
}

/// The two rounds of a quadrant product: in round r, output quadrant (i, j)
/// gets a(i, k) x b(k, j) with k = r (added to what round 0 wrote).
struct QuadrantProduct {
    MatrixBlock a, b, c;
    bool add;
};
inline std::array<QuadrantProduct, 4> quadrant_round(MatrixBlock a, MatrixBlock b, MatrixBlock c, bool add,
                                                     std::size_t round) noexcept {
    std::array<QuadrantProduct, 4> products{};
    for (std::size_t i = 0; i < 2; ++i) {
        for (std::size_t j = 0; j < 2; ++j) {
            products[i * 2 + j] = {a.quadrant(i, round), b.quadrant(round, j), c.quadrant(i, j), add || round == 1};
        }
    }
    return products;
}

/// Small integers as floats: every product and sum is exact, so any correct
/// schedule gives exactly the serial result.
inline std::vector<float> matmul_input(std::size_t n, std::size_t seed) {
    std::vector<float> m(n * n);
    for (std::size_t i = 0; i < m.size(); ++i) m[i] = static_cast<float>(static_cast<int>((i * 7 + seed) % 5) - 2);
    return m;
}

/// The reference product, by the plain triple loop.
inline std::vector<float> matmul_expected(std::span<const float> a, std::span<const float> b, std::size_t n) {
    std::vector<float> c(n * n, 0.0F);
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t k = 0; k < n; ++k)
            for (std::size_t j = 0; j < n; ++j) c[i * n + j] += a[i * n + k] * b[k * n + j];
    return c;
}

/// Tasks a fork-join matmul of n x n makes: six per split (three per round).
constexpr std::uint64_t matmul_tasks(std::size_t n) noexcept {
    return n <= kMatmulBlock ? 0 : 6 + 8 * matmul_tasks(n / 2);
}

}  // namespace tandem_bench
