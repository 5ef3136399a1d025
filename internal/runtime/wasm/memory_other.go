//go:build !linux

package wasm

import "github.com/tetratelabs/wazero/experimental"

// newMappedMemory is nil where mappings are not implemented: linear memory
// stays on the Go heap, as wazero keeps it by default.
func newMappedMemory(capacity, maxBytes uint64) experimental.LinearMemory { return nil }
