//go:build tools

// Package tools pins the Dapr commands this module builds, so `go mod tidy` keeps their
// dependencies in go.sum. The file never compiles (the tools tag is never set).
package tools

import (
	_ "github.com/dapr/dapr/cmd/daprd"
	_ "github.com/dapr/dapr/cmd/placement"
	_ "github.com/dapr/dapr/cmd/scheduler"
)
