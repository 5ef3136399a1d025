package host

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	apiv1 "github.com/kubestellar/ksplugins/api/v1"

	"github.com/gin-gonic/gin"

	"github.com/kubestellar/ksplugins/internal/events"
	"github.com/kubestellar/ksplugins/internal/store/sqlite"
	"github.com/kubestellar/ksplugins/sdk"
)

// testPlugin is a real in-process plugin: the same contract a .so fulfils,
// without the build, so the host's own logic can be tested alone.
type testPlugin struct {
	sdk.Base
	id    string
	reply string

	mu    sync.Mutex
	calls []string

	failStep string        // lifecycle step that returns an error
	block    chan struct{} // when set, /slow waits on it
}

func (p *testPlugin) record(step string) error {
	p.mu.Lock()
	p.calls = append(p.calls, step)
	p.mu.Unlock()
	if step == p.failStep {
		return errors.New(step + " refused")
	}
	return nil
}

func (p *testPlugin) history() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.calls, ",")
}

func (p *testPlugin) Validate() error { return p.record("Validate") }
func (p *testPlugin) Initialize(c map[string]interface{}) error {
	_ = p.Base.Initialize(c)
	return p.record("Initialize")
}
func (p *testPlugin) OnLoad() error   { return p.record("OnLoad") }
func (p *testPlugin) OnUnload() error { return p.record("OnUnload") }
func (p *testPlugin) Cleanup() error  { return p.record("Cleanup") }
func (p *testPlugin) ValidateRequest(c *gin.Context) error {
	if c.Query("reject") != "" {
		return errors.New("rejected")
	}
	return nil
}

func (p *testPlugin) GetMetadata() sdk.PluginMetadata {
	return sdk.PluginMetadata{ID: p.id, Name: p.id, Version: "1.0.0", Endpoints: []sdk.EndpointConfig{
		{Path: "/hello", Method: "GET", Handler: "Hello"},
		{Path: "/items/:name", Method: "PUT", Handler: "Item"},
		{Path: "/panic", Method: "GET", Handler: "Panic"},
		{Path: "/slow", Method: "GET", Handler: "Slow"},
	}}
}

func (p *testPlugin) GetHandlers() map[string]gin.HandlerFunc {
	return map[string]gin.HandlerFunc{
		"Hello": func(c *gin.Context) { c.String(http.StatusOK, p.reply) },
		"Item":  func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"name": c.Param("name")}) },
		"Panic": func(c *gin.Context) { panic("boom") },
		"Slow": func(c *gin.Context) {
			<-p.block
			c.String(http.StatusOK, "slow "+p.reply)
		},
	}
}

// newTestHost returns a host on a real store in a temporary folder; tune
// changes its options before it starts.
func newTestHost(t testing.TB, tune ...func(*Options)) *Host {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "test.db"))
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	opts := Options{
		Store:          db,
		Events:         events.NewBus(events.Options{Logger: log}),
		CallTimeout:    time.Second,
		DrainTimeout:   time.Second,
		RestartBackoff: 10 * time.Millisecond,
		MaxRestarts:    3,
		Logger:         log,
	}
	for _, f := range tune {
		f(&opts)
	}
	h := New(opts)
	t.Cleanup(func() {
		h.Close(context.Background())
		db.Close()
	})
	return h
}

