#!/usr/bin/env bash
# tandem's ThreadPoolExecutor side by side with oneTBB, boost::asio::thread_pool
# and a textbook mutex + condition_variable pool, in one run (bench/thread_pool).
#   scripts/bench-threads.sh [--quick] [--threads N] [--reps N] [--only LETTERS] [--json FILE]
exec bash "$(dirname "$0")/bench.sh" bench_thread_pool "$@"
