#!/usr/bin/env bash
# Installs the Debian 12 packages tandem needs to build, test and benchmark, and
# nothing when they are already there. Run as root on Debian 12.
set -euo pipefail

packages=(
  g++ cmake ninja-build ccache pkg-config         # build
  dpkg-dev file                                    # cpack -G DEB (dpkg-shlibdeps)
  libgtest-dev libgmock-dev                        # tests
  clang libclang-rt-14-dev                         # libFuzzer target for the frame decoder
  libcereal-dev libcli11-dev libfmt-dev            # serialization, CLI, formatting
  libbenchmark-dev libtbb-dev libboost-dev python3 # benchmarks and their peers
  openmpi-bin libopenmpi-dev                       # mpi::PoolExecutor
  iproute2 util-linux                              # its test across network namespaces (ip netns, unshare)
  libcpp-httplib-dev libfftw3-dev gnuplot-nox      # tandem bench workloads and chart
  libsndfile1-dev nlohmann-json3-dev               # tandem bench: WAV files, JSON report
  procps                                           # ps/pgrep in the hygiene tests
  libbackward-cpp-dev libdw-dev                    # remote tracebacks and crash stacks (backward-cpp over libdw)
)

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
