package wasm

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kubestellar/ksplugins/sdk"
	"github.com/kubestellar/ksplugins/sdk/kubeconfig"
	"github.com/kubestellar/ksplugins/sdk/wasmguest/abi"
)

// fakeKube is an sdk.Kubernetes that answers every request itself and
// remembers what reached it. A watch is answered with a body that sends a
// line and then another every 50 ms (up to count=, else forever) and
// never ends; closed counts the
// watches whose body was closed.
type fakeKube struct {
	contexts []string
	external atomic.Bool // granted external clusters
	mu       sync.Mutex
	seen     []string // "context method path?query header-context-present"
	closed   atomic.Int32
}

func (k *fakeKube) Contexts() []string { return slices.Clone(k.contexts) }

// External reads the kubeconfig as the host does, when external is set,
// and names every context it accepts external-1.
func (k *fakeKube) External(data []byte, context string) (string, error) {
	if !k.external.Load() {
		return "", sdk.ErrExternalNotGranted
	}
	cfg, err := kubeconfig.Parse(data)
	if err == nil {
		_, err = cfg.Context(context)
	}
	if err != nil {
		return "", fmt.Errorf("read the kubeconfig: %w", err)
	}
	return "external-1", nil
}

func (k *fakeKube) Transport(context string) http.RoundTripper {
	return roundTripFunc(func(r *http.Request) (*http.Response, error) {
		k.mu.Lock()
		k.seen = append(k.seen, fmt.Sprintf("%s %s %s leaked=%t", context, r.Method, r.URL.RequestURI(), r.Header.Get(abi.HeaderKubeContext) != ""))
		k.mu.Unlock()
		if r.URL.Query().Get("watch") == "true" {
			return &http.Response{StatusCode: http.StatusOK, Body: k.watch(r)}, nil
		}
		body := "from " + context + " " + r.URL.Path
		if n := r.URL.Query().Get("big"); n != "" {
			body = strings.Repeat("k", len(n)<<20)
		}
		return &http.Response{
			StatusCode: http.StatusOK,
			Header:     http.Header{"Content-Type": {"text/plain"}},
			Body:       io.NopCloser(strings.NewReader(body)),
		}, nil
	})
}

