#!/usr/bin/env bash
# Builds the images the local cluster runs and pushes them to its registry (127.0.0.1:5000),
# each from this machine's own sources, since no public registry can be reached:
#   local/debian:bookworm          debootstrap of Debian bookworm: the base of the next three
#   local/python:3.11-bookworm     the services' Python base (services/Dockerfile's build arg)
#   library/postgres, openzipkin/zipkin  what deploy/k8s names, under the names containerd's
#                                  docker.io mirror looks up: Debian's postgresql-15, the Maven
#                                  Zipkin jar
#   local/pause, local/coredns     the pod sandbox and the cluster DNS
#   local/local-path-provisioner   the default StorageClass's provisioner (its helper pods run
#                                  local/debian)
#   dapr/<name>:<version>          Dapr's control plane and daprd, one image under the chart's names
# An image whose inputs are unchanged and that the registry still holds is not built again.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

images_src=$root/deploy/local-cluster/images
mkdir -p "$image_dir" "$cluster_dir"
dapr_version=$(module_version "$root/tools/dapr-runtime" github.com/dapr/dapr | sed 's/^v//')
coredns_version=$(module_version "$root/tools/coredns" github.com/coredns/coredns | sed 's/^v//')
lpp_version=$(module_version "$root/tools/local-path-provisioner" github.com/rancher/local-path-provisioner)
# The tag deploy/k8s/base/postgres.yaml pins (the official image's), read from the manifest.
postgres_tag=$(sed -n 's|^ *image: postgres:||p' "$root/deploy/k8s/base/postgres.yaml")
zipkin_version=${ZIPKIN_VERSION:-3.6.1}

debian_image=$registry/local/debian:bookworm
python_image=$registry/local/python:3.11-bookworm
pause_image=$registry/local/pause:3.10
coredns_image=$registry/local/coredns:$coredns_version
lpp_image=$registry/local/local-path-provisioner:$lpp_version

# buildah keeps its layers in the cache and its run state beside the cluster's; `--network host`
# for every RUN, so it never creates a bridge of its own.
b() {
  buildah --root "$image_dir/buildah" --runroot "$cluster_dir/buildah-run" --storage-driver overlay "$@"
}

