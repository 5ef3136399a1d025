package wasm

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/kubestellar/ksplugins/sdk"
)

var _ sdk.KubestellarPlugin = (*Plugin)(nil)

func TestHello(t *testing.T) {
	r := newRuntime(t)
	p := load(t, r, fixtures.hello, Options{ID: "hello"})
	start(t, p, map[string]interface{}{"greeting": "Howdy"})
	e := router(t, p)

	tests := []struct {
		path, want string
	}{
		{"/hello", `{"message":"Hello from plugin!"}`},
		{"/greet/ada", `{"message":"Howdy, ada!"}`},
		{"/greet/grace%20hopper", `{"message":"Howdy, grace hopper!"}`},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			w := do(e, http.MethodGet, tt.path, nil)
			if w.Code != http.StatusOK || w.Body.String() != tt.want {
				t.Fatalf("got %d %q, want 200 %q", w.Code, w.Body.String(), tt.want)
			}
			if ct := w.Header().Get("Content-Type"); ct != "application/json; charset=utf-8" {
				t.Fatalf("Content-Type %q", ct)
			}
		})
	}

	if err := p.OnConfigChange(map[string]interface{}{"greeting": "Hej"}); err != nil {
		t.Fatal(err)
	}
	if w := do(e, http.MethodGet, "/greet/ada", nil); w.Body.String() != `{"message":"Hej, ada!"}` {
		t.Fatalf("after OnConfigChange: %q", w.Body.String())
	}
	if md := p.GetMetadata(); md.ID != "my-plugin" || len(md.Endpoints) != 2 || md.Endpoints[1].Path != "/greet/:name" {
		t.Fatalf("metadata %+v", md)
	}
	if err := p.Health(); err != nil {
		t.Fatal(err)
	}
	if s := p.GetStatus(); s.State != sdk.StateLoaded || s.Health != sdk.HealthHealthy {
		t.Fatalf("status %+v", s)
	}
	if l := p.Limits(); l != DefaultLimits() {
		t.Fatalf("limits %+v", l)
	}

	// The host routes before the guest does, so the guest's own 404 and 405
	// show only when the host forwards what the plugin does not serve.
	loose := gin.New()
	loose.NoRoute(p.GetHandlers()["HelloHandler"])
	for _, tt := range []struct {
		method, path string
		status       int
		code         string
	}{
		{http.MethodGet, "/nothere", http.StatusNotFound, "endpoint_not_found"},
		{http.MethodPost, "/hello", http.StatusMethodNotAllowed, "method_not_allowed"},
	} {
		w := do(loose, tt.method, tt.path, nil)
		if w.Code != tt.status || errorCode(t, w) != tt.code {
			t.Fatalf("%s %s: %d %s", tt.method, tt.path, w.Code, w.Body)
		}
	}
}

// TestLifecycle watches the lifecycle calls reach every instance, in order,
// including an instance that replaced a crashed one.
func TestLifecycle(t *testing.T) {
	r := newRuntime(t)
	logs := newLogRecorder()
	p := load(t, r, fixtures.hostile, Options{ID: "hostile", Logger: slog.New(logs), Limits: Limits{PoolSize: 2}})
	e := router(t, p)
	start(t, p, map[string]interface{}{"mode": "a"})
	if err := p.OnConfigChange(map[string]interface{}{"mode": "b"}); err != nil {
		t.Fatal(err)
	}
	if w := do(e, http.MethodGet, "/panic", nil); w.Code != http.StatusInternalServerError || errorCode(t, w) != "plugin_crashed" {
		t.Fatalf("panic: %d %s", w.Code, w.Body)
	}
	waitFor(t, 20*time.Second, "the replacement", func() bool { return len(logs.stdout("lifecycle onload")) == 3 })
	if err := p.OnUnload(); err != nil {
		t.Fatal(err)
	}
	if err := p.Cleanup(); err != nil {
		t.Fatal(err)
	}

	got := map[string][]string{}
	for _, l := range logs.stdout("lifecycle ") {
		inst, ev, _ := strings.Cut(l, ": lifecycle ")
		got[inst] = append(got[inst], ev)
	}
	// Instances 1 and 2 start at Load; 3 replaces the one that panicked.
	full := []string{"validate", "initialize a", "onload", "configchange b", "onunload", "cleanup"}
	fresh := []string{"validate", "initialize b", "onload", "onunload", "cleanup"}
	survivors, replaced := 0, 0
	for inst, evs := range got {
		switch {
		case reflect.DeepEqual(evs, full):
			survivors++
		case reflect.DeepEqual(evs, full[:4]):
			replaced++ // the one that panicked
		case inst == "3" && reflect.DeepEqual(evs, fresh):
		default:
			t.Errorf("instance %s saw %q", inst, evs)
		}
	}
	if survivors != 1 || replaced != 1 || len(got) != 3 {
		t.Fatalf("lifecycle per instance: %q", got)
	}
	for _, l := range logs.all() {
		if l.attrs["plugin_id"] != "hostile" {
			t.Fatalf("log line without plugin_id: %q %v", l.msg, l.attrs)
		}
	}
}

