#!/usr/bin/env bash
# Builds the libFuzzer targets with clang, ASan and UBSan: the wire format
# (fuzz/frame_fuzzer.cpp) and the process pool's reply-ring reader
# (fuzz/ring_reader_fuzzer.cpp), and runs each for half of the time given, on
# corpora kept in the build directory. Prints the number of executions
# libFuzzer reports for each and exits non-zero if either found a crash, a
# leak, undefined behaviour or a broken property (the crashing input is saved
# under <build dir>/artifacts/<fuzzer>/). fuzz/seeds/<fuzzer>/, if there,
# seeds the corpus.
#   scripts/fuzz.sh [seconds]          (default 30, for both together)
#   TANDEM_FUZZ_DIR=build/fuzz         where to build and keep the corpora
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
fuzzers=(frame_fuzzer ring_reader_fuzzer)
cmake --build "$dir" --target "${fuzzers[@]}" || exit 1

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
share=$(((seconds + ${#fuzzers[@]} - 1) / ${#fuzzers[@]}))
failed=0
for fuzzer in "${fuzzers[@]}"; do
  echo "=== fuzz: $fuzzer for ${share}s ==="
  corpus=$dir/corpus/$fuzzer
  artifacts=$dir/artifacts/$fuzzer
  mkdir -p "$corpus" "$artifacts"
  log=$dir/$fuzzer.log
  seeds=()
  [[ -d fuzz/seeds/$fuzzer ]] && seeds=("fuzz/seeds/$fuzzer")
  "$dir/fuzz/$fuzzer" -max_total_time="$share" -print_final_stats=1 -artifact_prefix="$artifacts/" \
    "$corpus" "${seeds[@]}" >"$log" 2>&1
  status=$?
  runs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' | tail -n 1)
  [[ -n $runs ]] || runs=$(grep -oE '^#[0-9]+' "$log" | tail -n 1 | tr -d '#')
  inputs=$(find "$corpus" -type f | wc -l)
  if ((status != 0)); then
    tail -n 60 "$log"
    echo "=== fuzz: $fuzzer FAILED after ${runs:-?} executions (exit $status); input saved in $artifacts/ ==="
    failed=1
    continue
  fi
  echo "=== fuzz: $fuzzer: ${runs:-?} executions in ${share}s, no crash; corpus ${inputs} inputs; log $log ==="
done
exit $failed
