//go:build tools

// Package tools only pins step-ca's main package (smallstep/certificates) for `go build`.
package tools

import _ "github.com/smallstep/certificates/cmd/step-ca"
