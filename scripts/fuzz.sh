#!/usr/bin/env bash
# Builds the libFuzzer target for the wire format (fuzz/frame_fuzzer.cpp) with
# clang, ASan and UBSan, and runs it for a bounded time on a corpus kept in
# the build directory. Prints the number of executions libFuzzer reports and
# exits non-zero if it found a crash, a leak, undefined behaviour or a broken
# property (the crashing input is saved under <build dir>/artifacts/).
#   scripts/fuzz.sh [seconds]          (default 30)
#   TANDEM_FUZZ_DIR=build/fuzz         where to build and keep the corpus
set -uo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-30}
if ! [[ $seconds =~ ^[0-9]+$ ]] || ((seconds == 0)); then
  echo "usage: scripts/fuzz.sh [seconds > 0]" >&2
  exit 2
fi
dir=${TANDEM_FUZZ_DIR:-build/fuzz}
if ! command -v clang++ >/dev/null; then
  echo "fuzz.sh: clang++ not found (scripts/install-deps.sh installs clang and libclang-rt-14-dev)" >&2
  exit 2
fi

echo "=== fuzz: build ($dir) ==="
mkdir -p "$dir"
cmake -S . -B "$dir" -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DTANDEM_BUILD_FUZZ=ON -DTANDEM_BUILD_TESTS=OFF -DTANDEM_BUILD_BENCH=OFF -DTANDEM_BUILD_EXAMPLES=OFF \
  >/dev/null || exit 1
cmake --build "$dir" --target frame_fuzzer || exit 1
fuzzer=$dir/fuzz/frame_fuzzer

echo "=== fuzz: run for ${seconds}s ==="
mkdir -p "$dir/corpus" "$dir/artifacts"
log=$dir/fuzz.log
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
"$fuzzer" -max_total_time="$seconds" -print_final_stats=1 -artifact_prefix="$dir/artifacts/" \
  "$dir/corpus" >"$log" 2>&1
status=$?

runs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' | tail -n 1)
[[ -n $runs ]] || runs=$(grep -oE '^#[0-9]+' "$log" | tail -n 1 | tr -d '#')
corpus=$(find "$dir/corpus" -type f | wc -l)
if ((status != 0)); then
  tail -n 60 "$log"
  echo "=== fuzz: FAILED after ${runs:-?} executions (exit $status); input saved in $dir/artifacts/ ==="
  exit 1
fi
echo "=== fuzz: ${runs:-?} executions in ${seconds}s, no crash; corpus ${corpus} inputs; log $log ==="
