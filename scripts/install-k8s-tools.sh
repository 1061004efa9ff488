#!/usr/bin/env bash
# Installs what the offline proof of the Kubernetes set-up (tests/deploy) needs, into a cache
# outside the repo; nothing here is committed:
#   - kustomize, built from its Go module (no release binary can be downloaded here);
#   - skaffold's JSON schema for the apiVersion skaffold.yaml uses, copied out of the skaffold
#     Go module, which ships the schemas under docs-v2/content/en/schemas/;
#   - the github.com/dapr/dapr module in the Go module cache, whose charts/dapr/crds/ hold the
#     CRDs the Dapr resources are validated against (a `dapr init` runtime skips that download).
# Whatever is already there at the wanted version is kept, so a second run does nothing.
#
# Versions:
#   kustomize v5.8.2: v5.8.3 needs Go 1.27; the project builds with Go 1.26.
#   skaffold module v2.16.1: the newest release whose module the Go proxy serves here
#   (2.17.x and 2.18.0 answer 403); its newest schema is skaffold/v4beta13.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cache_dir=${DAPR_LOCAL_CACHE:-$HOME/.cache/dapr-order-processing}/k8s
kustomize_version=v5.8.2
skaffold_module=github.com/GoogleContainerTools/skaffold/v2
skaffold_version=v2.16.1

say() { printf '[install-k8s-tools] %s\n' "$*"; }

command -v go >/dev/null || { say "go is not installed: install Go 1.26.5 or newer"; exit 1; }
mkdir -p "$cache_dir/bin" "$cache_dir/skaffold-schemas"

kustomize=$cache_dir/bin/kustomize
have=$("$kustomize" version 2>/dev/null || true)
if [ "$have" = "$kustomize_version" ]; then
  say "kustomize $have already in $cache_dir/bin"
else
  say "kustomize: want $kustomize_version, have ${have:-nothing}; building from its Go module"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && GOBIN=$tmp go install "sigs.k8s.io/kustomize/kustomize/v5@$kustomize_version")
  mv "$tmp/kustomize" "$kustomize"
  say "built $("$kustomize" version)"
fi

# The schema of the apiVersion skaffold.yaml declares: the one file the tests validate against.
api_version=$(sed -n 's|^apiVersion: skaffold/\(v[0-9a-z]*\)$|\1|p' "$root/skaffold.yaml")
[ -n "$api_version" ] || { say "no 'apiVersion: skaffold/...' line in skaffold.yaml"; exit 1; }
schema=$cache_dir/skaffold-schemas/$api_version.json
if [ -f "$schema" ]; then
  say "skaffold schema $api_version already in $cache_dir/skaffold-schemas"
else
  say "fetching $skaffold_module@$skaffold_version for its $api_version schema"
  module_dir=$(cd "$cache_dir" && go mod download -json "$skaffold_module@$skaffold_version" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  source=$module_dir/docs-v2/content/en/schemas/$api_version.json
  [ -f "$source" ] || { say "$skaffold_module@$skaffold_version has no $api_version schema"; exit 1; }
  cp "$source" "$schema.tmp" && chmod 644 "$schema.tmp" && mv "$schema.tmp" "$schema"
  say "copied $api_version.json"
fi

# The dapr module at the version tools/dapr-runtime builds; `go list` finds it once downloaded.
dapr_dir=$(cd "$root/tools/dapr-runtime" && go list -m -f '{{.Dir}}' github.com/dapr/dapr)
if [ -n "$dapr_dir" ] && [ -d "$dapr_dir/charts/dapr/crds" ]; then
  say "Dapr CRDs already in $dapr_dir/charts/dapr/crds"
else
  say "downloading the github.com/dapr/dapr module for its CRDs"
  (cd "$root/tools/dapr-runtime" && go mod download github.com/dapr/dapr)
  say "Dapr CRDs in $(cd "$root/tools/dapr-runtime" && go list -m -f '{{.Dir}}' github.com/dapr/dapr)/charts/dapr/crds"
fi
