#!/usr/bin/env bash
# mpirun's launcher agent for tests/mpi/netns.sh, in place of ssh: mpirun runs
#   netns_agent.sh <host> <command...>
# to start its daemon (orted) on <host>. Here a host is a network namespace
# of the same name: the command runs inside it, with a UTS namespace of its
# own whose hostname is the host's name, so that Open MPI sees three
# machines (and talks TCP between them) rather than one.
set -euo pipefail
while [[ $# -gt 0 && $1 == -* ]]; do shift; done  # ssh-style options, if mpirun adds any
host=$1
shift
# ssh hands the remote shell one command line; so does this.
exec ip netns exec "$host" unshare --uts sh -c 'hostname "$1" && exec sh -c "$2"' netns_agent "$host" "$*"
