package install

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	apiv1 "github.com/kubestellar/ksplugins/api/v1"

	"github.com/kubestellar/ksplugins/internal/runtime/wasmmodule"
)

// exporting is a module that exports the named functions and "memory"
// (every export has index 0: nothing here compiles it).
func exporting(funcs ...string) []byte {
	exports := []byte{byte(len(funcs) + 1)}
	for _, f := range append(funcs, "memory") {
		kind := byte(0)
		if f == "memory" {
			kind = 2
		}
		exports = append(exports, byte(len(f)))
		exports = append(exports, f...)
		exports = append(exports, kind, 0)
	}
	out := []byte{0x00, 'a', 's', 'm', 0x01, 0x00, 0x00, 0x00, 7, byte(len(exports))}
	return append(out, exports...)
}

const minimalManifest = "id: m\nname: M\nversion: 1.0.0\ndescription: d\nauthor: a\nendpoints:\n  - {path: /x, method: GET, handler: h}\n"

func TestFileTier(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name string
		path string
		want apiv1.Tier
		abi  bool // a *wasmmodule.ABIError
	}{
		{"native", write("p.so", []byte("ELF")), apiv1.TierNative, false},
		{"sandboxed", write("s.wasm", exporting("_initialize", "ksp_alloc", "ksp_call")), apiv1.TierSandboxed, false},
		{"http-wasm", write("h.wasm", exporting("handle_request", "handle_response")), apiv1.TierHTTPWasm, false},
		{"neither", write("n.wasm", exporting("_start")), "", true},
	}
	for _, tt := range tests {
		got, err := fileTier(tt.path)
		var abi *wasmmodule.ABIError
		if got != tt.want || errors.As(err, &abi) != tt.abi {
			t.Errorf("%s: fileTier = %q, %v; want %q (ABIError %v)", tt.name, got, err, tt.want, tt.abi)
		}
	}
}

func TestPrebuiltFolder(t *testing.T) {
	httpWasm := exporting("handle_request", "handle_response")
	tests := []struct {
		name     string
		files    map[string]string
		prebuilt bool
		wantErr  error
		tier     apiv1.Tier
	}{
		{"module and manifest", map[string]string{"plugin.yaml": minimalManifest, "guest.wasm": string(httpWasm), "README.md": "x"}, true, nil, apiv1.TierHTTPWasm},
		{"Go source beside a stray build", map[string]string{"plugin.yaml": minimalManifest, "main.go": "package main", "p.wasm": string(httpWasm)}, false, nil, ""},
		{"go.mod", map[string]string{"plugin.yaml": minimalManifest, "go.mod": "module x", "p.wasm": string(httpWasm)}, false, nil, ""},
		{"two modules", map[string]string{"plugin.yaml": minimalManifest, "a.wasm": string(httpWasm), "b.wasm": string(httpWasm)}, false, ErrBadSource, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, content := range tt.files {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			_, ok, err := prebuiltModule(dir)
			if ok != tt.prebuilt || !errors.Is(err, tt.wantErr) {
				t.Fatalf("prebuiltModule = %v, %v; want %v, %v", ok, err, tt.prebuilt, tt.wantErr)
			}
			if tier, ok := prebuiltTier(dir); tier != tt.tier || ok != tt.prebuilt {
				t.Errorf("prebuiltTier = %q, %v; want %q, %v", tier, ok, tt.tier, tt.prebuilt)
			}
			if !ok {
				return
			}
			a, err := (&Installer{}).build(context.Background(), dir, apiv1.TierNative, 0)
			if err != nil {
				t.Fatal(err)
			}
			if a.Tier != tt.tier || a.Manifest == nil || a.Manifest.ID != "m" || a.Digest == "" {
				t.Errorf("artifact %+v", a)
			}
		})
	}
}
