package wasm

import (
	"context"
	"fmt"

	"github.com/tetratelabs/wazero"
)

// Compile compiles code, a module from outside the host, with rt.
//
// wazero's validation is meant to refuse malformed modules with an error,
// but some it panics on (a call through a function whose type index is out
// of range, found by FuzzInstrument in wazero 1.12): a module an operator
// uploads must not take the host down with it, whichever goroutine loads
// it, so a panic here is the module's refusal.
func Compile(ctx context.Context, rt wazero.Runtime, code []byte) (mod wazero.CompiledModule, err error) {
	defer func() {
		if p := recover(); p != nil {
			mod, err = nil, fmt.Errorf("the module is malformed: the WebAssembly runtime failed on it: %v", p)
		}
	}()
	return rt.CompileModule(ctx, code)
}
