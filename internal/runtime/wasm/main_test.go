package wasm

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/kubestellar/ksplugins/internal/build"
	"github.com/kubestellar/ksplugins/sdk/wasmguest/abi"
)

// fixtures are the guest modules, built once per test binary, and the
// compilation cache they were compiled into.
var fixtures struct {
	dir, cache     string
	hello, hostile []byte
	// older is hostile without ksp_background, as an SDK from before
	// background turns built it.
	older []byte
}

func TestMain(m *testing.M) {
	gin.SetMode(gin.TestMode)
	dir, err := os.MkdirTemp("", "wasm-test-")
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
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// buildFixtures builds the example plugin and testdata/hostile exactly as the
// builder builds a sandboxed plugin (each folder carries the generated
// wasm_main.go), then fills the compilation cache without -race.
func buildFixtures(dir string) error {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return fmt.Errorf("go env GOMOD: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(out)))
	fixtures.dir = dir
	fixtures.cache = filepath.Join(dir, "cache")
	env := goEnv()

	// testdata/hello holds only the generated wasm_main.go; its main.go is
	// the example plugin's own, laid over the folder, so the sandbox is
	// tested on the very code the README shows.
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
		wg.Add(1)
		go func() {
			defer wg.Done()
			// The tags are the builder's for the sandboxed tier (package
			// build), which decide the module's size and so its load time.
			args := []string{"build", "-buildmode=c-shared", "-tags=" + build.SandboxedTags, "-o", filepath.Join(dir, name+".wasm")}
			if name == "hello" {
				args = append(args, "-overlay", overlay)
			}
			cmd := exec.Command("go", append(args, "./internal/runtime/wasm/testdata/"+name)...)
			cmd.Dir = root
			cmd.Env = append(slices.Clone(env), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
			if out, err := cmd.CombinedOutput(); err != nil {
				errs[i] = fmt.Errorf("%s: %w\n%s", name, err, out)
			}
		}()
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
	if fixtures.hostile, err = os.ReadFile(filepath.Join(dir, "hostile.wasm")); err != nil {
		return err
	}
	if fixtures.older, err = withoutBackground(fixtures.hostile); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "older.wasm"), fixtures.older, 0o644); err != nil {
		return err
	}
	cmd := exec.Command("go", "run", "-ldflags=-X=github.com/tetratelabs/wazero/internal/version.version=dev",
		"./internal/runtime/wasm/testdata/precompile", fixtures.cache,
		filepath.Join(dir, "hello.wasm"), filepath.Join(dir, "hostile.wasm"), filepath.Join(dir, "older.wasm"))
	cmd.Dir = root
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("precompile: %w\n%s", err, out)
	}
	return nil
}

// withoutBackground renames a module's ksp_background export to a name of
// the same length, which leaves a valid module that no host calls. Only
// the export section's entry is changed: the name occurs elsewhere too.
func withoutBackground(module []byte) ([]byte, error) {
	const exportSection = 7
	m := bytes.Clone(module)
	uleb := func(off int) (uint64, int, error) {
		v, n := binary.Uvarint(m[off:])
		if n <= 0 {
			return 0, 0, fmt.Errorf("bad LEB128 at %d", off)
		}
		return v, off + n, nil
	}
	for off := 8; off < len(m); {
		id := m[off]
		size, body, err := uleb(off + 1)
		if err != nil {
			return nil, err
		}
		if id == exportSection {
			count, at, err := uleb(body)
			if err != nil {
				return nil, err
			}
			for range count {
				n, name, err := uleb(at)
				if err != nil {
					return nil, err
				}
				if string(m[name:name+int(n)]) == abi.ExportBackground {
					copy(m[name:], "ksp_xackground")
					return m, nil
				}
				if _, at, err = uleb(name + int(n) + 1); err != nil { // kind, then index
					return nil, err
				}
			}
		}
		off = body + int(size)
	}
	return nil, fmt.Errorf("the module does not export %s", abi.ExportBackground)
}

