# Shared by the scripts of `make cluster`: where things live and a few helpers. Sourced, not run.
# Everything the cluster writes is under the project's state and cache folders, never ~/.kube.

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
state_dir=${DAPR_LOCAL_STATE:-$HOME/.local/state/dapr-order-processing}
cache_dir=${DAPR_LOCAL_CACHE:-$HOME/.cache/dapr-order-processing}
dapr_bin=${DAPR_HOME:-$HOME/.dapr}/bin

cluster_dir=$state_dir/cluster          # certificates, configs, etcd data, pid files, logs
volumes_dir=$cluster_dir/volumes        # the default StorageClass's volumes, one folder each
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

# --- the cluster's host processes: pid files in $cluster_dir/run, logs in $cluster_dir/logs ---

run_dir=$cluster_dir/run
log_dir=$cluster_dir/logs
changed_configs=""

pid_of() { cat "$run_dir/$1.pid" 2>/dev/null; }
alive() { local pid; pid=$(pid_of "$1") && kill -0 "$pid" 2>/dev/null; }

# Writes stdin to the file unless it already says that; start() restarts a process whose file
# changed (kube-proxy, for one, exits when its file changes under it).
write_config() { # file
  local text
  text=$(cat)
  [ "$(cat "$1" 2>/dev/null)" = "$text" ] && return
  mkdir -p "$(dirname "$1")"
  printf '%s\n' "$text" > "$1"
  changed_configs+=" $1"
}

start() { # name, the config file it reads (or -), command...: unless ours runs, as configured
  local name=$1 config=$2
  shift 2
  if alive "$name"; then
    [[ " $changed_configs " == *" $config "* ]] || return 0
    say "restarting $name: $config changed"
    stop "$name"
  fi
  mkdir -p "$run_dir" "$log_dir"
  setsid "$@" >>"$log_dir/$name.log" 2>&1 </dev/null &
  echo $! >"$run_dir/$name.pid"
}

stop() { # name: TERM its process group, KILL it after 20 s
  alive "$1" || { rm -f "$run_dir/$1.pid"; return 0; }
  local pid deadline=$((SECONDS + 20))
  pid=$(pid_of "$1")
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null; do
    [ $SECONDS -lt $deadline ] || { kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true; }
    sleep 0.2
  done
  rm -f "$run_dir/$1.pid"
  say "stopped $1"
}

# Mounts under the cluster's folder: volumes, network namespaces, container root filesystems.
mounts() { awk -v dir="$cluster_dir/" 'index($5, dir) == 1 { print $5 }' /proc/self/mountinfo | sort -r; }

# Stops the node as a shutdown does: the kubelet and the control plane's processes, then every
# container (TERM, and KILL once the grace has passed; 0 kills at once), containerd and the
# shims that outlive it by design, and the registry; then unmounts what lives under the
# cluster's folder. What is on disk stays: etcd, the volumes, the images.
stop_node() { # grace seconds
  local grace=$1 name task deadline
  for name in kube-proxy kubelet kube-scheduler kube-controller-manager kube-apiserver etcd; do stop "$name"; done
  if [ -S "$cluster_dir/containerd/containerd.sock" ] && alive containerd; then
    c() { ctr --address "$cluster_dir/containerd/containerd.sock" -n k8s.io "$@"; }
    if [ "$grace" -gt 0 ]; then
      for task in $(c tasks ls -q 2>/dev/null); do c tasks kill -s SIGTERM "$task" >/dev/null 2>&1 || true; done
      deadline=$((SECONDS + grace))
      while [ $SECONDS -lt $deadline ] && c tasks ls 2>/dev/null | grep -q RUNNING; do sleep 0.5; done
    fi
    for task in $(c tasks ls -q 2>/dev/null); do c tasks kill -s SIGKILL "$task" >/dev/null 2>&1 || true; done
  fi
  stop containerd
  pkill -KILL -f "containerd-shim-runc-v2 .*-address $cluster_dir/containerd/containerd.sock" 2>/dev/null || true
  stop registry
  for name in $(mounts); do umount "$name" 2>/dev/null || umount -l "$name" 2>/dev/null || true; done
  [ -z "$(mounts)" ] || say "still mounted: $(mounts | tr '\n' ' ')"
}
