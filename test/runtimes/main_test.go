package runtimes

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// fixtures are the guest modules, built once per test binary as the tests
// of internal/runtime/wasm build theirs, and the runtimes compiled from
// hello, shared by every benchmark that needs one.
var fixtures struct {
	hello, hostile []byte

	mu       sync.Mutex
	wazero   map[Options]*Wazero
	wasmtime map[Options]*Wasmtime
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "runtimes-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := 1
	if err := buildFixtures(dir); err != nil {
		fmt.Fprintln(os.Stderr, "building the fixtures:", err)
	} else {
		code = m.Run()
	}
	for _, w := range fixtures.wazero {
		_ = w.Close(context.Background())
	}
	for _, w := range fixtures.wasmtime {
		w.Close()
	}
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// buildFixtures builds the example plugin hello (its main.go laid over
// internal/runtime/wasm/testdata/hello, which holds the generated
// wasm_main.go) and internal/runtime/wasm/testdata/hostile for wasip1, as a
// sandboxed plugin is built.
func buildFixtures(dir string) error {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		return err
	}
	overlay := filepath.Join(dir, "overlay.json")
	spec, err := json.Marshal(map[string]map[string]string{"Replace": {
		filepath.Join(root, "internal/runtime/wasm/testdata/hello/main.go"): filepath.Join(root, "plugins/examples/hello/main.go"),
	}})
	if err != nil {
		return err
	}
	if err := os.WriteFile(overlay, spec, 0o644); err != nil {
		return err
	}
	names := []string{"hello", "hostile"}
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Go(func() {
			args := []string{"build", "-buildmode=c-shared", "-o", filepath.Join(dir, name+".wasm")}
			if name == "hello" {
				args = append(args, "-overlay", overlay)
			}
			cmd := exec.Command("go", append(args, "./internal/runtime/wasm/testdata/"+name)...)
			cmd.Dir = root
			cmd.Env = append(goEnv(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
			if out, err := cmd.CombinedOutput(); err != nil {
				errs[i] = fmt.Errorf("%s: %w\n%s", name, err, out)
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	if fixtures.hello, err = os.ReadFile(filepath.Join(dir, "hello.wasm")); err != nil {
		return err
	}
	fixtures.hostile, err = os.ReadFile(filepath.Join(dir, "hostile.wasm"))
	return err
}

// goEnv is the test's environment without what would not make sense for a
// wasm build: -race, and the host's GOOS and GOARCH.
func goEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if v, ok := strings.CutPrefix(kv, "GOFLAGS="); ok {
			kv = "GOFLAGS=" + strings.Join(slices.DeleteFunc(strings.Fields(v), func(f string) bool { return f == "-race" }), " ")
		}
		if strings.HasPrefix(kv, "GOOS=") || strings.HasPrefix(kv, "GOARCH=") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// Interruption settings: the host's (a deadline on every call), the
// runtime's checks compiled in but no deadline armed, and none.
var (
	interrupted = DefaultOptions()
	checksOnly  = Options{Interrupt: true, Memory: interrupted.Memory, MaxResponseBytes: interrupted.MaxResponseBytes}
	unchecked   = Options{Memory: interrupted.Memory, MaxResponseBytes: interrupted.MaxResponseBytes}
	// instrumented and instrumentedOnly are interrupted and checksOnly
	// as the host interrupts wazero (Options.Instrument).
	instrumented     = Options{Interrupt: true, Instrument: true, Timeout: interrupted.Timeout, Memory: interrupted.Memory, MaxResponseBytes: interrupted.MaxResponseBytes}
	instrumentedOnly = Options{Interrupt: true, Instrument: true, Memory: interrupted.Memory, MaxResponseBytes: interrupted.MaxResponseBytes}
)

// helloWazero is hello compiled by wazero, once per test binary for each
// Options.
func helloWazero(t testing.TB, opts Options) *Wazero {
	return once(t, &fixtures.wazero, opts, func() (*Wazero, error) {
		return NewWazero(context.Background(), fixtures.hello, opts)
	})
}

// helloWasmtime is hello compiled by wasmtime, once per test binary for
// each Options.
func helloWasmtime(t testing.TB, opts Options) *Wasmtime {
	return once(t, &fixtures.wasmtime, opts, func() (*Wasmtime, error) {
		return NewWasmtime(fixtures.hello, opts)
	})
}

// once returns what compile made for opts, calling it the first time.
func once[V any](t testing.TB, made *map[Options]V, opts Options, compile func() (V, error)) V {
	t.Helper()
	fixtures.mu.Lock()
	defer fixtures.mu.Unlock()
	if v, ok := (*made)[opts]; ok {
		return v
	}
	v, err := compile()
	if err != nil {
		t.Fatal(err)
	}
	if *made == nil {
		*made = map[Options]V{}
	}
	(*made)[opts] = v
	return v
}
