#!/usr/bin/env bash
# `make cluster`: a single-node Kubernetes on this machine, with the Dapr control plane installed
# from its Helm chart. Every step skips what is already done, so a second run only checks.
#
#   host processes:  registry (127.0.0.1:5000), etcd (127.0.0.1:12379), containerd, kube-apiserver
#                    (${node_ip}:6443), kube-controller-manager, kube-scheduler, kubelet, kube-proxy
#   in the cluster:  CoreDNS (kube-system), the default StorageClass (local-path-storage),
#                    Dapr's operator, injector, sentry, placement and scheduler (dapr-system)
#
# After `make cluster-stop` (or a power loss) it starts the same cluster again: etcd, the
# volumes and the registry's images are kept, and the kubelet brings every pod back.
#
# What it changes on the machine, and `make cluster-down` restores: the bridge dapr-local0, the
# KUBE-* and CNI-* iptables chains, the mounts under its state folder, and the sysctls in
# sysctls.before. Everything else lives in $cluster_dir and $cache_dir/cluster.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

require_linux_root
started=$SECONDS
ready_deadline_s=${CLUSTER_READY_DEADLINE_S:-300}
pki=$cluster_dir/pki
mkdir -p "$pki"
containerd_dir=$cluster_dir/containerd

wait_for() { # what, command...: retry the command until it succeeds or the deadline passes
  local what=$1 deadline=$((SECONDS + ready_deadline_s))
  shift
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || die "$what not ready after ${ready_deadline_s}s (logs: $log_dir)"
    sleep 0.5
  done
}

# --- one function per component; each skips what is already done ----------------------------

