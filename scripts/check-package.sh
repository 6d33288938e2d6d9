#!/usr/bin/env bash
# Checks tandem as a package others build on, the way a new user takes it:
#  1. configure + build with only the build tools and cereal (GoogleTest and
#     the benchmark peers hidden from CMake): a clear message, no failure;
#  2. `cmake --install` into a temporary prefix, then a consumer
#     (tests/package/) with find_package(tandem), built with -Wextra -Werror
#     and run;
#  3. the same consumer taking tandem through add_subdirectory and through
#     FetchContent (a local SOURCE_DIR, no download);
#  4. `cpack -G DEB`: the package's file list (dpkg-deb -c) holds the
#     headers, the libraries, the CMake package and the tandem program, and
#     the consumer builds and runs against the package's contents unpacked
#     into a temporary root.
# Exits non-zero on the first failure. Builds under build/package*/ and a
# temporary folder that it removes.
#   scripts/check-package.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
work=$(mktemp -d "${TMPDIR:-/tmp}/tandem-package.XXXXXX")
trap 'rm -rf "$work"' EXIT
quiet() { local log; log=$("$@" 2>&1) || { printf '%s\n' "$log" >&2; return 1; }; }
step() { echo "--- package: $* ---"; }

step "minimal machine: build without GoogleTest, MPI and the benchmark peers"
log=$(cmake -S . -B build/package-minimal -G Ninja "${launcher[@]}" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_DISABLE_FIND_PACKAGE_GTest=ON -DCMAKE_DISABLE_FIND_PACKAGE_TBB=ON \
  -DCMAKE_DISABLE_FIND_PACKAGE_Boost=ON -DCMAKE_DISABLE_FIND_PACKAGE_MPI=ON 2>&1) || { printf '%s\n' "$log" >&2; exit 1; }
grep -q "GoogleTest not found" <<<"$log" || { echo "no message about the missing GoogleTest" >&2; exit 1; }
grep -q "MPI not found, so tandem::mpi" <<<"$log" || { echo "no message about the missing MPI" >&2; exit 1; }
quiet cmake --build build/package-minimal

step "install into a temporary prefix"
quiet cmake -S . -B build/package -G Ninja "${launcher[@]}" -DCMAKE_BUILD_TYPE=Release \
  -DTANDEM_BUILD_TESTS=OFF -DTANDEM_BUILD_BENCH=OFF -DTANDEM_BUILD_EXAMPLES=OFF
quiet cmake --build build/package
quiet cmake --install build/package --prefix "$work/prefix"

consumer() {  # consumer <name> <cmake arguments...>: builds tests/package and runs it
  local name=$1
  shift
  quiet cmake -S tests/package -B "$work/$name" -G Ninja "${launcher[@]}" -DCMAKE_BUILD_TYPE=Release "$@"
  quiet cmake --build "$work/$name"
  "$work/$name/consumer"
  # tandem::mpi comes with the package too (Open MPI is part of the set-up).
  [[ -x $work/$name/mpi_consumer ]] || { echo "$name: tandem::mpi was not found by the consumer" >&2; exit 1; }
  scripts/mpirun.sh -np 2 "$work/$name/mpi_consumer"
}
step "consumer with find_package(tandem)"
consumer find_package -DTANDEM_CONSUME=find_package -DCMAKE_PREFIX_PATH="$work/prefix"
step "consumer with add_subdirectory"
consumer add_subdirectory -DTANDEM_CONSUME=add_subdirectory -DTANDEM_SOURCE_DIR="$root"
step "consumer with FetchContent"
consumer fetch_content -DTANDEM_CONSUME=FetchContent -DTANDEM_SOURCE_DIR="$root"

step "Debian package (cpack -G DEB)"
(cd build/package && rm -f tandem_*.deb && quiet cpack -G DEB)
deb=$(ls build/package/tandem_*.deb)
contents=$(dpkg-deb -c "$deb")
# The library lands in usr/lib (multiarch only when configured with prefix /usr).
for expected in 'usr/include/tandem/thread_pool_executor\.hpp' 'usr/include/tandem/detail/wire/encoding\.hpp' \
  'usr/lib/(x86_64-linux-gnu/)?libtandem\.a' 'usr/lib/(x86_64-linux-gnu/)?libtandem_mpi\.a' \
  'usr/include/tandem/mpi/pool_executor\.hpp' 'usr/lib/(x86_64-linux-gnu/)?cmake/tandem/tandemConfig\.cmake' \
  'usr/bin/tandem' 'usr/share/tandem/bench/cpu_crunch\.py'; do
  grep -qE " \./$expected\$" <<<"$contents" || { echo "$deb lacks $expected" >&2; exit 1; }
done
dpkg-deb -x "$deb" "$work/root"
step "consumer against the package's contents"
consumer from_deb -DTANDEM_CONSUME=find_package -DCMAKE_PREFIX_PATH="$work/root/usr"
echo "=== package: $(basename "$deb") ($(wc -l <<<"$contents") entries); find_package, add_subdirectory, FetchContent: ok ==="
