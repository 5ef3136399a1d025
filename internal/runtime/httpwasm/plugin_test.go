package httpwasm

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	apiv1 "github.com/kubestellar/ksplugins/api/v1"

	"github.com/kubestellar/ksplugins/internal/config"
	"github.com/kubestellar/ksplugins/internal/httpwasmtest"
	"github.com/kubestellar/ksplugins/internal/manifest"
	"github.com/kubestellar/ksplugins/internal/runtime"
	"github.com/kubestellar/ksplugins/internal/runtime/wasm"
	"github.com/kubestellar/ksplugins/internal/runtime/wasmmodule"
	"github.com/kubestellar/ksplugins/sdk"
)

func init() { gin.SetMode(gin.ReleaseMode) }

// open opens the module at path with the plugin.yaml of the example
// folder dir, under the default sandbox policy.
func open(t testing.TB, path, dir string) *Plugin {
	t.Helper()
	md, _, err := manifest.ParseFile(filepath.Join(httpwasmtest.Root(t), "plugins", "examples", dir, "plugin.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return openWith(t, path, md)
}

// openWith opens the module at path with the manifest md, under the
// default sandbox policy.
func openWith(t testing.TB, path string, md *sdk.PluginMetadata) *Plugin {
	t.Helper()
	ctx := context.Background()
	sandbox, err := wasm.NewRuntime(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sandbox.Close(ctx) })
	inst, err := NewRuntime(sandbox, "").Open(ctx, apiv1.Artifact{Tier: apiv1.TierHTTPWasm, Path: path},
		runtime.Spec{ID: md.ID, Declared: md, Sandbox: config.DefaultSystem().Sandbox, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	p := inst.(*Plugin)
	t.Cleanup(func() { _ = p.Close(ctx) })
	return p
}

// router routes every endpoint of p's manifest, as the host does.
func router(p *Plugin) *gin.Engine {
	e := gin.New()
	h := p.GetHandlers()
	for _, ep := range p.GetMetadata().Endpoints {
		e.Handle(ep.Method, ep.Path, h[ep.Handler])
	}
	return e
}

func serve(e *gin.Engine, method, target, body string, header http.Header) *httptest.ResponseRecorder {
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, target, r)
	for k, v := range header {
		req.Header[k] = v
	}
	w := httptest.NewRecorder()
	e.ServeHTTP(w, req)
	return w
}

func TestGuests(t *testing.T) {
	as := open(t, httpwasmtest.HelloAS(t), "http-wasm-hello-as")
	if err := as.Initialize(map[string]any{"greeting": "hi"}); err != nil {
		t.Fatal(err)
	}
	wat := open(t, httpwasmtest.EchoWAT(t), "http-wasm-wat")
	tests := []struct {
		name             string
		p                *Plugin
		method, target   string
		body             string
		header           http.Header
		status           int
		wantBody         string
		wantHeader       http.Header
		wantBodyContains string
	}{
		{name: "as hello", p: as, method: "GET", target: "/hello?name=ada", status: 200, wantBody: "hello, ada",
			wantHeader: http.Header{"X-Guest": {"assemblyscript"}, "Content-Type": {"text/plain"}}},
		{name: "as hello default", p: as, method: "GET", target: "/hello", status: 200, wantBody: "hello, world"},
		{name: "as header names", p: as, method: "GET", target: "/headers", header: http.Header{"X-One": {"1"}, "Accept": {"*/*"}},
			status: 200, wantBody: "accept\nx-one\n"},
		{name: "as reverse", p: as, method: "POST", target: "/reverse", body: "stressed", status: 201, wantBody: "desserts"},
		{name: "as config", p: as, method: "GET", target: "/config", status: 200, wantBody: `{"greeting":"hi"}`},
		{name: "as next calls handle_response", p: as, method: "GET", target: "/next", status: 202, wantBody: "after next, ctx 7",
			wantHeader: http.Header{"X-Guest": {"assemblyscript"}}},
		{name: "wat get", p: wat, method: "GET", target: "/echo?x=1", header: http.Header{"X-Echo": {"ping"}}, status: 200,
			wantBody: "wat GET /echo?x=1\n", wantHeader: http.Header{"X-Echo": {"ping"}}},
		{name: "wat post", p: wat, method: "POST", target: "/echo", body: strings.Repeat("b", 10000), status: 201,
			wantBody: "wat POST /echo\n" + strings.Repeat("b", 10000)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := serve(router(tt.p), tt.method, tt.target, tt.body, tt.header)
			if w.Code != tt.status || w.Body.String() != tt.wantBody {
				t.Fatalf("%s %s: %d %q, want %d %q", tt.method, tt.target, w.Code, clip(w.Body.String()), tt.status, clip(tt.wantBody))
			}
			for k, v := range tt.wantHeader {
				if got := w.Header().Values(k); strings.Join(got, ",") != strings.Join(v, ",") {
					t.Errorf("header %s = %q, want %q", k, got, v)
				}
			}
		})
	}
	if got := as.GetMetrics()["requests"]; got != int64(6) {
		t.Errorf("requests counted %v, want 6", got)
	}
}

// TestGoGuest: a guest in standard Go (//go:wasmexport), which imports
// WASI's sched_yield itself, answers and is stopped when it spins.
func TestGoGuest(t *testing.T) {
	p := openWith(t, httpwasmtest.Go(t, "internal/runtime/httpwasm/testdata/goguest"), &sdk.PluginMetadata{
		ID: "goguest", Sandbox: &sdk.SandboxConfig{TimeoutMs: 1000},
		Endpoints: []sdk.EndpointConfig{{Path: "/*any", Method: "GET", Handler: "g"}, {Path: "/*any", Method: "POST", Handler: "g"}},
	})
	e := router(p)
	if w := serve(e, "POST", "/a?b=c", "", nil); w.Code != 201 || w.Body.String() != "go POST /a?b=c" || w.Header().Get("X-Guest") != "go" {
		t.Fatalf("POST: %d %q %v", w.Code, w.Body.String(), w.Header())
	}
	start := time.Now()
	if w := serve(e, "GET", "/spin", "", nil); w.Code != http.StatusGatewayTimeout {
		t.Fatalf("spin: %d %s", w.Code, w.Body.String())
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("spin answered after %s; the timeout is 1s", took)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		w := serve(e, "GET", "/x", "", nil)
		if w.Code == 200 && w.Body.String() == "go GET /x" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the spin: %d %q", w.Code, w.Body.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestConfiguration: the guest reads the manifest's configuration until
// the host gives it one, then the latest the host gave.
func TestConfiguration(t *testing.T) {
	p := open(t, httpwasmtest.HelloAS(t), "http-wasm-hello-as")
	e := router(p)
	if w := serve(e, "GET", "/config", "", nil); w.Body.String() != `{"greeting":"hi"}` {
		t.Errorf("before Initialize: %q", w.Body.String())
	}
	if err := p.OnConfigChange(map[string]any{"greeting": "ho", "n": 2}); err != nil {
		t.Fatal(err)
	}
	if w := serve(e, "GET", "/config", "", nil); w.Body.String() != `{"greeting":"ho","n":2}` {
		t.Errorf("after OnConfigChange: %q", w.Body.String())
	}
}

// TestSpinningGuest: a guest in an endless loop, which does not import
// sched_yield (the rewrite adds it), is stopped at its timeout with a 504, its instance is
// replaced, and the next request is served.
func TestSpinningGuest(t *testing.T) {
	p := open(t, httpwasmtest.EchoWAT(t), "http-wasm-wat")
	e := router(p)
	start := time.Now()
	w := serve(e, "GET", "/spin", "", nil)
	took := time.Since(start)
	if w.Code != http.StatusGatewayTimeout || !strings.Contains(w.Body.String(), "plugin_timeout") {
		t.Fatalf("spin: %d %s", w.Code, w.Body.String())
	}
	if timeout := p.limits.Timeout; took < timeout || took > timeout+2*time.Second {
		t.Errorf("spin answered after %s; the timeout is %s", took, timeout)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		w = serve(e, "GET", "/echo", "", nil)
		if w.Code == http.StatusOK || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if w.Code != http.StatusOK {
		t.Fatalf("after the spin: %d %s", w.Code, w.Body.String())
	}
	if got := p.GetMetrics()["timeouts"]; got != int64(1) {
		t.Errorf("timeouts counted %v, want 1", got)
	}
}

// TestCloseDuringACall: Close interrupts a spinning call and waits for it
// to end before it frees the instances; the request fails as unavailable.
func TestCloseDuringACall(t *testing.T) {
	p := open(t, httpwasmtest.EchoWAT(t), "http-wasm-wat")
	e := router(p)
	done := make(chan *httptest.ResponseRecorder)
	go func() { done <- serve(e, "GET", "/spin", "", nil) }()
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > p.limits.Timeout/2 {
		t.Errorf("Close took %s", took)
	}
	if w := <-done; w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), "plugin_unavailable") {
		t.Errorf("the interrupted request: %d %s", w.Code, w.Body.String())
	}
	if w := serve(e, "GET", "/echo", "", nil); w.Code != http.StatusServiceUnavailable {
		t.Errorf("after Close: %d %s", w.Code, w.Body.String())
	}
}

// TestSpinDoesNotHoldUpTheCollector: a collection that must stop the
// world while a guest spins finishes long before the guest's timeout.
func TestSpinDoesNotHoldUpTheCollector(t *testing.T) {
	p := open(t, httpwasmtest.EchoWAT(t), "http-wasm-wat")
	e := router(p)
	done := make(chan int)
	go func() { done <- serve(e, "GET", "/spin", "", nil).Code }()
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	gcDone := make(chan struct{})
	go func() { goruntime.GC(); close(gcDone) }()
	select {
	case <-gcDone:
		if took := time.Since(start); took > p.limits.Timeout/2 {
			t.Errorf("a collection took %s while the guest spun", took)
		}
	case code := <-done:
		t.Fatalf("the spin ended (%d) before the collection did", code)
	}
	if code := <-done; code != http.StatusGatewayTimeout {
		t.Errorf("spin: %d", code)
	}
}

// TestGuestMemoryLimit: a guest that grows its memory is refused at the
// manifest's limit and traps; the request fails with a 500 and the host
// is untouched.
func TestGuestMemoryLimit(t *testing.T) {
	p := open(t, httpwasmtest.EchoWAT(t), "http-wasm-wat")
	if p.limits.Memory != 4<<20 {
		t.Fatalf("memory limit %d, want the manifest's 4 MiB", p.limits.Memory)
	}
	w := serve(router(p), "GET", "/grow", "", nil)
	if w.Code != http.StatusInternalServerError || !strings.Contains(w.Body.String(), "plugin_crashed") {
		t.Fatalf("grow: %d %s", w.Code, w.Body.String())
	}
}

func TestResponseTooLarge(t *testing.T) {
	p := open(t, httpwasmtest.EchoWAT(t), "http-wasm-wat")
	p.limits.MaxResponseBytes = 64
	w := serve(router(p), "POST", "/echo", strings.Repeat("x", 100), nil)
	if w.Code != http.StatusBadGateway {
		t.Fatalf("%d %s", w.Code, w.Body.String())
	}
	p.limits.MaxRequestBytes = 10
	if w := serve(router(p), "POST", "/echo", strings.Repeat("x", 11), nil); w.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("%d %s", w.Code, w.Body.String())
	}
}

// newTier is a tier with a directory of its own for pinned modules, over a
// sandboxed runtime closed when the test ends, and a spec to open with.
func newTier(t *testing.T) (*Runtime, runtime.Spec) {
	t.Helper()
	ctx := context.Background()
	sandbox, err := wasm.NewRuntime(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sandbox.Close(ctx) })
	return NewRuntime(sandbox, t.TempDir()), runtime.Spec{Sandbox: config.DefaultSystem().Sandbox, Logger: slog.New(slog.DiscardHandler)}
}