install_tools() { # Debian packages, the Dapr runtime, the cluster's binaries
  local packages missing p
  packages=(containerd runc containernetworking-plugins etcd-server docker-registry iptables conntrack
    buildah debootstrap openssl gcc libc6-dev curl iproute2)
  missing=()
  for p in "${packages[@]}"; do dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p"); done
  if [ ${#missing[@]} -gt 0 ]; then
    say "installing Debian packages: ${missing[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  "$root/scripts/install-dapr.sh"
  "$root/scripts/cluster/build.sh"
}

prepare_host() { # the sysctls the kubelet, kube-proxy and the CNI change, recorded once for cluster-down
  local sysctls key value dir marker
  sysctls=(net.ipv4.ip_forward net.bridge.bridge-nf-call-iptables net.bridge.bridge-nf-call-ip6tables
    vm.overcommit_memory kernel.panic kernel.panic_on_oops net.ipv4.conf.all.route_localnet)
  if [ ! -f "$cluster_dir/sysctls.before" ]; then
    for key in "${sysctls[@]}"; do
      value=$(sysctl -n "$key" 2>/dev/null) && echo "$key=$value"
    done > "$cluster_dir/sysctls.before"
  fi
  sysctl -q -w net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1 net.bridge.bridge-nf-call-ip6tables=1

  # The kubelet links container logs into /var/log/containers and libcni caches results in
  # /var/lib/cni, outside any folder of ours: note which of them we create, for cluster-down.
  for dir in /var/log/containers /var/lib/cni; do
    marker=$cluster_dir/$(echo "${dir#/}" | tr / -).ours
    if [ ! -d "$dir" ]; then mkdir -p "$dir" && touch "$marker"; fi
  done
}

make_bridge() { # pods reach the apiserver, and the apiserver the kubelet, at the bridge's address
  if ! ip link show "$bridge" >/dev/null 2>&1; then
    ip link add "$bridge" type bridge
    ip addr add "$node_ip/16" dev "$bridge"
  fi
  ip link set "$bridge" up
}

make_ca() {
  [ -f "$pki/ca.crt" ] && return
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=dapr-local-ca" \
    -keyout "$pki/ca.key" -out "$pki/ca.crt" 2>/dev/null
  openssl genrsa -out "$pki/sa.key" 2048 2>/dev/null
  openssl rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null
}

make_cert() { # name, subject, [subjectAltName]
  [ -f "$pki/$1.crt" ] && return
  local ext
  ext=$(mktemp)
  printf 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=%s\n' \
    "${3:+serverAuth,}clientAuth" > "$ext"
  [ -z "${3:-}" ] || echo "subjectAltName=$3" >> "$ext"
  openssl req -new -newkey rsa:2048 -nodes -subj "$2" -keyout "$pki/$1.key" -out "$pki/$1.csr" 2>/dev/null
  openssl x509 -req -in "$pki/$1.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
    -days 3650 -extfile "$ext" -out "$pki/$1.crt" 2>/dev/null
  rm -f "$ext" "$pki/$1.csr"
}

make_kubeconfig() { # name (its cert), file
  [ -f "$2" ] && return
  cat > "$2" <<YAML
apiVersion: v1
kind: Config
clusters:
  - name: dapr-local
    cluster:
      server: https://$node_ip:$apiserver_port
      certificate-authority: $pki/ca.crt
users:
  - name: $1
    user:
      client-certificate: $pki/$1.crt
      client-key: $pki/$1.key
contexts:
  - name: dapr-local
    context: {cluster: dapr-local, user: $1}
current-context: dapr-local
YAML
}


make_certificates() {
  make_ca
  make_cert apiserver "/CN=kube-apiserver" \
    "IP:$node_ip,IP:127.0.0.1,IP:${service_cidr%.0/*}.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost"
  make_cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client"
  make_cert kubelet "/O=system:nodes/CN=system:node:$node_name" "IP:$node_ip,DNS:$node_name"
  make_cert admin "/O=system:masters/CN=dapr-local-admin"
  make_cert controller-manager "/CN=system:kube-controller-manager"
  make_cert scheduler "/CN=system:kube-scheduler"
  make_cert kube-proxy "/CN=system:kube-proxy"
  for who in admin kubelet controller-manager scheduler kube-proxy; do
    make_kubeconfig "$who" "$cluster_dir/$who.kubeconfig"
  done
}

start_registry() {
  mkdir -p "$cache_dir/cluster/registry"
  write_config "$cluster_dir/registry.yml" <<YAML
version: 0.1
storage:
  filesystem:
    rootdirectory: $cache_dir/cluster/registry
  delete:
    enabled: true
http:
  addr: $registry
log:
  level: warn
YAML
  start registry "$cluster_dir/registry.yml" docker-registry serve "$cluster_dir/registry.yml"
}

start_etcd() {
  start etcd - etcd --name dapr-local --data-dir "$cluster_dir/etcd" \
    --listen-client-urls "http://$etcd" --advertise-client-urls "http://$etcd" \
    --listen-peer-urls http://127.0.0.1:12380 --initial-advertise-peer-urls http://127.0.0.1:12380 \
    --initial-cluster dapr-local=http://127.0.0.1:12380 --listen-metrics-urls http://127.0.0.1:12381
}

start_containerd() {
  mkdir -p "$containerd_dir/certs.d/$registry" "$containerd_dir/certs.d/docker.io" "$cluster_dir/cni/net.d"
  # The local registry over plain HTTP, and as the mirror of docker.io for the third-party images
  # deploy/k8s names (redis, zipkin), so those manifests run as users run them.
  printf 'server = "http://%s"\n\n[host."http://%s"]\n  capabilities = ["pull", "resolve", "push"]\n' \
    "$registry" "$registry" | write_config "$containerd_dir/certs.d/$registry/hosts.toml"
  printf 'server = "https://registry-1.docker.io"\n\n[host."http://%s"]\n  capabilities = ["pull", "resolve"]\n' \
    "$registry" | write_config "$containerd_dir/certs.d/docker.io/hosts.toml"
  write_config "$containerd_dir/config.toml" <<TOML
version = 2
root = "$containerd_dir/root"
state = "$containerd_dir/state"
[grpc]
  address = "$containerd_dir/containerd.sock"
[ttrpc]
  address = "$containerd_dir/containerd.sock.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$containerd_dir/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$registry/local/pause:3.10"
  netns_mounts_under_state_dir = true
  # No process here may lower its OOM score (no CAP_SYS_RESOURCE, as in most containers and
  # VMs): keep every container's at least containerd's own, or runc fails to start the pod's
  # sandbox (-998) and Guaranteed pods (-997).
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$cluster_dir/cni/net.d"
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "$containerd_dir/certs.d"
TOML
  write_config "$cluster_dir/cni/net.d/10-dapr-local.conflist" <<JSON
{
  "cniVersion": "1.0.0",
  "name": "dapr-local",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$bridge",
      "isGateway": true,
      "ipMasq": true,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": "$pod_cidr", "gateway": "$node_ip"}]],
        "routes": [{"dst": "0.0.0.0/0"}],
        "dataDir": "$cluster_dir/cni/ipam"
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
JSON
  start containerd "$containerd_dir/config.toml" containerd --config "$containerd_dir/config.toml"
}

build_images() { # every image the cluster runs, into its registry
  wait_for "the registry" curl -fsS "http://$registry/v2/"
  "$root/scripts/cluster/images.sh"
}

start_apiserver() {
  wait_for etcd curl -fsS "http://$etcd/health"
  start kube-apiserver - kube-apiserver \
    --etcd-servers="http://$etcd" --bind-address="$node_ip" --advertise-address="$node_ip" \
    --secure-port="$apiserver_port" --service-cluster-ip-range="$service_cidr" \
    --client-ca-file="$pki/ca.crt" --tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" \
    --kubelet-client-certificate="$pki/apiserver-kubelet-client.crt" \
    --kubelet-client-key="$pki/apiserver-kubelet-client.key" \
    --kubelet-preferred-address-types=InternalIP,Hostname \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$pki/sa.pub" --service-account-signing-key-file="$pki/sa.key" \
    --authorization-mode=Node,RBAC --allow-privileged=true --enable-admission-plugins=NodeRestriction \
    --profiling=false
  wait_for kube-apiserver kubectl get --raw /readyz
}

start_controller_manager() {
  start kube-controller-manager - kube-controller-manager \
    --kubeconfig="$cluster_dir/controller-manager.kubeconfig" \
    --authentication-kubeconfig="$cluster_dir/controller-manager.kubeconfig" \
    --authorization-kubeconfig="$cluster_dir/controller-manager.kubeconfig" \
    --bind-address=127.0.0.1 --cluster-signing-cert-file="$pki/ca.crt" --cluster-signing-key-file="$pki/ca.key" \
    --root-ca-file="$pki/ca.crt" --service-account-private-key-file="$pki/sa.key" \
    --use-service-account-credentials=true --allocate-node-cidrs=false --profiling=false
}

start_scheduler() {
  start kube-scheduler - kube-scheduler --kubeconfig="$cluster_dir/scheduler.kubeconfig" \
    --authentication-kubeconfig="$cluster_dir/scheduler.kubeconfig" \
    --authorization-kubeconfig="$cluster_dir/scheduler.kubeconfig" --bind-address=127.0.0.1 --profiling=false
}

start_kubelet() {
  wait_for containerd ctr --address "$containerd_dir/containerd.sock" version
  write_config "$cluster_dir/kubelet.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $node_ip
healthzBindAddress: 127.0.0.1
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $pki/ca.crt}
authorization: {mode: Webhook}
tlsCertFile: $pki/kubelet.crt
tlsPrivateKeyFile: $pki/kubelet.key
containerRuntimeEndpoint: unix://$containerd_dir/containerd.sock
cgroupDriver: cgroupfs
clusterDNS: [$cluster_dns]
clusterDomain: cluster.local
resolvConf: /etc/resolv.conf
# PID 1 is not systemd here, the machine has cgroup v1 and may have swap: tolerate all three.
failCgroupV1: false
failSwapOn: false
# A development node: evict only when the disk is really full, never collect images we built.
evictionHard: {nodefs.available: "1%", imagefs.available: "1%", memory.available: "100Mi"}
imageGCHighThresholdPercent: 100
serializeImagePulls: false
podLogsDir: $cluster_dir/pod-logs
YAML
  start kubelet "$cluster_dir/kubelet.yaml" kubelet --config="$cluster_dir/kubelet.yaml" --kubeconfig="$cluster_dir/kubelet.kubeconfig" \
    --root-dir="$cluster_dir/kubelet" --hostname-override="$node_name" --node-ip="$node_ip"
}

start_kube_proxy() {
  write_config "$cluster_dir/kube-proxy.yaml" <<YAML
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: $cluster_dir/kube-proxy.kubeconfig}
mode: iptables
clusterCIDR: $pod_cidr
hostnameOverride: $node_name
bindAddress: 127.0.0.1
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
# Leave the machine's conntrack settings alone; no NodePorts on 127.0.0.1 (no route_localnet).
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
iptables: {localhostNodePorts: false}
nodePortAddresses: [primary]
YAML
  start kube-proxy "$cluster_dir/kube-proxy.yaml" kube-proxy --config="$cluster_dir/kube-proxy.yaml"
}

install_coredns() {
  local coredns_image
  coredns_image=$registry/local/coredns:$(module_version "$root/tools/coredns" github.com/coredns/coredns | sed 's/^v//')
  sed "s|image: coredns\$|image: $coredns_image|" "$root/deploy/local-cluster/coredns.yaml" | kubectl apply -f - >/dev/null
  kubectl -n kube-system rollout status deployment/coredns --timeout="${ready_deadline_s}s" >/dev/null
}

install_storage() { # the default StorageClass: volumes are folders under $volumes_dir
  local version
  version=$(module_version "$root/tools/local-path-provisioner" github.com/rancher/local-path-provisioner)
  mkdir -p "$volumes_dir"
  sed -e "s|PROVISIONER_IMAGE|$registry/local/local-path-provisioner:$version|" \
    -e "s|HELPER_IMAGE|$registry/local/debian:bookworm|g" -e "s|VOLUMES_DIR|$volumes_dir|" \
    "$root/deploy/local-cluster/local-path-storage.yaml" | kubectl apply -f - >/dev/null
  kubectl -n local-path-storage rollout status deployment/local-path-provisioner \
    --timeout="${ready_deadline_s}s" >/dev/null
}

install_dapr() { # Dapr's control plane, from the chart in the dapr module, as users install it
  local dapr_version chart values dapr_stamp workload
  dapr_version=$(module_version "$root/tools/dapr-runtime" github.com/dapr/dapr | sed 's/^v//')
  chart=$(cd "$root/tools/dapr-runtime" && go list -m -f '{{.Dir}}' github.com/dapr/dapr)/charts/dapr
  values=$root/deploy/local-cluster/dapr-values.yaml
  dapr_stamp="$dapr_version $(sha256sum < "$values" | cut -c1-16)"
  if ! helm status dapr -n dapr-system >/dev/null 2>&1 || [ "$(cat "$cluster_dir/dapr.stamp" 2>/dev/null)" != "$dapr_stamp" ]; then
    say "installing Dapr $dapr_version from its Helm chart"
    helm upgrade --install dapr "$chart" --namespace dapr-system --create-namespace --values "$values" \
      --set "global.registry=$registry/dapr" --set "global.tag=$dapr_version" \
      --wait --timeout "${ready_deadline_s}s" >/dev/null
    echo "$dapr_stamp" > "$cluster_dir/dapr.stamp"
  fi
  for workload in deployment/dapr-operator deployment/dapr-sidecar-injector deployment/dapr-sentry \
    statefulset/dapr-placement-server statefulset/dapr-scheduler-server; do
    kubectl -n dapr-system rollout status "$workload" --timeout="${ready_deadline_s}s" >/dev/null
  done
}

install_tools
prepare_host
make_bridge
make_certificates
start_registry
start_etcd
start_containerd
build_images
start_apiserver
start_controller_manager
start_scheduler
start_kubelet
start_kube_proxy
wait_for "the node" kubectl wait --for=condition=Ready "node/$node_name" --timeout=5s
install_coredns
install_storage
install_dapr

say "cluster ready in $((SECONDS - started)) s; logs in $log_dir"
echo "export KUBECONFIG=$KUBECONFIG"
echo "export PATH=$cluster_bin:\$PATH"
