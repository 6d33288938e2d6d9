#!/usr/bin/env bash
# mpi::PoolExecutor side by side with a raw MPI ping-pong and the local
# ProcessPoolExecutor, in one run (bench/mpi): 3 ranks through
# scripts/mpirun.sh, so 2 serving ranks against 2 worker processes.
#   scripts/bench-mpi.sh [--quick]
here=$(cd "$(dirname "$0")" && pwd)
TANDEM_BENCH_LAUNCHER="$here/mpirun.sh -np 3" exec bash "$here/bench.sh" bench_mpi "$@"
