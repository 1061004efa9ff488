#!/usr/bin/env bash
# `make cluster-stop`: turns the node off and keeps everything on disk, as a power-off would:
# every container gets SIGTERM and, after 20 s, SIGKILL; then the host processes stop, and what
# a reboot clears is cleared (containerd's run state, the network namespaces, the CNI's
# address leases). etcd, the volumes (Postgres, the scheduler's etcd, placement's Raft log),
# the certificates and the registry's images stay, so `make cluster` starts the same cluster
# with the same orders. After a power loss (every process killed), it does only the clearing.
# The bridge, the iptables chains and the sysctls stay too; `make cluster-down` restores them.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

require_linux_root
stop_node "${CLUSTER_STOP_GRACE_S:-20}"
rm -rf "$cluster_dir/containerd/state" "$cluster_dir/cni/ipam" "$cluster_dir/buildah-run"
say "cluster stopped; its state is kept in $cluster_dir (make cluster starts it again)"
