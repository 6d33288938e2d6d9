#!/usr/bin/env bash
# The main job: installs what is missing, builds tandem (Release) and runs it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
# Until `tandem bench` exists, the main job is a tour of each half: threads,
# then processes.
for tour in threading_tour process_pool_tour; do
  TANDEM_TARGET=example_$tour bash scripts/build.sh release -DCMAKE_BUILD_TYPE=Release >/dev/null
done
echo "== threads (examples/threading_tour.cpp) =="
build/release/examples/example_threading_tour "$@"
echo
echo "== processes (examples/process_pool_tour.cpp) =="
exec build/release/examples/example_process_pool_tour
