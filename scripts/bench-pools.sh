#!/usr/bin/env bash
# tandem's Pool and ProcessPoolExecutor side by side with Python's
# multiprocessing.Pool and ProcessPoolExecutor, tandem's ThreadPoolExecutor and
# the raw OS floors, in one run (bench/pool).
#   scripts/bench-pools.sh [--quick] [--no-python] [--workers N]
exec bash "$(dirname "$0")/bench.sh" bench_pool "$@"
