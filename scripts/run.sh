#!/usr/bin/env bash
# The main job: installs what is missing, builds tandem (Release) and runs
# `tandem bench --quick`, the lecture measured on this machine, writing its
# JSON report and chart to out/bench/. Arguments replace --quick (e.g. --full,
# --only cpu_crunch,http_fetch, --no-python).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
mkdir -p build out/bench
if ! TANDEM_TARGET=tandem_program bash scripts/build.sh release -DCMAKE_BUILD_TYPE=Release \
    >build/run-build.log 2>&1; then
  tail -40 build/run-build.log
  echo "run.sh: the build failed (log: build/run-build.log)" >&2
  exit 1
fi
args=("$@")
((${#args[@]})) || args=(--quick)
build/release/bin/tandem bench "${args[@]}" --json out/bench/bench.json --plot out/bench/bench.svg
echo "Written: out/bench/bench.json (the figures, schema in README.md) and out/bench/bench.svg (the chart)"
