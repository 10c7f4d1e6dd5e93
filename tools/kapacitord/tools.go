//go:build tools

// Package tools only pins Kapacitor's daemon (cmd/kapacitord) for `go build`.
package tools

import _ "github.com/influxdata/kapacitor/cmd/kapacitord"
