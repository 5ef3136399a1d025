package sdktest_test

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/kubestellar/ksplugins/sdk"
	"github.com/kubestellar/ksplugins/sdk/sdktest"
)

// demo is a small plugin that records every lifecycle call it receives.
type demo struct {
	sdk.Base

	failAt string // lifecycle step that returns an error

	mu      sync.Mutex
	calls   []string
	handled int
}

func (p *demo) record(call string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = append(p.calls, call)
	if call == p.failAt {
		return errors.New(call + " failed on purpose")
	}
	return nil
}

func (p *demo) Calls() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.calls)
}

func (p *demo) GetMetadata() sdk.PluginMetadata {
	_ = p.record("GetMetadata")
	return sdk.PluginMetadata{
		ID:      "demo",
		Version: "1.0.0",
		Endpoints: []sdk.EndpointConfig{
			{Path: "/hello", Method: "GET", Handler: "Hello"},
			{Path: "/greet/:name", Method: "get", Handler: "Greet"},
			{Path: "/files/*path", Method: "GET", Handler: "Files"},
			{Path: "/echo", Method: "POST", Handler: "Echo"},
			{Path: "/panic", Method: "GET", Handler: "Panic"},
		},
		Configuration: map[string]any{"greeting": "Hello", "punctuation": "!"},
	}
}

func (p *demo) GetHandlers() map[string]gin.HandlerFunc {
	_ = p.record("GetHandlers")
	count := func(h gin.HandlerFunc) gin.HandlerFunc {
		return func(c *gin.Context) {
			p.mu.Lock()
			p.handled++
			p.mu.Unlock()
			h(c)
		}
	}
	return map[string]gin.HandlerFunc{
		"Hello": count(func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"message": "hello"}) }),
		"Greet": count(func(c *gin.Context) {
			cfg := p.Config()
			c.JSON(http.StatusOK, gin.H{"message": fmt.Sprintf("%v, %s%v", cfg["greeting"], c.Param("name"), cfg["punctuation"])})
		}),
		"Files": count(func(c *gin.Context) {
			c.JSON(http.StatusOK, gin.H{"path": c.Param("path"), "q": c.Query("q")})
		}),
		"Echo": count(func(c *gin.Context) {
			var in map[string]any
			if err := c.ShouldBindJSON(&in); err != nil {
				c.JSON(http.StatusUnprocessableEntity, gin.H{"error": err.Error()})
				return
			}
			c.JSON(http.StatusOK, gin.H{"got": in, "content_type": c.ContentType()})
		}),
		"Panic": count(func(c *gin.Context) { panic("boom") }),
		"Text":  count(func(c *gin.Context) { c.String(http.StatusOK, "not json") }),
	}
}

func (p *demo) Validate() error { return p.record("Validate") }

func (p *demo) Initialize(config map[string]any) error {
	if err := p.record("Initialize"); err != nil {
		return err
	}
	return p.Base.Initialize(config)
}

func (p *demo) OnLoad() error   { return p.record("OnLoad") }
func (p *demo) OnUnload() error { return p.record("OnUnload") }
func (p *demo) Cleanup() error  { return p.record("Cleanup") }

func (p *demo) ValidateRequest(c *gin.Context) error {
	if reason := c.GetHeader("X-Reject"); reason != "" {
		return errors.New("refused: " + reason)
	}
	return nil
}

func TestRoutes(t *testing.T) {
	h := sdktest.New(t, &demo{})
	tests := []struct {
		name, method, path, body string
		wantCode                 int
		want                     map[string]any
	}{
		{"plain", "GET", "/hello", "", 200, map[string]any{"message": "hello"}},
		{"relative path", "GET", "hello", "", 200, map[string]any{"message": "hello"}},
		{"param, lower-case method in metadata", "GET", "/greet/ada", "", 200, map[string]any{"message": "Hello, ada!"}},
		{"wildcard and query", "GET", "/files/a/b.txt?q=x", "", 200, map[string]any{"path": "/a/b.txt", "q": "x"}},
		{"json body", "POST", "/echo", `{"n":1}`, 200, map[string]any{"got": map[string]any{"n": 1.0}, "content_type": "application/json"}},
		{"unknown path", "GET", "/nope", "", 404, map[string]any{"error": map[string]any{
			"code": "endpoint_not_found", "message": "plugin demo has no endpoint /nope"}}},
		{"wrong method", "DELETE", "/hello", "", 405, map[string]any{"error": map[string]any{
			"code": "method_not_allowed", "message": "plugin demo does not accept DELETE on /hello"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body *strings.Reader
			if tt.body != "" {
				body = strings.NewReader(tt.body)
			}
			var code int
			var got map[string]any
			if body == nil {
				code, got = h.JSON(tt.method, tt.path, nil)
			} else {
				code, got = h.JSON(tt.method, tt.path, body)
			}
			if code != tt.wantCode || fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("%s %s = %d %v, want %d %v", tt.method, tt.path, code, got, tt.wantCode, tt.want)
			}
		})
	}
}

