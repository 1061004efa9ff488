//go:build tools

// The command scripts/cluster/build.sh builds; this file only pins it in go.mod.
package tools

import _ "github.com/rancher/local-path-provisioner"
