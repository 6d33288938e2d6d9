#!/usr/bin/env bash
# tandem's multiprocessing side by side with Python's multiprocessing and the
# raw OS floors (pipe ping-pong, fork, memcpy), in one run: installs what is
# missing, builds Release into build/bench and runs bench/process.
#   scripts/bench-processes.sh [--quick] [--no-python]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
quiet() { local log; log=$("$@" 2>&1) || { printf '%s\n' "$log" >&2; exit 1; }; }
quiet cmake -S . -B build/bench -G Ninja "${launcher[@]}" -DCMAKE_BUILD_TYPE=Release -DTANDEM_BUILD_BENCH=ON
quiet cmake --build build/bench --target bench_process
exec build/bench/bench/bench_process "$@"
