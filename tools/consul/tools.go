//go:build tools

// Package tools only pins Consul's main package for `go build`.
package tools

import _ "github.com/hashicorp/consul"