// TestOpen covers how Open finds a manifest and refuses what is not an
// http-wasm module.
func TestOpen(t *testing.T) {
	ctx := context.Background()
	wat, err := os.ReadFile(httpwasmtest.EchoWAT(t))
	if err != nil {
		t.Fatal(err)
	}
	rt, spec := newTier(t)

	embedded := customSection(wat, ManifestSection, "id: embedded\nname: Embedded\nversion: 1.0.0\ndescription: d\nauthor: a\nendpoints:\n  - {path: /echo, method: GET, handler: guest}\n")
	tests := []struct {
		name   string
		module []byte
		yaml   string // a plugin.yaml beside the module
		wantID string
		// wantErr: the error is a *runtime.OpenError whose message has it.
		wantErr string
		abi     bool // the error is a *wasmmodule.ABIError
	}{
		{name: "manifest beside", module: wat, yaml: "id: beside\nname: B\nversion: 1.0.0\ndescription: d\nauthor: a\nendpoints:\n  - {path: /echo, method: GET, handler: guest}\n", wantID: "beside"},
		{name: "manifest embedded", module: embedded, wantID: "embedded"},
		{name: "no manifest", module: wat, wantErr: "needs its manifest"},
		{name: "not wasm", module: []byte("\x7fELF"), wantErr: "not a WebAssembly module"},
		{name: "other exports", module: memoryModule, wantErr: "the module exports memory (memory); a plugin module must export one of", abi: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "guest.wasm")
			if err := os.WriteFile(path, tt.module, 0o600); err != nil {
				t.Fatal(err)
			}
			if tt.yaml != "" {
				if err := os.WriteFile(filepath.Join(dir, "plugin.yaml"), []byte(tt.yaml), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			s := spec
			s.ID = "guest.wasm"
			inst, err := rt.Open(ctx, apiv1.Artifact{Tier: apiv1.TierHTTPWasm, Path: path}, s)
			if tt.wantErr != "" {
				var oerr *runtime.OpenError
				if !errors.As(err, &oerr) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want an OpenError with %q", err, tt.wantErr)
				}
				var aerr *wasmmodule.ABIError
				if errors.As(err, &aerr) != tt.abi {
					t.Errorf("ABIError: %v, want %v", errors.As(err, &aerr), tt.abi)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer inst.Close(ctx)
			if got := inst.Plugin().GetMetadata().ID; got != tt.wantID {
				t.Errorf("id %q, want %q", got, tt.wantID)
			}
			if w := serve(router(inst.(*Plugin)), "GET", "/echo", "", nil); w.Code != http.StatusOK {
				t.Errorf("GET /echo: %d %s", w.Code, w.Body.String())
			}
		})
	}
}

// TestPinned: a module that carries its manifest is kept by digest, and
// the copy opens after the file is gone; one whose manifest is a
// plugin.yaml beside it is not kept, since its digest does not say which
// manifest.
func TestPinned(t *testing.T) {
	ctx := context.Background()
	rt, spec := newTier(t)
	code, err := os.ReadFile(httpwasmtest.EchoWAT(t))
	if err != nil {
		t.Fatal(err)
	}
	yaml, err := os.ReadFile(filepath.Join(httpwasmtest.Root(t), "plugins", "examples", "http-wasm-wat", "plugin.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	embedded := customSection(code, ManifestSection, string(yaml))
	tests := []struct {
		name   string
		files  map[string][]byte
		pinned bool
	}{
		{"manifest in the module", map[string][]byte{"guest.wasm": embedded}, true},
		{"manifest beside", map[string][]byte{"guest.wasm": code, "plugin.yaml": yaml}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, b := range tt.files {
				if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			inst, err := rt.Open(ctx, apiv1.Artifact{Path: filepath.Join(dir, "guest.wasm")}, spec)
			if err != nil {
				t.Fatal(err)
			}
			_ = inst.Close(ctx)
			pinned, ok := rt.Pinned(fmt.Sprintf("sha256:%x", sha256.Sum256(tt.files["guest.wasm"])))
			if ok != tt.pinned {
				t.Fatalf("pinned %v, want %v", ok, tt.pinned)
			}
			if !ok {
				return
			}
			if err := os.RemoveAll(dir); err != nil {
				t.Fatal(err)
			}
			inst, err = rt.Open(ctx, apiv1.Artifact{Path: pinned}, spec)
			if err != nil {
				t.Fatalf("opening the pinned copy: %v", err)
			}
			defer inst.Close(ctx)
			if id := inst.Plugin().GetMetadata().ID; id != "http-wasm-wat" {
				t.Errorf("the pinned copy is plugin %q", id)
			}
		})
	}
}

// clip shortens a body for a failure message.
func clip(s string) string {
	if len(s) > 80 {
		return fmt.Sprintf("%s... (%d bytes)", s[:80], len(s))
	}
	return s
}

// customSection appends a custom section to a module.
func customSection(module []byte, name, content string) []byte {
	body := append(leb(uint32(len(name))), name...)
	body = append(body, content...)
	out := append([]byte(nil), module...)
	out = append(out, 0)
	out = append(out, leb(uint32(len(body)))...)
	return append(out, body...)
}

func leb(v uint32) []byte {
	var b []byte
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v == 0 {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}