// TestFailures drives one instance through every way a guest can fail and
// checks that each is contained and the next request is served.
func TestFailures(t *testing.T) {
	r := newRuntime(t)
	hello := load(t, r, fixtures.hello, Options{ID: "hello"})
	start(t, hello, nil)
	helloRouter := router(t, hello)

	limits := Limits{Timeout: time.Second, Memory: 64 << 20, MaxRequestBytes: 1000, MaxResponseBytes: 5000}
	p := load(t, r, fixtures.hostile, Options{ID: "hostile", Limits: limits})
	start(t, p, nil)
	e := router(t, p)

	state := func() string { return do(e, http.MethodGet, "/state", nil).Body.String() }
	tests := []struct {
		name       string
		method     string
		target     string
		body       []byte
		wantStatus int
		wantCode   string // of the error document, if any
		wantBody   string // prefix, when no error
		restarted  bool   // the instance was replaced: /state starts again
	}{
		{name: "loop", target: "/loop", wantStatus: 504, wantCode: "plugin_timeout", restarted: true},
		{name: "alloc past 64 MiB", target: "/alloc", wantStatus: 500, wantCode: "plugin_crashed", restarted: true},
		{name: "panic", target: "/panic", wantStatus: 500, wantCode: "plugin_crashed", restarted: true},
		{name: "response at the limit", target: "/big?n=5000", wantStatus: 200, wantBody: strings.Repeat("x", 5000)},
		{name: "response over the limit", target: "/big?n=5001", wantStatus: 502, wantCode: "response_too_large"},
		{name: "request at the limit", method: "POST", target: "/echo?q=1", body: make([]byte, 1000), wantStatus: 200, wantBody: string(make([]byte, 1000))},
		{name: "request over the limit", method: "POST", target: "/echo", body: make([]byte, 1001), wantStatus: 413, wantCode: "request_too_large"},
		{name: "invalid request", target: "/state", wantStatus: 400, wantCode: "invalid_request"},
		{name: "no file system", target: "/readfile?path=/etc/hostname", wantStatus: 200, wantBody: "error: open /etc/hostname:"},
		{name: "no network", target: "/fetch?url=" + url.QueryEscape("http://127.0.0.1:1/"), wantStatus: 200,
			wantBody: `error: Get "http://127.0.0.1:1/": network access not granted`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, err := strconv.Atoi(state())
			if err != nil {
				t.Fatal(err)
			}
			method := tt.method
			if method == "" {
				method = http.MethodGet
			}
			var w *httptest.ResponseRecorder
			var took time.Duration
			if tt.name == "loop" {
				// While the instance spins, another plugin keeps serving.
				done := make(chan struct{})
				go func() {
					defer close(done)
					begin := time.Now()
					w = do(e, method, tt.target, tt.body)
					took = time.Since(begin)
				}()
				for i := 0; i < 5; i++ {
					if h := do(helloRouter, http.MethodGet, "/hello", nil); h.Code != 200 {
						t.Errorf("hello during the loop: %d", h.Code)
					}
				}
				<-done
				if took < limits.Timeout || took > limits.Timeout+2*time.Second {
					t.Errorf("timed out after %s, want about %s", took, limits.Timeout)
				}
			} else {
				req := httptest.NewRequest(method, tt.target, strings.NewReader(string(tt.body)))
				if tt.name == "invalid request" {
					req.Header.Set("X-Refuse", "by the test")
				}
				w = httptest.NewRecorder()
				e.ServeHTTP(w, req)
			}
			if w.Code != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.wantStatus, w.Body)
			}
			if tt.wantCode != "" {
				if code := errorCode(t, w); code != tt.wantCode {
					t.Fatalf("code %q, want %q", code, tt.wantCode)
				}
			} else if !strings.HasPrefix(w.Body.String(), tt.wantBody) {
				t.Fatalf("body %q, want prefix %q", w.Body.String(), tt.wantBody)
			}
			want := strconv.Itoa(before + 1)
			if tt.restarted {
				want = "1"
			}
			if got := state(); got != want {
				t.Fatalf("/state after: %q, want %q", got, want)
			}
		})
	}
	if w := do(e, http.MethodPost, "/echo?q=hi", []byte("ping")); w.Body.String() != "ping" || w.Header().Get("X-Echo-Query") != "hi" {
		t.Fatalf("echo: %q %v", w.Body.String(), w.Header())
	}
}

