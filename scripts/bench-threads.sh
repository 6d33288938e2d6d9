#!/usr/bin/env bash
# tandem's ThreadPoolExecutor side by side with oneTBB, boost::asio::thread_pool
# and a textbook mutex + condition_variable pool, in one run: installs what is
# missing, builds Release into build/bench with the benchmarks, and runs
# bench/thread_pool. Arguments go to the benchmark:
#   scripts/bench-threads.sh [--quick] [--threads N] [--reps N] [--only LETTERS] [--json FILE]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
# Quiet unless something fails; only the benchmark and the library it needs
# are built, not the whole suite.
quiet() { local log; log=$("$@" 2>&1) || { printf '%s\n' "$log" >&2; exit 1; }; }
quiet cmake -S . -B build/bench -G Ninja "${launcher[@]}" -DCMAKE_BUILD_TYPE=Release -DTANDEM_BUILD_BENCH=ON
quiet cmake --build build/bench --target bench_thread_pool
exec build/bench/bench/bench_thread_pool "$@"
