package wasmmodule

import (
	"errors"
	"strings"
	"testing"

	apiv1 "github.com/kubestellar/ksplugins/api/v1"
)

// module builds a module of the given sections (id, body).
func module(sections ...[]byte) []byte {
	out := []byte{0x00, 'a', 's', 'm', 0x01, 0x00, 0x00, 0x00}
	for _, s := range sections {
		out = append(out, s[0], byte(len(s)-1))
		out = append(out, s[1:]...)
	}
	return out
}

func name(s string) []byte { return append([]byte{byte(len(s))}, s...) }

// exports is an export section; every export has index 0.
func exports(es ...Export) []byte {
	b := []byte{7, byte(len(es))}
	for _, e := range es {
		b = append(b, name(e.Name)...)
		b = append(b, byte(e.Kind), 0)
	}
	return b
}

func custom(n, content string) []byte {
	return append(append([]byte{0}, name(n)...), content...)
}

func TestClassify(t *testing.T) {
	mem := Export{"memory", KindMemory}
	fn := func(n string) Export { return Export{n, KindFunc} }
	tests := []struct {
		name    string
		module  []byte
		want    apiv1.Tier
		wantErr []string // in the error's message
	}{
		{"sandboxed", module(exports(fn("_initialize"), fn("ksp_alloc"), fn("ksp_call"), mem, fn("ksp_background"))), apiv1.TierSandboxed, nil},
		{"http-wasm", module(custom("name", "x"), exports(fn("handle_request"), fn("handle_response"), mem)), apiv1.TierHTTPWasm, nil},
		{"http-wasm without handle_response", module(exports(fn("handle_request"), mem)), "",
			[]string{"exports handle_request (func), memory (memory)", "http-wasm: handle_request (func), handle_response (func), memory (memory)",
				"sandboxed: _initialize (func), ksp_alloc (func)"}},
		{"memory exported as a function", module(exports(fn("handle_request"), fn("handle_response"), fn("memory"))), "",
			[]string{"memory (func)"}},
		{"nothing exported", module(), "", []string{"exports nothing"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Read(tt.module)
			if err != nil {
				t.Fatal(err)
			}
			got, err := m.Classify()
			if tt.wantErr == nil {
				if err != nil || got != tt.want {
					t.Fatalf("Classify = %q, %v; want %q", got, err, tt.want)
				}
				return
			}
			var abi *ABIError
			if !errors.As(err, &abi) {
				t.Fatalf("Classify = %q, %v; want an *ABIError", got, err)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if len(abi.Expected) != 2 {
				t.Errorf("expected %d interfaces, want 2", len(abi.Expected))
			}
		})
	}
}

func TestReadCustom(t *testing.T) {
	m, err := Read(module(custom("ksplugins.manifest", "id: a"), custom("ksplugins.manifest", "id: b")))
	if err != nil {
		t.Fatal(err)
	}
	if got := string(m.Custom["ksplugins.manifest"]); got != "id: a" {
		t.Errorf("custom section %q, want the first", got)
	}
}

func TestReadRefuses(t *testing.T) {
	for name, b := range map[string][]byte{
		"empty":             nil,
		"not wasm":          []byte("\x7fELF\x02\x01\x01\x00"),
		"version 2":         {0x00, 'a', 's', 'm', 0x02, 0x00, 0x00, 0x00},
		"section past end":  append(module(), 7, 20, 1),
		"export count lies": module([]byte{7, 1, 5}),
		"long integer":      append(module(), 7, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01),
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := Read(b); !errors.Is(err, ErrFormat) {
				t.Errorf("Read = %v, want ErrFormat", err)
			}
		})
	}
}