func TestHealthOnDemand(t *testing.T) {
	r := newRuntime(t)
	p := load(t, r, fixtures.hostile, Options{ID: "hostile"})
	start(t, p, nil)
	e := router(t, p)
	if err := p.Health(); err != nil {
		t.Fatal(err)
	}
	do(e, http.MethodGet, "/sick?on=1", nil)
	if err := p.Health(); err == nil || err.Error() != "hostile: sick on demand" {
		t.Fatalf("Health: %v", err)
	}
	do(e, http.MethodGet, "/state", nil)
	if m := p.GetMetrics(); m["count"] != float64(1) {
		t.Fatalf("metrics %v", m)
	}
	if perms := p.GetPermissions(); !reflect.DeepEqual(perms, []string{"clusters:read"}) {
		t.Fatalf("permissions %q", perms)
	}
	do(e, http.MethodGet, "/sick?on=0", nil)
	if err := p.Health(); err != nil {
		t.Fatal(err)
	}
	pe := p.HandleError(errors.New("boom"))
	if pe.Code != sdk.ErrorCodeRuntime || pe.Message != "boom" || pe.Timestamp == "" {
		t.Fatalf("HandleError: %+v", pe)
	}
}

// TestPoolOfTwo: an instance spinning in a loop does not stop the other
// instance of the same plugin from serving.
func TestPoolOfTwo(t *testing.T) {
	r := newRuntime(t)
	p := load(t, r, fixtures.hostile, Options{ID: "hostile", Limits: Limits{PoolSize: 2, Timeout: time.Second}})
	start(t, p, nil)
	e := router(t, p)
	done := make(chan int)
	go func() { done <- do(e, http.MethodGet, "/loop", nil).Code }()
	waitFor(t, 10*time.Second, "the loop to take an instance", func() bool { return len(p.free) == 1 })
	for i := 0; i < 10; i++ {
		if w := do(e, http.MethodGet, "/state", nil); w.Code != 200 || w.Body.String() != strconv.Itoa(i+1) {
			t.Fatalf("request %d during the loop: %d %q", i, w.Code, w.Body)
		}
	}
	if code := <-done; code != http.StatusGatewayTimeout {
		t.Fatalf("loop: %d", code)
	}
}

func TestDataDir(t *testing.T) {
	r := newRuntime(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	p := load(t, r, fixtures.hostile, Options{ID: "hostile", Grants: Grants{DataDir: dataDir}})
	start(t, p, nil)
	e := router(t, p)
	fi, err := os.Stat(dataDir)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("data dir: %v %v", fi, err)
	}
	tests := []struct{ target, want string }{
		{"/writefile", "content: written in the sandbox"},
		{"/readfile?path=/data/x", "content: written in the sandbox"},
		{"/readfile?path=/etc/hostname", "error: open /etc/hostname:"},
		{"/readfile?path=/data/../etc/hostname", "error: open /data/../etc/hostname:"},
		{"/readfile?path=../../../../etc/hostname", "error: open ../../../../etc/hostname:"},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			w := do(e, http.MethodGet, tt.target, nil)
			if w.Code != 200 || !strings.HasPrefix(w.Body.String(), tt.want) {
				t.Fatalf("%d %q, want %q", w.Code, w.Body.String(), tt.want)
			}
		})
	}
	b, err := os.ReadFile(filepath.Join(dataDir, "x"))
	if err != nil || string(b) != "written in the sandbox" {
		t.Fatalf("on the host: %q %v", b, err)
	}
}

