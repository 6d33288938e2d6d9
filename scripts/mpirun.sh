#!/usr/bin/env bash
# mpirun with the settings every MPI run of tandem uses — the tests, the
# benchmark, the example and the README's commands — written once, here.
#   scripts/mpirun.sh -np 3 build/release/examples/example_mpi_map
#   scripts/mpirun.sh --hostfile hosts -np 3 program      (any mpirun option is passed on)
#
# --allow-run-as-root  Open MPI refuses root without it; containers and CI run as
#                      root (added only when this script runs as root).
# --oversubscribe      more ranks than cores: 3 ranks on a 2-core machine.
# --bind-to none       Open MPI binds each rank to one core (or socket) by default;
#                      the root runs two threads (main and the communication
#                      thread) that must not share one core, and an oversubscribed
#                      machine needs the kernel free to move ranks.
# --mca pml ob1 --mca btl self,vader,tcp
#                      the transports every machine has (shared memory within a
#                      host, TCP between hosts). Without this, Open MPI probes
#                      InfiniBand, UCX and libfabric and may warn on machines
#                      without them.
#                      (TANDEM_MPI_BTL replaces that list: tests/mpi/netns.sh
#                      uses self,tcp so that every message crosses a network.)
# --mca btl_vader_backing_directory <a folder of this job's own>
#                      shared memory between ranks in files there, not in
#                      /dev/shm: tests count /dev/shm's entries to prove that
#                      tandem leaves none, and must not see Open MPI's come and
#                      go. The folder (under $TMPDIR, default /tmp) also holds
#                      Open MPI's session directory, and is removed when mpirun
#                      ends, so a job whose ranks were killed leaves nothing.
# TANDEM_MPIRUN_ARGS   extra options, added before the caller's.
set -euo pipefail
job_dir=$(mktemp -d "${TMPDIR:-/tmp}/tandem-mpirun.XXXXXX")
trap 'rm -rf "$job_dir"' EXIT
options=(--oversubscribe --bind-to none --mca pml ob1 --mca btl "${TANDEM_MPI_BTL:-self,vader,tcp}"
  --mca btl_vader_backing_directory "$job_dir")
[[ $(id -u) == 0 ]] && options=(--allow-run-as-root "${options[@]}")
# shellcheck disable=SC2206  # word splitting of the extra options is the point
extra=(${TANDEM_MPIRUN_ARGS:-})
status=0
TMPDIR=$job_dir mpirun "${options[@]}" "${extra[@]}" "$@" || status=$?
exit "$status"
