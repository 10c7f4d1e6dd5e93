//go:build tools

// Package tools only pins the MinIO server's main package for `go build` (the ObjectStorage
// layer's daemon; no wheel or Debian package ships it).
package tools

import _ "github.com/minio/minio"