// add loads an in-process plugin as Load would a built one.
func add(t testing.TB, h *Host, tp plugin) *Plugin {
	t.Helper()
	p, err := addErr(h, tp)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// plugin is what the tests load: a testPlugin or a type embedding one.
type plugin interface {
	sdk.KubestellarPlugin
}

func addErr(h *Host, tp plugin) (*Plugin, error) {
	in := &instance{impl: tp, meta: tp.GetMetadata(), loadedAt: time.Now(), artifact: apiv1.Artifact{Digest: "sha256:test"}}
	p := &Plugin{id: in.meta.ID, state: apiv1.StateLoading, enabled: true, source: apiv1.Source{Kind: apiv1.SourceFile, Location: "test"}}
	return p, h.register(context.Background(), p, in, true)
}

type response struct {
	status int
	body   string
	code   string
}

func serve(h *Host, method, id, path string) response {
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(method, EndpointPrefix+id+path, nil)
	p, _, _ := strings.Cut(path, "?")
	h.ServeEndpoint(rec, req, id, p)
	var e struct {
		Error struct{ Code string } `json:"error"`
	}
	_ = json.Unmarshal(rec.Body.Bytes(), &e)
	return response{status: rec.Code, body: rec.Body.String(), code: e.Error.Code}
}

func TestDispatch(t *testing.T) {
	h := newTestHost(t)
	add(t, h, &testPlugin{id: "demo", reply: "hi"})
	tests := []struct {
		name, method, id, path string
		status                 int
		code, body             string
	}{
		{"handler", "GET", "demo", "/hello", 200, "", "hi"},
		{"path parameter", "PUT", "demo", "/items/x1", 200, "", `{"name":"x1"}`},
		{"wrong method", "POST", "demo", "/hello", 405, "method_not_allowed", ""},
		{"unknown path", "GET", "demo", "/nope", 404, "endpoint_not_found", ""},
		{"unknown plugin", "GET", "ghost", "/hello", 404, "plugin_not_found", ""},
		{"panic", "GET", "demo", "/panic", 500, "plugin_panic", ""},
		{"ValidateRequest", "GET", "demo", "/hello?reject=1", 400, "invalid_request", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := serve(h, tt.method, tt.id, tt.path)
			if r.status != tt.status || r.code != tt.code || (tt.body != "" && r.body != tt.body) {
				t.Fatalf("got %d %q %s; want %d %q %s", r.status, r.code, r.body, tt.status, tt.code, tt.body)
			}
		})
	}
	info, _ := h.Get("demo")
	if info.Stats.Requests != 6 || info.Stats.ServerErrors != 1 || info.Stats.ClientErrors != 3 {
		t.Fatalf("stats = %+v; want 6 requests, 1 server error, 3 client errors", info.Stats)
	}
}

func TestEnableDisable(t *testing.T) {
	h := newTestHost(t)
	add(t, h, &testPlugin{id: "demo", reply: "hi"})
	if _, err := h.SetEnabled(context.Background(), "demo", false); err != nil {
		t.Fatal(err)
	}
	if r := serve(h, "GET", "demo", "/hello"); r.status != 503 || r.code != "plugin_disabled" {
		t.Fatalf("disabled: %+v", r)
	}
	if _, err := h.SetEnabled(context.Background(), "demo", true); err != nil {
		t.Fatal(err)
	}
	if r := serve(h, "GET", "demo", "/hello"); r.status != 200 {
		t.Fatalf("enabled: %+v", r)
	}
	if _, err := h.SetEnabled(context.Background(), "ghost", true); !errors.Is(err, ErrNotFound) {
		t.Fatalf("enable unknown: %v", err)
	}
}

func TestLifecycleOrder(t *testing.T) {
	h := newTestHost(t)
	p := &testPlugin{id: "demo", reply: "hi"}
	add(t, h, p)
	if err := h.Unload(context.Background(), "demo"); err != nil {
		t.Fatal(err)
	}
	if got, want := p.history(), "Validate,Initialize,OnLoad,OnUnload,Cleanup"; got != want {
		t.Fatalf("calls = %s; want %s", got, want)
	}
	if r := serve(h, "GET", "demo", "/hello"); r.status != 404 {
		t.Fatalf("after unload: %+v", r)
	}
}

func TestFailedStartLeavesNoTrace(t *testing.T) {
	for _, step := range []string{"Validate", "Initialize", "OnLoad"} {
		t.Run(step, func(t *testing.T) {
			h := newTestHost(t)
			p := &testPlugin{id: "demo", failStep: step}
			_, err := addErr(h, p)
			var perr *PluginError
			if !errors.As(err, &perr) || perr.Step != step {
				t.Fatalf("err = %v; want a PluginError at %s", err, step)
			}
			if !strings.HasSuffix(p.history(), step+",Cleanup") {
				t.Fatalf("calls = %s; want Cleanup after the failed %s", p.history(), step)
			}
			if len(h.List()) != 0 {
				t.Fatalf("plugin registered after failed start: %+v", h.List())
			}
			if recs, _ := h.store.Plugins(context.Background()); len(recs) != 0 {
				t.Fatalf("record left after failed start: %+v", recs)
			}
		})
	}
}

// hangingPlugin's Initialize blocks until release is closed.
type hangingPlugin struct {
	testPlugin
	release chan struct{}
}

func (p *hangingPlugin) Initialize(map[string]interface{}) error {
	<-p.release
	return nil
}

