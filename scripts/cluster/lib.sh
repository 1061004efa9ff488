# Shared by the scripts of `make cluster`: where things live and a few helpers. Sourced, not run.
# Everything the cluster writes is under the project's state and cache folders, never ~/.kube.

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
state_dir=${DAPR_LOCAL_STATE:-$HOME/.local/state/dapr-order-processing}
cache_dir=${DAPR_LOCAL_CACHE:-$HOME/.cache/dapr-order-processing}
dapr_bin=${DAPR_HOME:-$HOME/.dapr}/bin

cluster_dir=$state_dir/cluster          # certificates, configs, etcd data, pid files, logs
cluster_bin=$cache_dir/cluster/bin      # kubernetes, helm, coredns and the Dapr control plane
image_dir=$cache_dir/cluster/images     # rootfs trees and markers of the images already pushed
export KUBECONFIG=$cluster_dir/admin.kubeconfig
export PATH=$cluster_bin:$PATH

# The cluster's fixed addresses. The registry and the apiserver listen on loopback only.
registry=127.0.0.1:5000
apiserver_port=6443
service_cidr=10.96.0.0/16
cluster_dns=10.96.0.10
pod_cidr=10.244.0.0/16
node_name=${CLUSTER_NODE_NAME:-dapr-local}

say() { printf '[cluster] %s\n' "$*"; }
die() { say "$*" >&2; exit 1; }

module_version() { # wrapper module dir, module path -> version
  (cd "$1" && go list -m -f '{{.Version}}' "$2")
}

# A local cluster needs a Linux host and root: it starts a kubelet, containerd and iptables rules.
require_linux_root() {
  [ "$(uname -s)" = Linux ] || die "the local cluster runs only on Linux (this is $(uname -s)); nothing was changed"
  [ "$(id -u)" = 0 ] || die "the local cluster needs root (kubelet, containerd, iptables); nothing was changed"
}

bridge=dapr-local0
node_ip=10.244.0.1            # the bridge's address: the node's InternalIP and the apiserver's
etcd=127.0.0.1:12379          # not 2379: `make up`'s scheduler has an etcd of its own there
