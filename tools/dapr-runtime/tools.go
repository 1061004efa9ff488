//go:build tools

// Package tools pins the Dapr commands this module builds, so `go mod tidy` keeps their
// dependencies in go.sum: daprd, placement and scheduler for ~/.dapr/bin, and operator,
// injector and sentry for the local cluster (`make cluster`). The file never compiles (the
// tools tag is never set).
package tools

import (
	_ "github.com/dapr/dapr/cmd/daprd"
	_ "github.com/dapr/dapr/cmd/placement"
	_ "github.com/dapr/dapr/cmd/scheduler"
	_ "github.com/dapr/dapr/cmd/operator"
	_ "github.com/dapr/dapr/cmd/injector"
	_ "github.com/dapr/dapr/cmd/sentry"
)
