package wasm

import (
	"context"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"
)

// TestCompileRefusesWhatWazeroFailsOn: a module wazero's validation
// panics on (FuzzInstrument's find: a call through a function whose type
// index is out of range) is refused with an error, and a well-formed one
// compiles.
func TestCompileRefusesWhatWazeroFailsOn(t *testing.T) {
	const malformed = "\x00asm\x01\x00\x00\x00\x01\r\x03`\x00\x00`\x01\x7f\x01\x7f`\x00\x01\x7f\x02\x0f\x01\x040000\x06000000\x00\x01\x03\b\a\x00\x0100000\n9\a\a\x00\x03@\f\x00\v\v\v\x00A0A0A0\x10\x03A\v\a\x0000000\v\t\x00000000A\v\x05\x00000\v\x06\x00000A\v\x04\x0000\v"
	// The smallest module: the header alone.
	const empty = "\x00asm\x01\x00\x00\x00"
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	for _, tc := range []struct {
		name, code, err string
	}{
		{"malformed", malformed, "the module is malformed"},
		{"empty", empty, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Compile(ctx, rt, []byte(tc.code))
			if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
				t.Fatalf("Compile = %v, want %q", err, tc.err)
			}
		})
	}
}