func TestDoHeadersAndRawBody(t *testing.T) {
	h := sdktest.New(t, &demo{})
	rec := h.Do("POST", "/echo", strings.NewReader(`{"a":"b"}`), "Content-Type", "application/json", "X-Trace", "1")
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"a":"b"`) {
		t.Fatalf("POST /echo = %d %s", rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q", ct)
	}
}

func TestConfigMerge(t *testing.T) {
	h := sdktest.New(t, &demo{},
		sdktest.WithConfig(map[string]any{"greeting": "Hi"}),
		sdktest.WithConfig(map[string]any{"extra": 2}))
	_, got := h.JSON("GET", "/greet/ada", nil)
	if got["message"] != "Hi, ada!" {
		t.Errorf("message = %v, want the override merged over the declared punctuation", got["message"])
	}
	cfg := h.Plugin().(*demo).Config()
	want := map[string]any{"greeting": "Hi", "punctuation": "!", "extra": 2}
	if fmt.Sprint(cfg) != fmt.Sprint(want) {
		t.Errorf("Initialize got %v, want %v", cfg, want)
	}
}

func TestValidateRequestRefuses(t *testing.T) {
	p := &demo{}
	h := sdktest.New(t, p)
	rec := h.Do("GET", "/hello", nil, "X-Reject", "no thanks")
	want := `{"error":{"code":"invalid_request","message":"refused: no thanks"}}`
	if rec.Code != 400 || rec.Body.String() != want {
		t.Errorf("refused request = %d %s, want 400 %s", rec.Code, rec.Body, want)
	}
	if p.handled != 0 {
		t.Errorf("the handler ran %d times after ValidateRequest refused", p.handled)
	}
}

func TestPanicIs500(t *testing.T) {
	h := sdktest.New(t, &demo{})
	code, got := h.JSON("GET", "/panic", nil)
	e, _ := got["error"].(map[string]any)
	if code != 500 || e["code"] != "plugin_panic" {
		t.Errorf("GET /panic = %d %v, want 500 plugin_panic", code, got)
	}
	// The harness keeps serving after a panic, like the host.
	if code, _ := h.JSON("GET", "/hello", nil); code != 200 {
		t.Errorf("GET /hello after a panic = %d", code)
	}
}

func TestLifecycleOrder(t *testing.T) {
	p := &demo{}
	t.Run("use", func(t *testing.T) {
		h := sdktest.New(t, p)
		if h.Plugin() != p {
			t.Fatal("Plugin() is not the instance given to New")
		}
		h.Do("GET", "/hello", nil)
		want := []string{"GetMetadata", "GetHandlers", "Validate", "Initialize", "OnLoad"}
		if got := p.Calls(); !slices.Equal(got, want) {
			t.Errorf("calls before the end of the test = %v, want %v", got, want)
		}
	})
	want := []string{"GetMetadata", "GetHandlers", "Validate", "Initialize", "OnLoad", "OnUnload", "Cleanup"}
	if got := p.Calls(); !slices.Equal(got, want) {
		t.Errorf("calls = %v, want %v", got, want)
	}
}

func TestFailedStart(t *testing.T) {
	for _, step := range []string{"Validate", "Initialize", "OnLoad"} {
		t.Run(step, func(t *testing.T) {
			p := &demo{failAt: step}
			ft := newFakeTB(t)
			if ft.run(func() { sdktest.New(ft, p) }) {
				t.Fatal("New returned for a plugin whose start fails")
			}
			if len(ft.fatals) != 1 || !strings.Contains(ft.fatals[0], step+" failed on purpose") {
				t.Errorf("fatal = %q", ft.fatals)
			}
			calls := p.Calls()
			if calls[len(calls)-1] != "Cleanup" || slices.Contains(calls, "OnUnload") {
				t.Errorf("calls = %v, want Cleanup last and no OnUnload", calls)
			}
		})
	}
}

func TestUnloadErrorsFailTheTest(t *testing.T) {
	p := &demo{failAt: "OnUnload"}
	ft := newFakeTB(t)
	if !ft.run(func() { sdktest.New(ft, p) }) {
		t.Fatalf("New failed: %v", ft.fatals)
	}
	ft.runCleanups()
	if len(ft.errs) != 1 || !strings.Contains(ft.errs[0], "OnUnload failed on purpose") {
		t.Errorf("errors = %q", ft.errs)
	}
	if calls := p.Calls(); calls[len(calls)-1] != "Cleanup" {
		t.Errorf("Cleanup must still run after OnUnload fails: %v", calls)
	}
}

func TestWithManifest(t *testing.T) {
	manifest := writeFile(t, "plugin.yaml", `
id: demo
version: 1.0.0
x-unknown: ignored
endpoints:
  - path: /hi
    method: get
    handler: Hello
  - path: /greet/:name
    method: GET
    handler: Greet
configuration:
  greeting: Howdy
`)
	h := sdktest.New(t, &demo{}, sdktest.WithManifest(manifest), sdktest.WithConfig(map[string]any{"punctuation": "?"}))
	if code, got := h.JSON("GET", "/hi", nil); code != 200 || got["message"] != "hello" {
		t.Errorf("GET /hi = %d %v", code, got)
	}
	if code, _ := h.JSON("GET", "/hello", nil); code != 404 {
		t.Errorf("GET /hello = %d, want 404: only the manifest's endpoints are routed", code)
	}
	// The manifest's configuration replaces the code's defaults.
	if _, got := h.JSON("GET", "/greet/ada", nil); got["message"] != "Howdy, ada?" {
		t.Errorf("message = %v", got["message"])
	}
}

func TestRefusedSetups(t *testing.T) {
	tests := []struct {
		name     string
		manifest string
		want     string
	}{
		{"id mismatch", "id: other\nversion: 1.0.0\n", "declares other 1.0.0 but GetMetadata returns demo 1.0.0"},
		{"version mismatch", "id: demo\nversion: 2.0.0\n", "declares demo 2.0.0 but GetMetadata returns demo 1.0.0"},
		{"unknown handler", "id: demo\nversion: 1.0.0\nendpoints:\n- {path: /x, method: GET, handler: Nope}\n",
			`endpoints[0].handler: plugin has no handler named "Nope" (it has: Echo, Files, Greet, Hello, Panic, Text)`},
		{"conflicting paths", "id: demo\nversion: 1.0.0\nendpoints:\n- {path: /x/:a, method: GET, handler: Hello}\n- {path: /x/:b, method: GET, handler: Hello}\n",
			"endpoints[1]: GET /x/:b"},
		{"bad yaml", "id: [\n", "plugin.yaml"},
		{"missing file", "", "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "plugin.yaml")
			if tt.manifest != "" {
				path = writeFile(t, "plugin.yaml", tt.manifest)
			}
			p := &demo{}
			ft := newFakeTB(t)
			if ft.run(func() { sdktest.New(ft, p, sdktest.WithManifest(path)) }) {
				t.Fatal("New accepted the setup")
			}
			if len(ft.fatals) != 1 || !strings.Contains(ft.fatals[0], tt.want) {
				t.Errorf("fatal = %q, want it to contain %q", ft.fatals, tt.want)
			}
			if slices.Contains(p.Calls(), "Initialize") {
				t.Errorf("the plugin was initialised: %v", p.Calls())
			}
		})
	}
}

func TestMisuseFailsTheTest(t *testing.T) {
	ft := newFakeTB(t)
	t.Cleanup(ft.runCleanups)
	manifest := writeFile(t, "plugin.yaml", "id: demo\nversion: 1.0.0\nendpoints:\n- {path: /text, method: GET, handler: Text}\n")
	var h *sdktest.Harness
	if !ft.run(func() { h = sdktest.New(ft, &demo{}, sdktest.WithManifest(manifest)) }) {
		t.Fatal(ft.fatals)
	}

	if !ft.run(func() { h.JSON("GET", "/not-routed", nil) }) {
		t.Errorf("JSON on a 404, whose body is JSON, failed: %v", ft.fatals)
	}

	ft.fatals = nil
	if ft.run(func() { h.JSON("GET", "/text", nil) }) ||
		len(ft.fatals) != 1 || !strings.Contains(ft.fatals[0], "not a JSON object") || !strings.Contains(ft.fatals[0], "not json") {
		t.Errorf("JSON on a text body: %v", ft.fatals)
	}

	ft.fatals = nil
	if ft.run(func() { h.Do("GET", "/text", nil, "X-Only-Key") }) || len(ft.fatals) != 1 {
		t.Errorf("odd header list accepted: %v", ft.fatals)
	}

	ft.fatals = nil
	if ft.run(func() { sdktest.New(ft, nil) }) || len(ft.fatals) != 1 {
		t.Errorf("nil plugin accepted: %v", ft.fatals)
	}
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// fakeTB stands in for a test whose failure is the expected outcome.
type fakeTB struct {
	testing.TB // the real test, for everything not overridden

	mu       sync.Mutex
	fatals   []string
	errs     []string
	cleanups []func()
}

func newFakeTB(t *testing.T) *fakeTB { return &fakeTB{TB: t} }

func (f *fakeTB) Helper() {}

func (f *fakeTB) Fatal(args ...any) { f.Fatalf("%s", fmt.Sprint(args...)) }

func (f *fakeTB) Fatalf(format string, args ...any) {
	f.mu.Lock()
	f.fatals = append(f.fatals, fmt.Sprintf(format, args...))
	f.mu.Unlock()
	runtime.Goexit()
}

func (f *fakeTB) Errorf(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errs = append(f.errs, fmt.Sprintf(format, args...))
}

func (f *fakeTB) Cleanup(fn func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cleanups = append(f.cleanups, fn)
}

func (f *fakeTB) runCleanups() {
	f.mu.Lock()
	fns := f.cleanups
	f.cleanups = nil
	f.mu.Unlock()
	for i := len(fns) - 1; i >= 0; i-- {
		fns[i]()
	}
}

// run calls fn on its own goroutine, as the testing package runs a test,
// and reports whether it returned rather than failing fatally.
func (f *fakeTB) run(fn func()) bool {
	done := make(chan bool)
	go func() {
		returned := false
		defer func() { done <- returned }()
		fn()
		returned = true
	}()
	return <-done
}