// TestHangingInitializeTimesOut runs on synctest's fake clock: the load
// fails after exactly the call timeout.
func TestHangingInitializeTimesOut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newTestHost(t)
		p := &hangingPlugin{testPlugin: testPlugin{id: "demo"}, release: make(chan struct{})}
		t.Cleanup(func() { close(p.release) }) // the bubble ends with no goroutine blocked
		start := time.Now()
		_, err := addErr(h, p)
		if err == nil || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v; want a deadline error", err)
		}
		if d := time.Since(start); d != time.Second {
			t.Fatalf("register took %s; want the call timeout, 1s", d)
		}
	})
}

// TestSwapDropsNoRequest swaps instances while clients keep calling: every
// request is answered 200 by one version or the other, and requests in
// flight on a retired instance finish before it is cleaned up.
func TestSwapDropsNoRequest(t *testing.T) {
	h := newTestHost(t)
	first := &testPlugin{id: "demo", reply: "v0", block: make(chan struct{})}
	p := add(t, h, first)

	// A slow request holds the first instance through the swaps.
	slow := make(chan response, 1)
	go func() { slow <- serve(h, "GET", "demo", "/slow") }()
	for first.inflightLoad(p) == 0 {
		time.Sleep(time.Millisecond)
	}

	ctx, cancel := context.WithCancel(context.Background())
	var failures, served atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				r := serve(h, "GET", "demo", "/hello")
				if r.status != 200 || !strings.HasPrefix(r.body, "v") {
					failures.Add(1)
				}
				served.Add(1)
			}
		}()
	}
	var last *testPlugin
	retired := make(chan struct{})
	go func() {
		defer close(retired)
		p.op.Lock()
		defer p.op.Unlock()
		for i := 1; i <= 20; i++ {
			last = &testPlugin{id: "demo", reply: "v" + string(rune('0'+i%10))}
			in := &instance{impl: last, meta: last.GetMetadata(), artifact: apiv1.Artifact{Digest: "sha256:v" + strconv.Itoa(i)}}
			if err := h.swap(context.Background(), p, in, change{}); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	time.Sleep(50 * time.Millisecond)
	if strings.Contains(first.history(), "Cleanup") {
		t.Fatal("first instance cleaned up while a request was still running on it")
	}
	close(first.block)
	<-retired
	cancel()
	wg.Wait()
	if r := <-slow; r.status != 200 || r.body != "slow v0" {
		t.Fatalf("slow request: %+v", r)
	}
	if !strings.HasSuffix(first.history(), "OnUnload,Cleanup") {
		t.Fatalf("first instance: %s", first.history())
	}
	if failures.Load() != 0 || served.Load() == 0 {
		t.Fatalf("%d of %d requests failed during swaps", failures.Load(), served.Load())
	}
	if r := serve(h, "GET", "demo", "/hello"); r.body != last.reply {
		t.Fatalf("after swaps: %q; want %q", r.body, last.reply)
	}
}

// inflightLoad reports the requests running on the instance whose plugin is p.
func (tp *testPlugin) inflightLoad(p *Plugin) int64 {
	in := p.inst.Load()
	if in == nil || in.impl != tp {
		return 0
	}
	return in.inflight.Load()
}

// publishingPlugin publishes from OnLoad with the Publisher it was given.
type publishingPlugin struct {
	testPlugin
	pub sdk.Publisher
}

func (p *publishingPlugin) SetPublisher(pub sdk.Publisher) { p.pub = pub }

func (p *publishingPlugin) OnLoad() error {
	if p.pub == nil {
		return errors.New("OnLoad before SetPublisher")
	}
	p.pub.Publish("operation.step", "step one", map[string]any{"kind": "forged", "step": 1})
	return nil
}

func TestPluginPublishesEvents(t *testing.T) {
	h := newTestHost(t)
	add(t, h, &publishingPlugin{testPlugin: testPlugin{id: "pub"}})
	var got []events.Event
	for _, e := range h.opts.Events.Since(0) {
		if e.Type == events.PluginEvent {
			got = append(got, e)
		}
	}
	if len(got) != 1 {
		t.Fatalf("plugin events = %+v, want one", got)
	}
	e := got[0]
	// The plugin's kind wins over a "kind" in its details, and the event
	// names the plugin and marks it as the plugin's own.
	if e.PluginID != "pub" || e.Actor != "plugin" || e.Message != "step one" || e.Details["kind"] != "operation.step" || e.Details["step"] != 1 {
		t.Errorf("event = %+v", e)
	}
}
