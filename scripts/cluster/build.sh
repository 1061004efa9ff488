#!/usr/bin/env bash
# Builds the local cluster's binaries from their Go modules into a cache outside the repo:
# Kubernetes (tools/kubernetes), helm (tools/helm), CoreDNS (tools/coredns), rancher's
# local-path-provisioner (tools/local-path-provisioner: the default StorageClass) and Dapr's
# control plane (operator, injector, sentry: tools/dapr-runtime, the same build as ~/.dapr/bin).
# A binary whose version stamp matches its wrapper module is kept, so a second run does nothing.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

command -v go >/dev/null || die "go is not installed: install Go 1.26.5 or newer"
mkdir -p "$cluster_bin"

built() { # stamp name, wanted stamp
  [ "$(cat "$cluster_bin/.$1" 2>/dev/null)" = "$2" ]
}

build() { # stamp name, stamp, module dir, ldflags, packages...
  local name=$1 stamp=$2 dir=$3 ldflags=$4 started=$SECONDS
  shift 4
  if built "$name" "$stamp"; then
    say "$name $stamp already in $cluster_bin"
    return
  fi
  say "building $name $stamp ..."
  local tmp
  tmp=$(mktemp -d "$cluster_bin/.build.XXXXXX")
  (cd "$dir" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w $ldflags" -o "$tmp/" "$@")
  mv "$tmp"/* "$cluster_bin/" && rmdir "$tmp"
  echo "$stamp" > "$cluster_bin/.$name"
  say "built $name in $((SECONDS - started)) s"
}

k8s=$(module_version "$root/tools/kubernetes" k8s.io/kubernetes)
minor=$(echo "$k8s" | cut -d. -f2)
stamp_k8s=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  stamp_k8s+=" -X $pkg.gitVersion=$k8s -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
  stamp_k8s+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done
build kubernetes "$k8s" "$root/tools/kubernetes" "$stamp_k8s" \
  k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
  k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubelet \
  k8s.io/kubernetes/cmd/kube-proxy k8s.io/kubernetes/cmd/kubectl

if [ -d "$root/tools/helm" ]; then
  helm=$(module_version "$root/tools/helm" helm.sh/helm/v3)
  build helm "$helm" "$root/tools/helm" "-X helm.sh/helm/v3/internal/version.version=$helm" \
    helm.sh/helm/v3/cmd/helm
fi

if [ -d "$root/tools/coredns" ]; then
  coredns=$(module_version "$root/tools/coredns" github.com/coredns/coredns)
  build coredns "$coredns" "$root/tools/coredns" "" github.com/coredns/coredns
fi

lpp=$(module_version "$root/tools/local-path-provisioner" github.com/rancher/local-path-provisioner)
build local-path-provisioner "$lpp" "$root/tools/local-path-provisioner" "" \
  github.com/rancher/local-path-provisioner

dapr=$(module_version "$root/tools/dapr-runtime" github.com/dapr/dapr | sed 's/^v//')
stamp_dapr="-X github.com/dapr/dapr/pkg/buildinfo.version=$dapr"
stamp_dapr+=" -X github.com/dapr/dapr/pkg/buildinfo.gitversion=v$dapr"
build dapr-control-plane "$dapr" "$root/tools/dapr-runtime" "$stamp_dapr" \
  github.com/dapr/dapr/cmd/operator github.com/dapr/dapr/cmd/injector github.com/dapr/dapr/cmd/sentry
