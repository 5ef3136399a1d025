// Package ksplugins is the KubeStellar dynamic plugin host.
//
// The packages that plugin authors import live under sdk/; the server is the
// ksplugins command. This package only carries the SDK's source.
package ksplugins

import (
	"embed"
	"io/fs"
)

// The host builds native plugins against exactly the SDK it was built from:
// Go loads a plugin only when every package the two share is identical, so
// the binary carries that source instead of trusting what is on disk.
//
//go:embed go.mod go.sum sdk
var sdkSource embed.FS

// SDKSource returns this module's go.mod, go.sum and sdk/ tree as they were
// when the running binary was built.
func SDKSource() fs.FS { return sdkSource }
