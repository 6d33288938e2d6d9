#!/usr/bin/env bash
# Runs every test: installs what is missing, then builds and runs the whole
# CTest suite under ASan+UBSan, the threading and pool tests under TSan, and
# in an optimized build what only it runs in time (the program's full quick
# run, the installed program); runs the fuzz targets (wire format, pool
# reply ring) for a bounded time (libFuzzer, clang); and checks the package
# (install + find_package, add_subdirectory, FetchContent, .deb).
# `release` runs the whole suite in an optimized build.
# Prints CTest's summary for each and exits non-zero if anything failed.
#   scripts/test.sh [asan|tsan|program|fuzz|package|release ...]   (default: the first five)
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh || exit 1

configs=("$@")
((${#configs[@]})) || configs=(asan tsan program fuzz package)
jobs=$(nproc)

# Sanitizer builds use -O1 -g1: line tables are all a report needs, and at
# -O2 -g the ASan+UBSan build was the largest part of CI's time.
sanitizer=(-DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1 -DNDEBUG")
# TSan runs the threading and pool tests: it leaves out the program, the
# examples and the test programs about the wire format, launching and shared
# memory, whose threads only call into what the others test.
tsan_skip="test_frame;test_serialization;test_remote_call;test_function_id;test_init;test_entry_table;test_connection;test_fd_passing;test_private_fds;test_shared_memory;test_sharedctypes;test_spill;test_reply_reader;test_parent_death;test_context"
# Sanitizer reports fail the test that caused them; suppressions (if any) are
# in tests/sanitizers/, each with the reason it exists.
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:strict_string_checks=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/tests/sanitizers/tsan.supp"

status=0
for config in "${configs[@]}"; do
  if [[ $config == fuzz ]]; then
    bash scripts/fuzz.sh "${TANDEM_FUZZ_SECONDS:-30}" || status=1
    continue
  fi
  if [[ $config == package ]]; then
    bash scripts/check-package.sh || { status=1; echo "=== package: FAILED ==="; }
    continue
  fi
  dir=$config targets=() labels=()
  case $config in
    release) args=(-DCMAKE_BUILD_TYPE=Release) ;;
    program)  # in build/release: a later `release` run reuses what it built
      args=(-DCMAKE_BUILD_TYPE=Release) dir=release
      targets=(tandem_program tandem_mpi test_bench_full_run) labels=(-L 'test_bench_full_run|tandem_program') ;;
    asan) args=("${sanitizer[@]}" -DTANDEM_SANITIZE=address,undefined) ;;
    tsan) args=("${sanitizer[@]}" -DTANDEM_SANITIZE=thread -DTANDEM_BUILD_EXAMPLES=OFF -DTANDEM_BUILD_PROGRAM=OFF
                "-DTANDEM_SKIP_TESTS=$tsan_skip") ;;
    *) echo "test.sh: unknown configuration '$config' (asan, tsan, program, fuzz, package, release)" >&2; status=1; continue ;;
  esac
  echo "=== $config: build ==="
  started=$SECONDS
  if ! TANDEM_TARGET="${targets[*]}" bash scripts/build.sh "$dir" "${args[@]}" -DTANDEM_BUILD_BENCH=OFF; then
    echo "=== $config: BUILD FAILED ==="
    status=1
    continue
  fi
  echo "=== $config: test (built in $((SECONDS - started)) s) ==="
  # Passing tests are filtered from the log; failures, their output and the
  # summary are printed. The status is ctest's own, not grep's.
  ctest --test-dir "build/$dir" "${labels[@]}" --output-on-failure -j "$jobs" | grep -vE '^ +Start |Test +#[0-9]+: .* Passed'
  ((PIPESTATUS[0] == 0)) || { status=1; echo "=== $config: TESTS FAILED ==="; }
done
echo "=== test.sh: $(IFS=' '; echo "${configs[*]}") in $SECONDS s ==="
exit $status