func TestNetwork(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, "http://localhost:"+r.URL.Query().Get("port")+"/", http.StatusFound)
			return
		}
		fmt.Fprint(w, "pong")
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	_, port, _ := strings.Cut(host, ":")

	r := newRuntime(t)
	p := load(t, r, fixtures.hostile, Options{ID: "hostile", Grants: Grants{Network: true, AllowedHosts: []string{host}}})
	start(t, p, nil)
	e := router(t, p)
	tests := []struct{ url, want string }{
		{srv.URL + "/", "status 200: pong"},
		{"http://localhost:" + port + "/", `error: Get "http://localhost:` + port + `/": host localhost:` + port + ` is not in the plugin's allowed hosts`},
		{"http://127.0.0.1:1/", `error: Get "http://127.0.0.1:1/": host 127.0.0.1:1 is not in the plugin's allowed hosts`},
		{srv.URL + "/redirect?port=" + port, `error: Get "` + srv.URL + `/redirect?port=` + port + `": Get "http://localhost:` + port +
			`/": redirect refused: host localhost:` + port + ` is not in the plugin's allowed hosts`},
		{"file:///etc/hostname", `error: Get "file:///etc/hostname": scheme "file" is not allowed: only http and https`},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			w := do(e, http.MethodGet, "/fetch?url="+url.QueryEscape(tt.url), nil)
			if w.Code != 200 || w.Body.String() != tt.want {
				t.Fatalf("%d %q, want %q", w.Code, w.Body.String(), tt.want)
			}
		})
	}

	// Grants are per plugin: another plugin of the same runtime, with the
	// same allowed host but no network grant, is refused.
	denied := load(t, r, fixtures.hostile, Options{ID: "denied", Grants: Grants{Network: false, AllowedHosts: []string{host}}})
	start(t, denied, nil)
	w := do(router(t, denied), http.MethodGet, "/fetch?url="+url.QueryEscape(srv.URL+"/"), nil)
	if want := `error: Get "` + srv.URL + `/": network access not granted`; w.Body.String() != want {
		t.Fatalf("without the network grant: %q, want %q", w.Body.String(), want)
	}
	if w := do(e, http.MethodGet, "/fetch?url="+url.QueryEscape(srv.URL+"/"), nil); w.Body.String() != "status 200: pong" {
		t.Fatalf("the granted plugin after the other loaded: %q", w.Body.String())
	}
}

// TestAllowedHosts checks the matching rule without a guest.
func TestAllowedHosts(t *testing.T) {
	tests := []struct {
		allowed []string
		url     string
		ok      bool
	}{
		{[]string{"api.example.com"}, "https://api.example.com/x", true},
		{[]string{"api.example.com"}, "http://API.Example.com:8080/x", true},
		{[]string{"API.example.com:443"}, "https://api.example.com/x", true},
		{[]string{"api.example.com:443"}, "http://api.example.com/x", false},
		{[]string{"api.example.com:8443"}, "https://api.example.com:8443/x", true},
		{[]string{"example.com"}, "https://api.example.com/x", false},
		{[]string{"api.example.com"}, "https://api.example.com.evil.test/x", false},
		{[]string{"[::1]:8080"}, "http://[::1]:8080/", true},
		{[]string{"::1"}, "http://[::1]:9/", true},
		{[]string{"127.0.0.1"}, "ftp://127.0.0.1/", false},
		{nil, "http://127.0.0.1/", false},
	}
	for _, tt := range tests {
		p := &Plugin{grants: Grants{Network: true, AllowedHosts: tt.allowed}}
		u, _ := url.Parse(tt.url)
		if err := p.allowed(u); (err == nil) != tt.ok {
			t.Errorf("%q with %q: %v", tt.url, tt.allowed, err)
		}
	}
}