func (k *fakeKube) watch(r *http.Request) io.ReadCloser {
	pr, pw := io.Pipe()
	big := r.URL.Query().Get("big") != ""
	count, _ := strconv.Atoi(r.URL.Query().Get("count")) // 0: no end
	go func() {
		defer k.closed.Add(1)
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for i := 1; ; i++ {
			if count > 0 && i > count {
				<-r.Context().Done() // no more events, as from a quiet API server
				pw.CloseWithError(r.Context().Err())
				return
			}
			line := fmt.Sprintf("event %d\n", i)
			if big {
				line = strings.Repeat("w", 512<<10) + "\n"
			}
			if _, err := io.WriteString(pw, line); err != nil {
				return // the reader closed
			}
			select {
			case <-t.C:
			case <-r.Context().Done():
				pw.CloseWithError(r.Context().Err())
				return
			}
		}
	}()
	return pr
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestKubernetesThroughHost: a sandboxed plugin's requests to the
// Kubernetes placeholder are served by the host's sdk.Kubernetes, for the
// context the plugin named, without the network grant; a watch streams;
// bodies over the response limit are refused.
func TestKubernetesThroughHost(t *testing.T) {
	r := newRuntime(t)
	p := load(t, r, fixtures.hostile, Options{ID: "hostile", Limits: Limits{PoolSize: 2, MaxResponseBytes: 1 << 20}})
	k := &fakeKube{contexts: []string{"its1", "wds1"}}
	p.SetKubernetes(k)
	start(t, p, nil)
	e := router(t, p)
	tests := []struct{ name, context, path, want string }{
		{"get", "its1", "/apis/cluster.open-cluster-management.io/v1/managedclusters/c1",
			"contexts [its1 wds1] status 200: from its1 /apis/cluster.open-cluster-management.io/v1/managedclusters/c1"},
		{"other context", "wds1", "/api/v1/namespaces", "contexts [its1 wds1] status 200: from wds1 /api/v1/namespaces"},
		{"too large", "its1", "/api/v1/pods?big=xx", "error: response body exceeds the plugin's limit of 1048576 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := do(e, http.MethodGet, "/kube?context="+tt.context+"&path="+url.QueryEscape(tt.path), nil)
			if w.Code != http.StatusOK || !strings.HasPrefix(w.Body.String(), tt.want) {
				t.Fatalf("%d %q, want %q", w.Code, w.Body.String(), tt.want)
			}
		})
	}
	// A watch streams: the guest reads events as they come, and the host
	// closes what the guest left open when the call returns.
	w := do(e, http.MethodGet, "/kube?context=its1&lines=3&path="+url.QueryEscape("/api/v1/pods?watch=true"), nil)
	if got := w.Body.String(); got != "status 200: event 1,event 2,event 3" {
		t.Fatalf("watch: %q", got)
	}
	waitFor(t, 5*time.Second, "the host to close the watch", func() bool { return k.closed.Load() == 1 })
	// Read by another goroutine, an event reaches the handler before the
	// reader waits in the host for the next one, which never comes.
	w = do(e, http.MethodGet, "/kube?context=its1&lines=1&reader=1&path="+url.QueryEscape("/api/v1/pods?watch=true&count=1"), nil)
	if got := w.Body.String(); got != "status 200: event 1" {
		t.Fatalf("watch read by another goroutine: %d %q", w.Code, got)
	}
	waitFor(t, 5*time.Second, "the host to close the second watch", func() bool { return k.closed.Load() == 2 })
	// Its bytes count against the response limit.
	w = do(e, http.MethodGet, "/kube?context=its1&lines=3&path="+url.QueryEscape("/api/v1/pods?watch=true&big=1"), nil)
	if got := w.Body.String(); !strings.Contains(got, "over the response limit") {
		t.Fatalf("a watch past the response limit: %q", got)
	}
	waitFor(t, 5*time.Second, "the host to close the large watch", func() bool { return k.closed.Load() == 3 })
	// http_do, which buffers, refuses a watch.
	w = do(e, http.MethodGet, "/fetch?url="+url.QueryEscape("http://"+sdk.KubernetesHost+"/api/v1/pods?watch=true"), nil)
	if got := w.Body.String(); !strings.Contains(got, "a watch needs a streamed response") {
		t.Fatalf("a watch through http.DefaultTransport: %q", got)
	}

	k.mu.Lock()
	defer k.mu.Unlock()
	want := []string{
		"its1 GET /apis/cluster.open-cluster-management.io/v1/managedclusters/c1 leaked=false",
		"wds1 GET /api/v1/namespaces leaked=false",
		"its1 GET /api/v1/pods?big=xx leaked=false",
		"its1 GET /api/v1/pods?watch=true leaked=false",
		"its1 GET /api/v1/pods?watch=true&count=1 leaked=false",
		"its1 GET /api/v1/pods?watch=true&big=1 leaked=false",
	}
	if !slices.Equal(k.seen, want) {
		t.Fatalf("the host's transport saw %q, want %q", k.seen, want)
	}
}

// TestKubernetesExternalThroughHost: a sandboxed plugin's External reaches
// the host's sdk.Kubernetes, not its mediation, and gets back the name or
// the same typed error a native plugin would, field and message included.
func TestKubernetesExternalThroughHost(t *testing.T) {
	r := newRuntime(t)
	p := load(t, r, fixtures.hostile, Options{ID: "hostile"})
	k := &fakeKube{contexts: []string{"its1"}}
	k.external.Store(true)
	p.SetKubernetes(k)
	start(t, p, nil)
	e := router(t, p)
	const good = `{clusters: [{name: c, cluster: {server: "https://theirs"}}], users: [{name: x, user: {token: t}}],
contexts: [{name: c, context: {cluster: c, user: x}}], current-context: c}`
	tests := []struct{ name, kubeconfig, context, want string }{
		{"accepted", good, "", "context external-1"},
		{"exec", `{users: [{name: x, user: {exec: {command: sh}}}]}`, "",
			`refused users["x"].user.exec: read the kubeconfig: users["x"].user.exec: runs a command on the host`},
		{"invalid", `{clusters: [{name: c}]}`, "", `invalid clusters["c"].cluster: read the kubeconfig: clusters["c"].cluster: required`},
		{"no such context", good, "d", `no context: read the kubeconfig: no such context "d" in the kubeconfig`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := do(e, http.MethodPost, "/external?context="+tt.context, []byte(tt.kubeconfig))
			if w.Code != http.StatusOK || !strings.HasPrefix(w.Body.String(), tt.want) {
				t.Fatalf("%d %q, want %q", w.Code, w.Body.String(), tt.want)
			}
		})
	}
	k.mu.Lock()
	seen := slices.Clone(k.seen)
	k.mu.Unlock()
	if len(seen) != 0 {
		t.Errorf("External reached the mediation: %q", seen)
	}

	// Without the grant, or without any Kubernetes access.
	k.external.Store(false)
	if w := do(e, http.MethodPost, "/external", []byte(good)); w.Body.String() != "not granted: "+sdk.ErrExternalNotGranted.Error() {
		t.Errorf("without the grant: %q", w.Body.String())
	}
}

