package kubeaccess

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/kubestellar/ksplugins/sdk"
	"github.com/kubestellar/ksplugins/sdk/kubeconfig"
)

// inProcessClient is a client whose requests go to the handler of opts to
// f in-process, and a channel of the decisions it reports.
func inProcessClient(t *testing.T, f *fakeAPI, opts Options) (*http.Client, <-chan Decision) {
	t.Helper()
	up, err := NewUpstream(f.context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(up.Close)
	decisions := make(chan Decision, 16)
	opts.Report = func(d Decision) { decisions <- d }
	return &http.Client{Transport: InProcess(up.Handler(opts))}, decisions
}

func nextDecision(t *testing.T, c <-chan Decision) Decision {
	t.Helper()
	select {
	case d := <-c:
		return d
	case <-time.After(5 * time.Second):
		t.Fatal("no decision reported")
		return Decision{}
	}
}

const placeholder = "http://kubernetes.ksplugins.invalid"

func TestInProcessStreamsAWatch(t *testing.T) {
	f := newFakeAPI(t)
	client, decisions := inProcessClient(t, f, Options{Plugin: "p1", Rules: managedClusters})
	resp, err := client.Get(placeholder + "/apis/" + ocm + "/v1/managedclusters?watch=true")
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	lines := bufio.NewReader(resp.Body)
	// The first event arrives while the server holds the stream open: the
	// answer is not buffered until the handler returns.
	if line, err := lines.ReadString('\n'); err != nil || !strings.Contains(line, "ADDED") {
		t.Fatalf("first event: %q, %v", line, err)
	}
	close(f.release)
	if line, err := lines.ReadString('\n'); err != nil || !strings.Contains(line, "MODIFIED") {
		t.Fatalf("second event: %q, %v", line, err)
	}
	if _, err := lines.ReadString('\n'); err != io.EOF {
		t.Errorf("after the stream: %v, want EOF", err)
	}
	resp.Body.Close()
	if d := nextDecision(t, decisions); !d.Allowed || d.Status != 200 || d.Attributes.Verb != "watch" {
		t.Errorf("decision: %+v", d)
	}
}

func TestInProcessBodyCloseEndsTheWatch(t *testing.T) {
	f := newFakeAPI(t) // never released: the stream stays open
	client, decisions := inProcessClient(t, f, Options{Plugin: "p1", Rules: managedClusters})
	resp, err := client.Get(placeholder + "/apis/" + ocm + "/v1/managedclusters?watch=true")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bufio.NewReader(resp.Body).ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// The handler's request is cancelled, the upstream's with it, and the
	// stream is reported once it ends.
	if d := nextDecision(t, decisions); !d.Allowed || d.Attributes.Verb != "watch" {
		t.Errorf("decision: %+v", d)
	}
}

func TestInProcessRefusal(t *testing.T) {
	f := newFakeAPI(t)
	client, decisions := inProcessClient(t, f, Options{Plugin: "p1", Rules: managedClusters})
	resp, err := client.Get(placeholder + "/api/v1/namespaces/default/secrets")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s status
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusForbidden || s.Kind != "Status" || s.Reason != "Forbidden" || resp.ContentLength <= 0 {
		t.Errorf("answer: %d %+v (length %d)", resp.StatusCode, s, resp.ContentLength)
	}
	if d := nextDecision(t, decisions); d.Allowed || !errors.Is(d.Err, ErrNotGranted) {
		t.Errorf("decision: %+v", d)
	}
	if n := len(f.seen()); n != 0 {
		t.Errorf("the API server got %d requests", n)
	}
}

func TestRefuse(t *testing.T) {
	decisions := make(chan Decision, 1)
	client := &http.Client{Transport: InProcess(Refuse("wds1", Options{Plugin: "p1", Rules: managedClusters, Report: func(d Decision) { decisions <- d }}))}
	resp, err := client.Get(placeholder + "/apis/" + ocm + "/v1/managedclusters/c1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s status
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusForbidden || s.Reason != "Forbidden" || !strings.Contains(s.Message, "context wds1") || s.Details == nil || s.Details.Name != "c1" {
		t.Errorf("answer: %d %+v", resp.StatusCode, s)
	}
	d := nextDecision(t, decisions)
	if d.Allowed || d.Context != "wds1" || d.Status != 403 || !errors.Is(d.Err, ErrContextNotGranted) || d.Attributes.Name != "c1" {
		t.Errorf("decision: %+v", d)
	}
}

func TestInProcessHandlerFailures(t *testing.T) {
	tests := []struct {
		name    string
		handler http.HandlerFunc
		// roundTrip is whether RoundTrip itself fails; else reading the body.
		roundTrip bool
	}{
		{"panic before the answer", func(http.ResponseWriter, *http.Request) { panic("boom") }, true},
		{"abort before the answer", func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) }, true},
		{"abort mid-answer", func(w http.ResponseWriter, _ *http.Request) {
			_, _ = io.WriteString(w, "partial")
			panic(http.ErrAbortHandler)
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := &http.Client{Transport: InProcess(tt.handler)}
			resp, err := client.Get(placeholder + "/api")
			if tt.roundTrip {
				if err == nil || !errors.Is(err, errAborted) {
					t.Fatalf("RoundTrip: %v, want the abort", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if string(body) != "partial" || !errors.Is(err, errAborted) {
				t.Errorf("body %q, %v; want the part written, then the abort", body, err)
			}
		})
	}
}

func TestInProcessCancel(t *testing.T) {
	started := make(chan struct{})
	client := &http.Client{Transport: InProcess(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		close(started)
		<-r.Context().Done() // answers nothing until cancelled
	}))}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-started
		cancel()
	}()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, placeholder+"/api", nil)
	if _, err := client.Do(req); !errors.Is(err, context.Canceled) {
		t.Errorf("a cancelled request: %v", err)
	}
}

func TestInProcessForwardsABody(t *testing.T) {
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_, _ = io.Copy(w, r.Body)
	}))
	defer echo.Close()
	up, err := NewUpstream(kubeconfig.Context{Name: "its1", Cluster: kubeconfig.Cluster{Server: echo.URL}, User: kubeconfig.User{Token: "t"}})
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	rules := []sdk.KubernetesRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"create"}}}
	client := &http.Client{Transport: InProcess(up.Handler(Options{Plugin: "p1", Rules: rules}))}
	const body = `{"kind":"ConfigMap","metadata":{"name":"x"}}`
	resp, err := client.Post(placeholder+"/api/v1/namespaces/default/configmaps", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusCreated || string(got) != body {
		t.Errorf("create: %d %q, %v", resp.StatusCode, got, err)
	}
}
