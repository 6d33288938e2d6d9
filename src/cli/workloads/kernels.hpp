// tandem bench: the small pieces of real work the workloads are made of, each
// written the same way in the Python scripts (bench_common.py) so that both
// languages do the same computation.
//
// `tick` is called between steps of a kernel: a no-op for plain threads,
// InterpreterLock::checkpoint() for threads under the emulated GIL (CPython
// checks its eval breaker between bytecodes in the same way).
#pragma once

#include <atomic>   // keep_result's sink
#include <cstddef>  // std::size_t
#include <cstdint>  // std::uint64_t, std::uint32_t
#include <span>     // byte ranges

namespace tandem::cli {

/// The number of primes in [low, high), by trial division by odd numbers;
/// `tick()` after each number tested.
template <class Tick>
std::uint64_t count_primes(std::uint64_t low, std::uint64_t high, Tick&& tick) {
    std::uint64_t count = 0;
    for (std::uint64_t n = low < 2 ? 2 : low; n < high; ++n) {
        tick();
        if (n < 4) {
            ++count;
            continue;
        }
        if (n % 2 == 0) continue;
        bool prime = true;
        for (std::uint64_t d = 3; d * d <= n; d += 2) {
            if (n % d == 0) {
                prime = false;
                break;
            }
        }
        count += prime ? 1 : 0;
    }
    return count;
}

inline std::uint64_t count_primes(std::uint64_t low, std::uint64_t high) {
    return count_primes(low, high, [] {});
}

/// Keeps a result the program does not otherwise use, so that the compiler
/// cannot drop the computation that made it (a load thread's work, a slow
/// task whose answer nobody reads).
inline void keep_result(std::uint64_t value) noexcept {
    static std::atomic<std::uint64_t> sink{0};
    sink.fetch_add(value, std::memory_order_relaxed);
}

/// Adler-32 of `bytes` continuing from `adler` (zlib.adler32 in Python gives
/// the same values).
inline std::uint32_t adler32(std::span<const unsigned char> bytes, std::uint32_t adler = 1) {
    constexpr std::uint32_t kModulus = 65521;
    // 5552 bytes is the most that can be summed before the 32-bit sums overflow.
    constexpr std::size_t kBlock = 5552;
    std::uint32_t a = adler & 0xffff;
    std::uint32_t b = adler >> 16;
    while (!bytes.empty()) {
        const std::size_t length = bytes.size() < kBlock ? bytes.size() : kBlock;
        for (std::size_t i = 0; i < length; ++i) {
            a += bytes[i];
            b += a;
        }
        a %= kModulus;
        b %= kModulus;
        bytes = bytes.subspan(length);
    }
    return (b << 16) | a;
}

}  // namespace tandem::cli
