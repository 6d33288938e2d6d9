#!/usr/bin/env bash
# Configures and builds one configuration of tandem under build/<name>.
#   scripts/build.sh <name> [extra cmake arguments...]
#   TANDEM_TARGET=<target> scripts/build.sh ...   builds only that target
# Names used by the scripts: release, asan (ASan+UBSan), tsan.
set -euo pipefail
cd "$(dirname "$0")/.."
name=$1
shift
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
cmake -S . -B "build/$name" -G Ninja "${launcher[@]}" "$@" >/dev/null
cmake --build "build/$name" ${TANDEM_TARGET:+--target "$TANDEM_TARGET"}
