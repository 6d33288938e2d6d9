// The raw OS floors that tandem's process figures are compared with, written
// directly against the system calls: what any library built on pipes, futexes,
// memcpy and fork() cannot beat. Each returns a median over its repetitions.
#pragma once

#include <cstddef>  // std::size_t

namespace tandem_bench {

/// One byte there and back over two pipes between this process and a forked
/// child, median microseconds per round trip.
double pipe_ping_pong_us(std::size_t round_trips);
/// The same with a futex word in shared memory (spinning briefly, then
/// FUTEX_WAIT/FUTEX_WAKE), median microseconds per round trip.
double futex_ping_pong_us(std::size_t round_trips);
/// memcpy of `bytes` between two buffers, GiB/s (median of `reps`).
double memcpy_gib_per_s(std::size_t bytes, int reps);
/// fork() of a child that _exit()s at once, then waitpid(), median microseconds.
double fork_wait_us(int reps);

}  // namespace tandem_bench
