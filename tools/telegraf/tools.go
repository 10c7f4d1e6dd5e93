//go:build tools

// Package tools only pins Telegraf's main package for `go build`.
package tools

import _ "github.com/influxdata/telegraf/cmd/telegraf"
