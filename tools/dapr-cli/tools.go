//go:build tools

// Package tools pins the dapr CLI this module builds, so `go mod tidy` keeps its dependencies in
// go.sum. The file never compiles (the tools tag is never set).
package tools

import _ "github.com/dapr/cli"
