#!/usr/bin/env bash
# `make cluster-status`: which of the cluster's processes run, the node, and the system pods.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

for name in registry etcd containerd kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy; do
  pid=$(cat "$cluster_dir/run/$name.pid" 2>/dev/null || true)
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then echo "$name: up (pid $pid)"; else echo "$name: down"; fi
done
if kubectl get --raw /readyz >/dev/null 2>&1; then
  kubectl get nodes -o wide
  kubectl get pods -n kube-system -o wide
  kubectl get pods -n dapr-system -o wide
else
  echo "apiserver: not answering"
fi
echo "export KUBECONFIG=$KUBECONFIG"
echo "export PATH=$cluster_bin:\$PATH"
