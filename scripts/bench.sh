#!/usr/bin/env bash
# Builds one benchmark program and runs it: installs what is missing, builds
# Release into build/bench (only that program and the library it needs), and
# passes the remaining arguments to it.
#   scripts/bench.sh <bench_thread_pool|bench_process|bench_pool|bench_mpi> [arguments...]
# TANDEM_BENCH_LAUNCHER, if set, is the command that starts the program
# (scripts/bench-mpi.sh: scripts/mpirun.sh -np 3).
set -euo pipefail
cd "$(dirname "$0")/.."
target=$1
shift
bash scripts/install-deps.sh
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
# Quiet unless something fails.
quiet() { local log; log=$("$@" 2>&1) || { printf '%s\n' "$log" >&2; exit 1; }; }
quiet cmake -S . -B build/bench -G Ninja "${launcher[@]}" -DCMAKE_BUILD_TYPE=Release -DTANDEM_BUILD_BENCH=ON
quiet cmake --build build/bench --target "$target"
# shellcheck disable=SC2086  # the launcher is a command with its arguments
exec ${TANDEM_BENCH_LAUNCHER:-} "build/bench/bench/$target" "$@"
