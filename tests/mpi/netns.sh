#!/usr/bin/env bash
# Runs an MPI program across three "hosts": network namespaces joined by
# veth pairs to a bridge, with mpirun in a fourth namespace starting one rank
# in each through a launcher agent that enters the namespace instead of ssh
# (netns_agent.sh). Open MPI's TCP transport (and its out-of-band channel)
# is restricted to the veth addresses and shared memory is off, so every
# task and result crosses a network interface; the test checks that it did,
# by the veth byte counters. Namespaces, veth pairs and the bridge are set
# up here and always torn down (trap).
#   tests/mpi/netns.sh <program> [arguments...]
# Exits 77 (CTest: skipped) with the reason if the environment forbids
# network namespaces (not root, no iproute2, no CAP_SYS_ADMIN).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
mpirun_sh=$(cd "$here/../../scripts" && pwd)/mpirun.sh
program=$1
shift

skip() {
  echo "SKIPPED: $*"
  exit 77
}
[[ $(id -u) == 0 ]] || skip "network namespaces need root (CAP_SYS_ADMIN); this test runs as $(id -un)"
command -v ip >/dev/null || skip "iproute2's ip is missing (scripts/install-deps.sh installs it)"
command -v unshare >/dev/null || skip "util-linux's unshare is missing"

tag=tmpi$$
hub=${tag}h
nodes=("${tag}n0" "${tag}n1" "${tag}n2")
subnet=10.77.0
work=$(mktemp -d "${TMPDIR:-/tmp}/tandem-netns.XXXXXX")
remove_namespace() {
  ip netns del "$1" 2>/dev/null
  rm -rf "/etc/netns/$1"
}
cleanup() {
  for ns in "$hub" "${nodes[@]}"; do remove_namespace "$ns"; done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP  # so that the EXIT trap runs
# A run killed outright (SIGKILL) cannot clean up: its namespaces, named
# after its pid, are removed by the next run once that pid is gone.
for ns in $(ip netns list 2>/dev/null | grep -oE '^tmpi[0-9]+[hn][0-9]*'); do
  pid=${ns#tmpi}
  pid=${pid%%[hn]*}
  [[ -d /proc/$pid ]] || remove_namespace "$ns"
done

if ! error=$(ip netns add "$hub" 2>&1); then
  skip "the environment forbids network namespaces: ip netns add: $error"
fi
# Entering one needs a mount namespace with / as a mount point (not so in a
# chroot, for one).
if ! error=$(ip netns exec "$hub" true 2>&1); then
  skip "the environment cannot enter a network namespace: ip netns exec: $error"
fi
set -e
ip -n "$hub" link set lo up
ip -n "$hub" link add br0 type bridge
ip -n "$hub" addr add "$subnet.254/24" dev br0
ip -n "$hub" link set br0 up
hosts="$subnet.254 $hub"$'\n'
for i in 0 1 2; do
  ns=${nodes[$i]}
  ip netns add "$ns"
  ip -n "$ns" link set lo up
  # One veth pair per host: eth0 in the host, its peer on the hub's bridge.
  ip -n "$ns" link add eth0 type veth peer name "v$i" netns "$hub"
  ip -n "$ns" addr add "$subnet.$((i + 1))/24" dev eth0
  ip -n "$ns" link set eth0 up
  ip -n "$hub" link set "v$i" master br0 up
  hosts+="$subnet.$((i + 1)) $ns"$'\n'
done
# Names resolve in every namespace through its own /etc/hosts (ip netns exec
# bind-mounts /etc/netns/<name>/ over /etc), and no DNS server is asked.
for ns in "$hub" "${nodes[@]}"; do
  mkdir -p "/etc/netns/$ns"
  printf '127.0.0.1 localhost\n%s' "$hosts" >"/etc/netns/$ns/hosts"
  : >"/etc/netns/$ns/resolv.conf"
done
for ns in "${nodes[@]}"; do echo "$ns slots=1"; done >"$work/hostfile"

counters() {  # bytes received and sent by each host's eth0, one host a line
  for ns in "${nodes[@]}"; do
    echo "$(ip netns exec "$ns" cat /sys/class/net/eth0/statistics/rx_bytes) $(ip netns exec "$ns" cat /sys/class/net/eth0/statistics/tx_bytes)"
  done
}
before=$(counters)
set +e
echo "netns: ranks on ${nodes[*]} ($subnet.1-3), mpirun on $hub ($subnet.254), TCP only"
# The orted daemons the agent starts inherit this environment (they are
# children of mpirun here), and run as root too.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
TANDEM_MPI_BTL=self,tcp ip netns exec "$hub" "$mpirun_sh" --hostfile "$work/hostfile" -np 3 \
  --mca plm_rsh_agent "$here/netns_agent.sh" \
  --mca btl_tcp_if_include "$subnet.0/24" --mca oob_tcp_if_include "$subnet.0/24" \
  "$program" "$@"
status=$?
after=$(counters)

echo "netns: program exited with status $status"
failed=$((status != 0))
total=0
for i in 0 1 2; do
  read -r rx0 tx0 <<<"$(sed -n "$((i + 1))p" <<<"$before")"
  read -r rx1 tx1 <<<"$(sed -n "$((i + 1))p" <<<"$after")"
  echo "netns: ${nodes[$i]} eth0 received $((rx1 - rx0)) bytes, sent $((tx1 - tx0)) bytes"
  if ((rx1 - rx0 == 0 || tx1 - tx0 == 0)); then
    echo "FAIL: no traffic crossed ${nodes[$i]}'s eth0"
    failed=1
  fi
  total=$((total + rx1 - rx0))
done
# Every byte sent is received by one host: the 32 MiB argument and 32 MiB
# result of the program's large task alone make 64 MiB.
if ((total < 64 * 1024 * 1024)); then
  echo "FAIL: only $total bytes crossed the veth interfaces; the large payloads did not"
  failed=1
fi
exit $failed