// goEnv is the environment for the go commands: the test's, without a
// -race that would make no sense for wasm or for the precompiler.
func goEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if v, ok := strings.CutPrefix(kv, "GOFLAGS="); ok {
			var keep []string
			for _, f := range strings.Fields(v) {
				if f != "-race" {
					keep = append(keep, f)
				}
			}
			kv = "GOFLAGS=" + strings.Join(keep, " ")
		}
		if strings.HasPrefix(kv, "GOOS=") || strings.HasPrefix(kv, "GOARCH=") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

func newRuntime(t testing.TB) *Runtime {
	t.Helper()
	r, err := NewRuntime(context.Background(), fixtures.cache)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close(context.Background()) })
	return r
}

// load loads a module, closed when the test ends.
func load(t testing.TB, r *Runtime, wasm []byte, opts Options) *Plugin {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	p, err := r.Load(context.Background(), wasm, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close(context.Background()) })
	return p
}

// start drives a plugin through Validate, Initialize and OnLoad.
func start(t testing.TB, p *Plugin, config map[string]interface{}) {
	t.Helper()
	if err := p.Validate(); err != nil {
		t.Fatal("Validate:", err)
	}
	if err := p.Initialize(config); err != nil {
		t.Fatal("Initialize:", err)
	}
	if err := p.OnLoad(); err != nil {
		t.Fatal("OnLoad:", err)
	}
}

// router routes a plugin's endpoints as the host's dispatcher does: the
// request's path is the plugin-relative path.
func router(t testing.TB, p *Plugin) *gin.Engine {
	t.Helper()
	e := gin.New()
	hs := p.GetHandlers()
	for _, ep := range p.GetMetadata().Endpoints {
		h := hs[ep.Handler]
		if h == nil {
			t.Fatalf("no handler for %s", ep.Handler)
		}
		e.Handle(ep.Method, ep.Path, h)
	}
	return e
}

func do(e http.Handler, method, target string, body []byte) *httptest.ResponseRecorder {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req := httptest.NewRequest(method, target, r)
	w := httptest.NewRecorder()
	e.ServeHTTP(w, req)
	return w
}

// errorCode checks that w holds exactly {"error":{"code","message"}} and
// returns the code.
func errorCode(t testing.TB, w *httptest.ResponseRecorder) string {
	t.Helper()
	var body map[string]map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || len(body) != 1 {
		t.Fatalf("not an error document: %q", w.Body.String())
	}
	e := body["error"]
	code, _ := e["code"].(string)
	msg, _ := e["message"].(string)
	if len(e) != 2 || code == "" || msg == "" {
		t.Fatalf("error document has the wrong shape: %q", w.Body.String())
	}
	return code
}

// logRecorder is an slog handler that keeps every record, with the
// attributes it inherited.
type logRecorder struct {
	mu    *sync.Mutex
	lines *[]logLine
	attrs []slog.Attr
}

type logLine struct {
	msg   string
	attrs map[string]string
}

func newLogRecorder() *logRecorder {
	return &logRecorder{mu: &sync.Mutex{}, lines: &[]logLine{}}
}

func (h *logRecorder) Enabled(context.Context, slog.Level) bool { return true }

func (h *logRecorder) Handle(_ context.Context, r slog.Record) error {
	l := logLine{msg: r.Message, attrs: map[string]string{}}
	for _, a := range h.attrs {
		l.attrs[a.Key] = a.Value.String()
	}
	r.Attrs(func(a slog.Attr) bool {
		l.attrs[a.Key] = a.Value.String()
		return true
	})
	h.mu.Lock()
	*h.lines = append(*h.lines, l)
	h.mu.Unlock()
	return nil
}

func (h *logRecorder) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append(slices.Clip(h.attrs), as...)
	return &c
}

func (h *logRecorder) WithGroup(string) slog.Handler { return h }

// stdout returns the lines the guest printed, as "instance: line".
func (h *logRecorder) stdout(prefix string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, l := range *h.lines {
		if l.attrs["stream"] == "stdout" && strings.HasPrefix(l.msg, prefix) {
			out = append(out, l.attrs["instance"]+": "+l.msg)
		}
	}
	return out
}

func (h *logRecorder) all() []logLine {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(*h.lines)
}

// waitFor polls cond for up to d.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
