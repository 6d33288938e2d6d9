#!/usr/bin/env bash
# tandem's multiprocessing side by side with Python's multiprocessing and the
# raw OS floors (pipe ping-pong, fork, memcpy), in one run (bench/process).
#   scripts/bench-processes.sh [--quick] [--no-python]
exec bash "$(dirname "$0")/bench.sh" bench_process "$@"
