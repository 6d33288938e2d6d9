#!/usr/bin/env bash
# The main job: installs what is missing, builds tandem (Release) and runs it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
# Until `tandem bench` exists, the main job is the tour of the threading half.
TANDEM_TARGET=example_threading_tour bash scripts/build.sh release -DCMAKE_BUILD_TYPE=Release >/dev/null
exec build/release/examples/example_threading_tour "$@"