in_registry() { # image reference on the local registry
  local path=${1#"$registry"/}
  curl -fsS -o /dev/null -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
    -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
    "http://$registry/v2/${path%:*}/manifests/${path##*:}" 2>/dev/null
}

# Runs "$@" (which builds and pushes $ref) unless the registry holds $ref built from $inputs.
image() { # ref, inputs (a string that changes whenever the image would), command...
  local ref=$1 inputs=$2 started=$SECONDS
  shift 2
  local stamp_file=$image_dir/stamps/$(echo "$ref" | tr '/:' '__')
  local stamp
  stamp=$(printf '%s' "$inputs" | sha256sum | cut -c1-16)
  if [ "$(cat "$stamp_file" 2>/dev/null)" = "$stamp" ] && in_registry "$ref"; then
    say "image $ref is up to date"
    return
  fi
  say "building image $ref ..."
  "$@"
  mkdir -p "$(dirname "$stamp_file")" && echo "$stamp" > "$stamp_file"
  say "pushed $ref in $((SECONDS - started)) s"
}

push() { b push --quiet --tls-verify=false "$1" "docker://$1" >/dev/null; }

hash_of() { cat "$@" | sha256sum | cut -c1-16; }

build_debian() {
  local rootfs
  rootfs=$(mktemp -d "$image_dir/debian.XXXXXX")
  debootstrap --variant=minbase bookworm "$rootfs" http://deb.debian.org/debian >"$cluster_dir/debootstrap.log" 2>&1 ||
    { tail -n 20 "$cluster_dir/debootstrap.log"; rm -rf "$rootfs"; die "debootstrap failed"; }
  printf '%s\n' "deb http://deb.debian.org/debian bookworm main" \
    "deb http://deb.debian.org/debian bookworm-updates main" \
    "deb http://deb.debian.org/debian-security bookworm-security main" > "$rootfs/etc/apt/sources.list"
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb
  tar -C "$rootfs" --numeric-owner -cf "$image_dir/debian.tar" .
  rm -rf "$rootfs"
  local ctr
  ctr=$(b from scratch)
  b add "$ctr" "$image_dir/debian.tar" / >/dev/null
  b config --cmd bash --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$ctr"
  b commit --quiet "$ctr" "$debian_image" >/dev/null && b rm "$ctr" >/dev/null
  rm -f "$image_dir/debian.tar"
  push "$debian_image"
}

build_from_containerfile() { # ref, folder under deploy/local-cluster/images
  b bud --quiet --network host --tls-verify=false --build-arg "DEBIAN_IMAGE=$debian_image" \
    -t "$1" -f "$images_src/$2/Containerfile" "$3" >/dev/null
  push "$1"
}

build_zipkin() {
  local context
  context=$(mktemp -d)
  cp "$cache_dir/zipkin/zipkin-server-$zipkin_version-exec.jar" "$context/zipkin.jar"
  build_from_containerfile "$1" zipkin "$context"
  rm -rf "$context"
}

# A scratch image holding static binaries, an /etc/passwd with the nonroot user, /tmp, and
# Mozilla's CA bundle from Debian's ca-certificates (never this machine's own trust store, which
# may hold a proxy's CA).
build_static() { # ref, user, entrypoint (or ""), binaries...
  local ref=$1 user=$2 entrypoint=$3 files
  shift 3
  files=$(mktemp -d)
  mkdir -p "$files/etc/ssl/certs" "$files/tmp"
  chmod 1777 "$files/tmp"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' \
    > "$files/etc/passwd"
  cat /usr/share/ca-certificates/mozilla/*.crt > "$files/etc/ssl/certs/ca-certificates.crt"
  cp "$@" "$files/"
  local ctr
  ctr=$(b from scratch)
  b copy "$ctr" "$files" / >/dev/null
  b config --user "$user" ${entrypoint:+--entrypoint "[\"$entrypoint\"]"} "$ctr"
  b commit --quiet "$ctr" "$ref" >/dev/null && b rm "$ctr" >/dev/null
  rm -rf "$files"
  push "$ref"
}

build_pause() {
  local out
  out=$(mktemp -d)
  gcc -static -O2 -o "$out/pause" "$images_src/pause/pause.c"
  build_static "$pause_image" 65535 /pause "$out/pause"
  rm -rf "$out"
}

build_dapr() {
  local first=$registry/dapr/daprd:$dapr_version name
  build_static "$first" 65532 "" "$cluster_bin/operator" "$cluster_bin/injector" "$cluster_bin/sentry" \
    "$dapr_bin/placement" "$dapr_bin/scheduler" "$dapr_bin/daprd"
  for name in operator injector sentry placement scheduler; do
    b tag "$first" "$registry/dapr/$name:$dapr_version"
    push "$registry/dapr/$name:$dapr_version"
  done
}

[ -f "$cache_dir/zipkin/zipkin-server-$zipkin_version-exec.jar" ] || "$root/scripts/controlplane.sh" fetch-zipkin

image "$debian_image" "debootstrap bookworm minbase" build_debian
debian_stamp=$(cat "$image_dir/stamps/$(echo "$debian_image" | tr '/:' '__')")
image "$python_image" "$debian_stamp $(hash_of "$images_src/python/Containerfile")" \
  build_from_containerfile "$python_image" python "$images_src/python"
image "$registry/library/postgres:$postgres_tag" "$debian_stamp $(hash_of "$images_src"/postgres/*)" \
  build_from_containerfile "$registry/library/postgres:$postgres_tag" postgres "$images_src/postgres"
image "$registry/openzipkin/zipkin:$zipkin_version" "$debian_stamp $zipkin_version $(hash_of "$images_src/zipkin/Containerfile")" \
  build_zipkin "$registry/openzipkin/zipkin:$zipkin_version"
image "$pause_image" "$(hash_of "$images_src/pause/pause.c" "$0")" build_pause
image "$coredns_image" "$coredns_version $(hash_of "$0")" \
  build_static "$coredns_image" 0 /coredns "$cluster_bin/coredns"
image "$lpp_image" "$lpp_version $(hash_of "$cluster_bin/local-path-provisioner" "$0")" \
  build_static "$lpp_image" 65532 /local-path-provisioner "$cluster_bin/local-path-provisioner"
image "$registry/dapr/daprd:$dapr_version" "$dapr_version $(hash_of "$cluster_bin/sentry" "$dapr_bin/daprd" "$0")" build_dapr
