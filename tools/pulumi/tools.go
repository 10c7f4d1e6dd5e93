//go:build tools

// Package tools only pins the Pulumi CLI's main package for `go build`.
package tools

import _ "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"