// TestKubernetesInstancesStartedLater: an instance that replaces a crashed
// one gets the plugin's Kubernetes access too.
func TestKubernetesInstancesStartedLater(t *testing.T) {
	r := newRuntime(t)
	p := load(t, r, fixtures.hostile, Options{ID: "hostile"})
	p.SetKubernetes(&fakeKube{contexts: []string{"its1"}})
	start(t, p, nil)
	e := router(t, p)
	if w := do(e, http.MethodGet, "/panic", nil); w.Code != http.StatusInternalServerError {
		t.Fatalf("panic: %d", w.Code)
	}
	var w interface{ String() string }
	waitFor(t, 30*time.Second, "the replacement", func() bool {
		res := do(e, http.MethodGet, "/kube?context=its1&path=/version", nil)
		w = res.Body
		return res.Code == http.StatusOK
	})
	if got := w.String(); got != "contexts [its1] status 200: from its1 /version" {
		t.Fatalf("after the replacement: %q", got)
	}
}

// TestKubernetesWithoutAccess: a plugin the host gave no Kubernetes access
// gets the API server's 403 Status for the placeholder, and reaches it
// without the network grant but nowhere else.
func TestKubernetesWithoutAccess(t *testing.T) {
	r := newRuntime(t)
	p := load(t, r, fixtures.hostile, Options{ID: "hostile"})
	start(t, p, nil)
	e := router(t, p)
	w := do(e, http.MethodGet, "/fetch?url="+url.QueryEscape("http://"+sdk.KubernetesHost+"/api/v1/namespaces"), nil)
	body, ok := strings.CutPrefix(w.Body.String(), "status 403: ")
	if w.Code != http.StatusOK || !ok {
		t.Fatalf("%d %q, want a 403", w.Code, w.Body.String())
	}
	var st struct {
		Kind   string `json:"kind"`
		Reason string `json:"reason"`
		Code   int    `json:"code"`
	}
	if err := json.Unmarshal([]byte(body), &st); err != nil || st.Kind != "Status" || st.Reason != "Forbidden" || st.Code != 403 {
		t.Fatalf("not a Forbidden Status: %q (%v)", body, err)
	}
	if w := do(e, http.MethodGet, "/kube", nil); w.Body.String() != "no Kubernetes access" {
		t.Fatalf("the plugin received Kubernetes access it was not given: %q", w.Body.String())
	}
	w = do(e, http.MethodGet, "/fetch?url="+url.QueryEscape("http://kubernetes.example.invalid/api"), nil)
	if !strings.Contains(w.Body.String(), "network access not granted") {
		t.Fatalf("another host without the network grant: %q", w.Body.String())
	}
}

// TestGuestArgs: the guest sees its plugin id as os.Args[0], which Go code
// such as client-go's klog reads at init.
func TestGuestArgs(t *testing.T) {
	r := newRuntime(t)
	p := load(t, r, fixtures.hostile, Options{ID: "my-id"})
	start(t, p, nil)
	if w := do(router(t, p), http.MethodGet, "/args", nil); w.Body.String() != "my-id" {
		t.Fatalf("os.Args in the guest: %q", w.Body.String())
	}
}