// TestQueue sends 100 concurrent requests to one instance and counts them.
func TestQueue(t *testing.T) {
	tests := []struct {
		name      string
		queue     int
		query     string
		want503   bool
		allServed bool
	}{
		{name: "queue of 100", queue: 100, allServed: true},
		// Each request sleeps 2 ms in the guest, so the queue of 10 fills.
		{name: "queue of 10", queue: 10, query: "?ms=2", want503: true},
	}
	r := newRuntime(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := load(t, r, fixtures.hostile, Options{ID: "hostile", Limits: Limits{PoolSize: 1, QueueSize: tt.queue}})
			start(t, p, nil)
			e := router(t, p)
			const n = 100
			recs := make([]*httptest.ResponseRecorder, n)
			var wg sync.WaitGroup
			startGate := make(chan struct{})
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-startGate
					recs[i] = do(e, http.MethodGet, "/state"+tt.query, nil)
				}()
			}
			close(startGate)
			wg.Wait()
			ok, busy := 0, 0
			seen := map[string]bool{}
			for i, w := range recs {
				switch w.Code {
				case 200:
					ok++
					if seen[w.Body.String()] {
						t.Errorf("counter %s answered twice", w.Body)
					}
					seen[w.Body.String()] = true
				case 503:
					busy++
					if code := errorCode(t, w); code != "sandbox_busy" {
						t.Errorf("request %d: 503 %q", i, code)
					}
				default:
					t.Errorf("request %d: %d %s", i, w.Code, w.Body)
				}
			}
			if ok+busy != n {
				t.Fatalf("%d served + %d busy != %d", ok, busy, n)
			}
			if tt.allServed && ok != n {
				t.Fatalf("%d of %d served", ok, n)
			}
			if tt.want503 && busy == 0 {
				t.Fatalf("no request was refused with a queue of %d", tt.queue)
			}
			for i := 1; i <= ok; i++ {
				if !seen[strconv.Itoa(i)] {
					t.Fatalf("counter %d missing: lost a request", i)
				}
			}
			if got := do(e, http.MethodGet, "/state", nil).Body.String(); got != strconv.Itoa(ok+1) {
				t.Fatalf("counter after: %s, want %d", got, ok+1)
			}
			t.Logf("%d served, %d refused with 503", ok, busy)
		})
	}
}

// TestClose: closing a plugin interrupts a call in progress, fails waiting
// and later requests with 503, and leaves nothing running.
func TestClose(t *testing.T) {
	r := newRuntime(t)
	p := load(t, r, fixtures.hostile, Options{ID: "hostile", Limits: Limits{Timeout: 30 * time.Second}})
	start(t, p, nil)
	e := router(t, p)
	done := make(chan *httptest.ResponseRecorder, 2)
	go func() { done <- do(e, http.MethodGet, "/loop", nil) }()
	waitFor(t, 10*time.Second, "the loop to take the instance", func() bool { return len(p.free) == 0 })
	go func() { done <- do(e, http.MethodGet, "/state", nil) }()
	waitFor(t, 10*time.Second, "the next request to queue behind the loop", func() bool { return len(p.queue) == 1 })
	begin := time.Now()
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		w := <-done
		if w.Code != http.StatusServiceUnavailable || errorCode(t, w) != "plugin_unavailable" {
			t.Fatalf("in flight at Close: %d %s", w.Code, w.Body)
		}
	}
	if d := time.Since(begin); d > 5*time.Second {
		t.Fatalf("Close took %s", d)
	}
	if w := do(e, http.MethodGet, "/state", nil); w.Code != http.StatusServiceUnavailable {
		t.Fatalf("after Close: %d", w.Code)
	}
	if err := p.Health(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Health after Close: %v", err)
	}
}

func TestLoadRefusesNonPlugins(t *testing.T) {
	r := newRuntime(t)
	tests := []struct {
		name string
		wasm []byte
		want string
		// leavesNothing: refused while the module is read, before the
		// plugin's data directory is made.
		leavesNothing bool
	}{
		{"garbage", []byte("not wasm"), "not a WebAssembly module", true},
		// A function section declaring four billion functions in 15 bytes:
		// wazero would allocate for them all, and the failed allocation
		// would end the test binary, as it would the server.
		{"declared counts beyond its size", []byte("\x00asm\x01\x00\x00\x00\x03\x05\xff\xff\xff\xff\x0f"), "more than the 0 bytes", true},
		{"empty module", []byte("\x00asm\x01\x00\x00\x00"), "does not import wasi_snapshot_preview1.sched_yield", true},
		// Only the import that instrumenting needs, no exports.
		{"no exports", []byte("\x00asm\x01\x00\x00\x00\x01\x05\x01\x60\x00\x01\x7f" +
			"\x02\x26\x01\x16wasi_snapshot_preview1\x0bsched_yield\x00\x00"), "does not export _initialize", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := filepath.Join(t.TempDir(), "data")
			_, err := r.Load(context.Background(), tt.wasm, Options{ID: "x", Grants: Grants{DataDir: data}})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want %q", err, tt.want)
			}
			if tt.leavesNothing {
				if _, err := os.Stat(data); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("a module refused before it was read left its data directory: %v", err)
				}
			}
		})
	}
	if _, err := r.Load(context.Background(), fixtures.hello, Options{}); err == nil {
		t.Fatal("Load without an ID succeeded")
	}
}
