#!/usr/bin/env bash
# `make cluster-down`: stops what `make cluster` started and gives back what it changed: no
# process, mount, network namespace, bridge, KUBE-*/CNI-* iptables chain or kubepods cgroup of
# it is left, and the sysctls it changed are as they were. The cluster's state (etcd, the
# kubelet's and containerd's folders) goes too; certificates, the built binaries and the
# registry's images stay, so the next `make cluster` is quick.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

require_linux_root
run=$cluster_dir/run
containerd_dir=$cluster_dir/containerd

pid_of() { cat "$run/$1.pid" 2>/dev/null; }
alive() { local pid; pid=$(pid_of "$1") && kill -0 "$pid" 2>/dev/null; }

stop() { # name: TERM its process group, KILL it after 20 s
  alive "$1" || { rm -f "$run/$1.pid"; return 0; }
  local pid deadline=$((SECONDS + 20))
  pid=$(pid_of "$1")
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null; do
    [ $SECONDS -lt $deadline ] || { kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true; }
    sleep 0.2
  done
  rm -f "$run/$1.pid"
  say "stopped $1"
}

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

for name in kube-proxy kubelet kube-scheduler kube-controller-manager kube-apiserver etcd; do stop "$name"; done

# Whatever containers are left, and their shims (they outlive containerd by design).
if [ -S "$containerd_dir/containerd.sock" ] && alive containerd; then
  c() { ctr --address "$containerd_dir/containerd.sock" -n k8s.io "$@"; }
  for task in $(c tasks ls -q 2>/dev/null); do c tasks kill -s SIGKILL "$task" >/dev/null 2>&1 || true; done
fi
stop containerd
pkill -KILL -f "containerd-shim-runc-v2 .*-address $containerd_dir/containerd.sock" 2>/dev/null || true
stop registry

# Mounts under the cluster's folder: volumes, network namespaces, container root filesystems.
mounts() { awk -v dir="$cluster_dir/" 'index($5, dir) == 1 { print $5 }' /proc/self/mountinfo | sort -r; }
for target in $(mounts); do umount "$target" 2>/dev/null || umount -l "$target" 2>/dev/null || true; done
[ -z "$(mounts)" ] || say "still mounted: $(mounts | tr '\n' ' ')"

if ip link show "$bridge" >/dev/null 2>&1; then
  ip link delete "$bridge"
  say "removed bridge $bridge"
fi

# The chains of the kubelet, kube-proxy and the CNI plugins, and every rule that jumps to them;
# other rules stay as they are.
for tables in iptables ip6tables; do
  if "$tables-save" 2>/dev/null | grep -qE 'KUBE-|CNI-'; then
    "$tables-save" | grep -vE 'KUBE-|CNI-' | "$tables-restore"
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

rm -rf "$cluster_dir/etcd" "$cluster_dir/kubelet" "$containerd_dir/root" "$containerd_dir/state" \
  "$cluster_dir/cni/ipam" "$cluster_dir/pod-logs" "$cluster_dir/dapr.stamp" "$cluster_dir/buildah-run"
say "cluster down"
