#!/usr/bin/env bash
# Installs the Dapr runtime (daprd, placement, scheduler) and the dapr CLI into ~/.dapr/bin,
# built from their Go modules: the air-gapped stand-in for `dapr init --slim`.
#
# Versions come from tools/dapr-runtime/go.mod and tools/dapr-cli/go.mod, the only place they
# are written down. A binary that already reports the wanted version (or, for the runtime, any
# 1.18.x from a normal `dapr init`) is kept, so a second run does nothing.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
dapr_home=${DAPR_HOME:-$HOME/.dapr}
bin_dir=$dapr_home/bin
state_dir=${DAPR_LOCAL_STATE:-$HOME/.local/state/dapr-order-processing}
runtime_line=1.18.
# The sidecar flavor of the release binaries `dapr init` installs: every component, stable or
# not. The tests need one that is not stable: the SQLite name resolver (see tests/integration).
flavor=allcomponents

say() { printf '[install-dapr] %s\n' "$*"; }

module_version() { # module dir, module path -> version without the leading v
  (cd "$1" && go list -m -f '{{.Version}}' "$2") | sed 's/^v//'
}

# `daprd --version` prints the bare version; placement and scheduler have no such flag, so
# they are judged by a stamp file written next to them when we build them.
installed_runtime_version() {
  [ -x "$bin_dir/daprd" ] && [ -x "$bin_dir/placement" ] && [ -x "$bin_dir/scheduler" ] || return 0
  "$bin_dir/daprd" --version 2>/dev/null | head -n 1
}

installed_cli_version() {
  [ -x "$bin_dir/dapr" ] || return 0
  "$bin_dir/dapr" version --output json 2>/dev/null | sed -n 's/.*"Cli version": *"\([^"]*\)".*/\1/p'
}

build() { # module dir, package, output name, version-stamp ldflags, build tags
  local started=$SECONDS
  say "building $3 from $2 (tags: ${5:-none}) ..."
  (cd "$1" && CGO_ENABLED=0 go build -trimpath -tags "${5:-}" -ldflags "-s -w $4" \
    -o "$bin_dir/$3.tmp" "$2")
  mv "$bin_dir/$3.tmp" "$bin_dir/$3"
  say "built $3 in $((SECONDS - started)) s"
}

started=$SECONDS
mkdir -p "$bin_dir" "$state_dir"
command -v go >/dev/null || { say "go is not installed: install Go 1.26.5 or newer"; exit 1; }

runtime_version=$(module_version "$root/tools/dapr-runtime" github.com/dapr/dapr)
cli_version=$(module_version "$root/tools/dapr-cli" github.com/dapr/cli)

have=$(installed_runtime_version)
stamp_file=$bin_dir/.built-from-modules
if [ "$have" = "$runtime_version" ] && [ "$(cat "$stamp_file" 2>/dev/null)" = "$runtime_version $flavor" ]; then
  say "runtime $have ($flavor) already in $bin_dir"
elif [[ "$have" == "$runtime_line"* ]] && [ ! -f "$stamp_file" ]; then
  say "runtime $have from a normal 'dapr init' found in $bin_dir: using it"
else
  say "runtime: want $runtime_version ($flavor), have ${have:-nothing}; building from Go modules"
  say "(the first build downloads about 4 GB of modules and takes a while on 2 cores)"
  fetch_started=$SECONDS
  (cd "$root/tools/dapr-runtime" && go mod download)
  say "modules downloaded in $((SECONDS - fetch_started)) s"
  stamp="-X github.com/dapr/dapr/pkg/buildinfo.version=$runtime_version"
  stamp+=" -X github.com/dapr/dapr/pkg/buildinfo.gitversion=v$runtime_version"
  for cmd in placement scheduler daprd; do
    build "$root/tools/dapr-runtime" "github.com/dapr/dapr/cmd/$cmd" "$cmd" "$stamp" "$flavor"
  done
  echo "$runtime_version $flavor" > "$stamp_file"
fi

have=$(installed_cli_version)
if [ "$have" = "$cli_version" ] || { [ -n "$have" ] && [ ! -f "$bin_dir/.cli-built-from-modules" ]; }; then
  say "dapr CLI $have already in $bin_dir"
else
  build "$root/tools/dapr-cli" github.com/dapr/cli dapr \
    "-X main.version=$cli_version -X main.apiVersion=1.0" ""
  echo "$cli_version" > "$bin_dir/.cli-built-from-modules"
fi

# What `dapr init --slim` writes, with tracing to the local Zipkin switched on.
if [ ! -f "$dapr_home/config.yaml" ]; then
  cat > "$dapr_home/config.yaml" <<'YAML'
apiVersion: dapr.io/v1alpha1
kind: Configuration
metadata:
  name: daprConfig
spec:
  tracing:
    samplingRate: "1"
    zipkin:
      endpointAddress: http://localhost:9411/api/v2/spans
YAML
  say "wrote $dapr_home/config.yaml"
fi
mkdir -p "$dapr_home/components"

say "done in $((SECONDS - started)) s; $("$bin_dir/dapr" --version | tr '\n' ' ')"
