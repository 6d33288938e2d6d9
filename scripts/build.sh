#!/usr/bin/env bash
# Configures and builds one configuration of tandem under build/<name>.
#   scripts/build.sh <name> [extra cmake arguments...]
#   TANDEM_TARGET='<target>...' scripts/build.sh ...   builds only those targets
# Names used by the scripts: release, asan (ASan+UBSan), tsan.
set -euo pipefail
cd "$(dirname "$0")/.."
name=$1
shift
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
# The test programs share a precompiled header; ccache caches what uses one
# only when told that __DATE__/__TIME__ and the header's mtime do not matter.
export CCACHE_SLOPPINESS=${CCACHE_SLOPPINESS:-pch_defines,time_macros,include_file_mtime,include_file_ctime}
cmake -S . -B "build/$name" -G Ninja "${launcher[@]}" "$@" >/dev/null
read -ra targets <<<"${TANDEM_TARGET:-}"
cmake --build "build/$name" ${targets[@]:+--target "${targets[@]}"}
