#!/usr/bin/env bash
# `make cluster-down`: stops what `make cluster` started and gives back what it changed: no
# process, mount, network namespace, bridge, KUBE-*/CNI-* iptables chain or kubepods cgroup of
# it is left, and the sysctls it changed are as they were. The cluster's state (etcd, the
# kubelet's and containerd's folders) goes too; certificates, the built binaries and the
# registry's images stay, so the next `make cluster` is quick.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

require_linux_root
containerd_dir=$cluster_dir/containerd

# First the pods, through the API, so the kubelet tears each sandbox down the normal way (CNI
# DEL frees its address and port mappings, its volumes are unmounted).
if alive kube-apiserver && alive kubelet && kubectl get --raw /readyz >/dev/null 2>&1; then
  say "deleting every workload"
  for ns in $(kubectl get namespaces -o jsonpath='{.items[*].metadata.name}'); do
    case $ns in
      default | kube-system | kube-public | kube-node-lease)
        kubectl -n "$ns" delete deployments,statefulsets,daemonsets,replicasets,jobs --all --wait=false >/dev/null ;;
      *) kubectl delete namespace "$ns" --wait=false >/dev/null ;;
    esac
  done
  kubectl delete pods --all --all-namespaces --grace-period=5 --timeout=120s >/dev/null 2>&1 ||
    say "some pods did not go within 120 s; stopping their containers directly"
fi

stop_node 0

if ip link show "$bridge" >/dev/null 2>&1; then
  ip link delete "$bridge"
  say "removed bridge $bridge"
fi

# The chains of the kubelet, kube-proxy and the CNI plugins, and every rule that jumps to them;
# other rules stay as they are.
for tables in iptables ip6tables; do
  command -v "$tables-save" >/dev/null || continue
  rules=$("$tables-save")
  if grep -qE 'KUBE-|CNI-' <<<"$rules"; then
    grep -vE 'KUBE-|CNI-' <<<"$rules" | "$tables-restore"
    say "removed the KUBE-* and CNI-* chains from $tables"
  fi
done

if [ -f "$cluster_dir/sysctls.before" ]; then
  while IFS= read -r setting; do sysctl -q -w "$setting" || true; done < "$cluster_dir/sysctls.before"
  rm -f "$cluster_dir/sysctls.before"
  say "restored sysctls"
fi

# The kubelet's cgroups (cgroupfs driver), deepest first, once their processes are gone.
for controller in /sys/fs/cgroup/*/; do
  [ -d "$controller/kubepods" ] && find "$controller/kubepods" -depth -type d -exec rmdir {} + 2>/dev/null || true
done
# What the kubelet and containerd write outside their folders.
[ -f "$cluster_dir/var-log-containers.ours" ] && rm -rf /var/log/containers "$cluster_dir/var-log-containers.ours"
[ -f "$cluster_dir/var-lib-cni.ours" ] && rm -rf /var/lib/cni "$cluster_dir/var-lib-cni.ours"

rm -rf "$cluster_dir/etcd" "$cluster_dir/kubelet" "$volumes_dir" "$containerd_dir/root" "$containerd_dir/state" \
  "$cluster_dir/cni/ipam" "$cluster_dir/pod-logs" "$cluster_dir/dapr.stamp" "$cluster_dir/buildah-run"
say "cluster down"
