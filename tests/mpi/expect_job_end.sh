#!/usr/bin/env bash
# Runs an MPI job and checks how it ended: its exit status, how long it took
# to end (counted from a marker line the job prints, or from the start), and
# lines its output must contain. For the tests where a job must end: a rank
# killed or crashing (tests/mpi/chaos.cpp), ranks of different builds
# (build_check.cpp). A job that outlives its limit is killed, and fails.
#   expect_job_end.sh [--status N | --fails] [--within SECONDS] [--after MARKER]
#                     --expect REGEX [--expect REGEX ...] -- command [arguments...]
#   --status N      the job must exit with status N   (--fails: with any non-zero status)
#   --within S      ... at most S seconds after MARKER appeared (default 10)
#   --after MARKER  a fixed string the job prints when the clock starts (default: the start)
#   --expect REGEX  an extended regular expression some line of the output must match
set -uo pipefail
status_wanted=""
must_fail=0
within=10
marker=""
expects=()
while (($#)); do
  case $1 in
    --status) status_wanted=$2; shift 2 ;;
    --fails) must_fail=1; shift ;;
    --within) within=$2; shift 2 ;;
    --after) marker=$2; shift 2 ;;
    --expect) expects+=("$2"); shift 2 ;;
    --) shift; break ;;
    *) echo "expect_job_end.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
(($#)) || { echo "expect_job_end.sh: no command" >&2; exit 2; }

now_ns() { date +%s%N; }
start=$(now_ns)
marked=""
output=""
status=""
# The job's lines as they come, so the clock starts when the marker appears;
# the last line is the job's exit status. The hard limit keeps this test
# from hanging even if the job would.
while IFS= read -r line; do
  if [[ $line == "expect_job_end: exit status "* ]]; then
    status=${line##* }
    continue
  fi
  printf '%s\n' "$line"
  output+="$line"$'\n'
  [[ -z $marked && -n $marker && $line == *"$marker"* ]] && marked=$(now_ns)
done < <(timeout -s KILL "$((within + 60))" "$@" 2>&1; echo "expect_job_end: exit status $?")
end=$(now_ns)
[[ -n $marker && -z $marked ]] && { echo "FAIL: the job never printed '$marker'"; exit 1; }
from=${marked:-$start}
elapsed_ms=$(((end - from) / 1000000))

failed=0
if [[ -n $status_wanted && $status != "$status_wanted" ]]; then
  echo "FAIL: exit status $status, expected $status_wanted"; failed=1
fi
if ((must_fail)) && [[ $status == 0 ]]; then
  echo "FAIL: the job exited with status 0"; failed=1
fi
if ((elapsed_ms > within * 1000)); then
  echo "FAIL: the job took ${elapsed_ms} ms to end${marker:+ after '$marker'}, more than ${within} s"; failed=1
fi
for expect in "${expects[@]}"; do
  grep -qE -- "$expect" <<<"$output" || { echo "FAIL: no line matches: $expect"; failed=1; }
done
((failed)) && exit 1
echo "PASS: the job ended with status $status ${elapsed_ms} ms${marker:+ after '$marker'}"
