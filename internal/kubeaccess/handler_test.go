package kubeaccess

import (
	"bufio"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubestellar/ksplugins/sdk"
	"github.com/kubestellar/ksplugins/sdk/kubeconfig"
)

const ocm = "cluster.open-cluster-management.io"

// fakeAPI stands in for an API server: it notes each request it gets and
// answers a watch with one event, then a second once release is closed.
type fakeAPI struct {
	*httptest.Server
	mu       sync.Mutex
	requests []*http.Request
	release  chan struct{}
}

func newFakeAPI(t *testing.T) *fakeAPI {
	t.Helper()
	f := &fakeAPI{release: make(chan struct{})}
	f.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.requests = append(f.requests, r.Clone(r.Context()))
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Query().Get("watch") == "true" {
			_, _ = io.WriteString(w, `{"type":"ADDED","object":{"metadata":{"name":"c1"}}}`+"\n")
			w.(http.Flusher).Flush()
			select {
			case <-f.release:
			case <-r.Context().Done():
				return
			}
			_, _ = io.WriteString(w, `{"type":"MODIFIED","object":{"metadata":{"name":"c1"}}}`+"\n")
			return
		}
		_, _ = io.WriteString(w, `{"kind":"ManagedCluster","metadata":{"name":"c1"},"path":"`+r.URL.Path+`"}`)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeAPI) seen() []*http.Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*http.Request(nil), f.requests...)
}

// context is the host kubeconfig's context for f, with a bearer token.
func (f *fakeAPI) context() kubeconfig.Context {
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.Certificate().Raw})
	return kubeconfig.Context{
		Name:    "its1",
		Cluster: kubeconfig.Cluster{Name: "its1", Server: f.URL, CAData: ca},
		User:    kubeconfig.User{Name: "admin", Token: "host-token"},
	}
}

var managedClusters = []sdk.KubernetesRule{{APIGroups: []string{ocm}, Resources: []string{"managedclusters"}, Verbs: []string{"get", "list", "watch"}}}

// serve starts a server for the handler of opts to c and returns it with
// the decisions it reports.
func serve(t *testing.T, c kubeconfig.Context, opts Options) (*httptest.Server, func() []Decision) {
	t.Helper()
	up, err := NewUpstream(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(up.Close)
	var mu sync.Mutex
	var decisions []Decision
	opts.Report = func(d Decision) {
		mu.Lock()
		defer mu.Unlock()
		decisions = append(decisions, d)
	}
	s := httptest.NewServer(up.Handler(opts))
	t.Cleanup(s.Close)
	// The handler reports after its answer is written, so a client that has
	// read the answer may be ahead of the report: wait for the first one.
	return s, func() []Decision {
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			mu.Lock()
			n := len(decisions)
			mu.Unlock()
			if n > 0 {
				break
			}
		}
		mu.Lock()
		defer mu.Unlock()
		return append([]Decision(nil), decisions...)
	}
}

func do(t *testing.T, method, url string, header http.Header) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func TestHandlerForwardsWithTheHostsCredentials(t *testing.T) {
	api := newFakeAPI(t)
	s, decisions := serve(t, api.context(), Options{Plugin: "p1", Rules: managedClusters})

	hostile := http.Header{
		"Authorization":         {"Bearer plugin-token"},
		"Impersonate-User":      {"system:admin"},
		"Impersonate-Group":     {"system:masters"},
		"Impersonate-Extra-Foo": {"bar"},
		"X-Remote-User":         {"system:admin"},
		"Cookie":                {"session=x"},
		"Accept":                {"application/json"},
		"User-Agent":            {"plugin/1"},
	}
	resp, body := do(t, "GET", s.URL+"/apis/"+ocm+"/v1/managedclusters/c1?resourceVersion=0", hostile)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"name":"c1"`) {
		t.Fatalf("GET an allowed managed cluster: %d %s", resp.StatusCode, body)
	}
	seen := api.seen()
	if len(seen) != 1 {
		t.Fatalf("the API server got %d requests; want 1", len(seen))
	}
	got := seen[0]
	if got.URL.Path != "/apis/"+ocm+"/v1/managedclusters/c1" || got.URL.RawQuery != "resourceVersion=0" {
		t.Errorf("forwarded to %s", got.URL)
	}
	if a := got.Header.Get("Authorization"); a != "Bearer host-token" {
		t.Errorf("Authorization at the API server: %q; want the host's token", a)
	}
	for k := range got.Header {
		if strings.HasPrefix(k, "Impersonate-") || k == "X-Remote-User" || k == "Cookie" {
			t.Errorf("the plugin's header %s reached the API server", k)
		}
	}
	if got.Header.Get("Accept") != "application/json" || got.Header.Get("User-Agent") != "plugin/1" {
		t.Errorf("content headers not passed on: %v", got.Header)
	}
	d := decisions()
	if len(d) != 1 || !d[0].Allowed || d[0].Status != 200 || d[0].Plugin != "p1" || d[0].Context != "its1" ||
		d[0].Attributes.Verb != "get" || d[0].Attributes.Resource != "managedclusters" || d[0].Duration <= 0 || d[0].Err != nil {
		t.Errorf("decisions: %+v", d)
	}
}

func TestHandlerImpersonates(t *testing.T) {
	api := newFakeAPI(t)
	host := api.context()
	host.User.Impersonate, host.User.ImpersonateGroups = "ksplugins-host", []string{"hosts"}
	tests := []struct {
		name        string
		impersonate bool
		user        string
		groups      []string
	}{
		{"the plugin's identity", true, "system:ksplugins:plugin:p1", nil},
		{"the host kubeconfig's own", false, "ksplugins-host", []string{"hosts"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := serve(t, host, Options{Plugin: "p1", Rules: managedClusters, Impersonate: tt.impersonate})
			before := len(api.seen())
			resp, body := do(t, "GET", s.URL+"/apis/"+ocm+"/v1/managedclusters", http.Header{"Impersonate-User": {"system:admin"}})
			if resp.StatusCode != 200 {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
			got := api.seen()[before].Header
			if u := got.Values("Impersonate-User"); len(u) != 1 || u[0] != tt.user {
				t.Errorf("Impersonate-User: %q; want %q", u, tt.user)
			}
			if g := got.Values("Impersonate-Group"); strings.Join(g, ",") != strings.Join(tt.groups, ",") {
				t.Errorf("Impersonate-Group: %q; want %q", g, tt.groups)
			}
		})
	}
}

func TestHandlerForbids(t *testing.T) {
	api := newFakeAPI(t)
	s, decisions := serve(t, api.context(), Options{Plugin: "p1", Rules: managedClusters})
	tests := []struct {
		name, method, path string
		wantMessage        string
		wantDetails        *metav1.StatusDetails
	}{
		{"another resource", "GET", "/api/v1/namespaces/kube-system/secrets/s1",
			`secrets "s1" is forbidden: plugin "p1" was not granted get on resource "secrets" in API group "" in the namespace "kube-system" of context its1`,
			&metav1.StatusDetails{Name: "s1", Kind: "secrets"}},
		{"another verb", "DELETE", "/apis/" + ocm + "/v1/managedclusters/c1",
			`managedclusters.cluster.open-cluster-management.io "c1" is forbidden: plugin "p1" was not granted delete on resource "managedclusters" in API group "cluster.open-cluster-management.io" at the cluster scope of context its1`,
			&metav1.StatusDetails{Name: "c1", Group: ocm, Kind: "managedclusters"}},
		{"a subresource", "PUT", "/apis/" + ocm + "/v1/managedclusters/c1/status",
			`managedclusters.cluster.open-cluster-management.io "c1" is forbidden: plugin "p1" was not granted update on resource "managedclusters/status"`,
			&metav1.StatusDetails{Name: "c1", Group: ocm, Kind: "managedclusters"}},
		{"a list", "GET", "/api/v1/pods",
			`pods is forbidden: plugin "p1" was not granted list on resource "pods" in API group "" at the cluster scope of context its1`,
			&metav1.StatusDetails{Kind: "pods"}},
		{"a path", "GET", "/metrics", `forbidden: plugin "p1" was not granted get on path "/metrics" of context its1`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := do(t, tt.method, s.URL+tt.path, nil)
			if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Content-Type") != "application/json" {
				t.Fatalf("got %d %s; want 403 application/json", resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			var st metav1.Status
			if err := json.Unmarshal(body, &st); err != nil {
				t.Fatalf("decode the Status: %v (%s)", err, body)
			}
			if err := (&apierrors.StatusError{ErrStatus: st}); !apierrors.IsForbidden(err) {
				t.Errorf("IsForbidden is false for %s", body)
			}
			if st.Kind != "Status" || st.APIVersion != "v1" || st.Status != metav1.StatusFailure || st.Code != 403 || !strings.HasPrefix(st.Message, tt.wantMessage) {
				t.Errorf("Status: %+v\nwant message %s", st, tt.wantMessage)
			}
			if (st.Details == nil) != (tt.wantDetails == nil) || (st.Details != nil && !reflect.DeepEqual(*st.Details, *tt.wantDetails)) {
				t.Errorf("details: %+v; want %+v", st.Details, tt.wantDetails)
			}
		})
	}
	if n := len(api.seen()); n != 0 {
		t.Errorf("the API server got %d refused requests", n)
	}
	for _, d := range decisions() {
		if d.Allowed || d.Status != 403 || !errors.Is(d.Err, ErrNotGranted) {
			t.Errorf("decision for a refused request: %+v", d)
		}
	}
}

func TestHandlerRefusesUpgradesAndOddPaths(t *testing.T) {
	api := newFakeAPI(t)
	s, _ := serve(t, api.context(), Options{Plugin: "p1", Rules: []sdk.KubernetesRule{{APIGroups: []string{"*"}, Resources: []string{"*"}, Verbs: []string{"*"}}}})
	resp, body := do(t, "GET", s.URL+"/api/v1/namespaces/ns/pods/p/exec?command=sh", http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}})
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "not mediated") {
		t.Errorf("an upgrade: %d %s; want 403 saying it is not mediated", resp.StatusCode, body)
	}
	resp, body = do(t, "GET", s.URL+"/api/v1/namespaces/ns%2Fx/pods", nil)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), `"reason":"BadRequest"`) {
		t.Errorf("an escaped path: %d %s; want a 400 Status", resp.StatusCode, body)
	}
	if n := len(api.seen()); n != 0 {
		t.Errorf("the API server got %d refused requests", n)
	}
}

func TestHandlerStreamsAWatch(t *testing.T) {
	api := newFakeAPI(t)
	s, decisions := serve(t, api.context(), Options{Plugin: "p1", Rules: managedClusters})
	resp, err := http.Get(s.URL + "/apis/" + ocm + "/v1/managedclusters?watch=true")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	lines := bufio.NewReader(resp.Body)
	first := make(chan string, 1)
	go func() {
		line, _ := lines.ReadString('\n')
		first <- line
	}()
	// The server holds the rest of its answer until the first event is
	// read: it arrives only if the handler flushes as bytes come.
	select {
	case line := <-first:
		if !strings.Contains(line, `"ADDED"`) {
			t.Fatalf("first event: %q", line)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the first event of a watch did not arrive while the watch was open")
	}
	close(api.release)
	rest, err := io.ReadAll(lines)
	if err != nil || !strings.Contains(string(rest), `"MODIFIED"`) {
		t.Errorf("rest of the watch: %q, %v", rest, err)
	}
	resp.Body.Close()
	deadline := time.Now().Add(5 * time.Second)
	for len(decisions()) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if d := decisions(); len(d) != 1 || d[0].Attributes.Verb != "watch" || !d[0].Allowed || d[0].Status != 200 {
		t.Errorf("decisions: %+v", d)
	}
}

func TestHandlerUnreachable(t *testing.T) {
	api := newFakeAPI(t)
	c := api.context()
	api.Close()
	s, decisions := serve(t, c, Options{Plugin: "p1", Rules: managedClusters})
	resp, body := do(t, "GET", s.URL+"/apis/"+ocm+"/v1/managedclusters", nil)
	var st metav1.Status
	if err := json.Unmarshal(body, &st); err != nil || resp.StatusCode != 503 || st.Reason != metav1.StatusReasonServiceUnavailable {
		t.Errorf("an unreachable API server: %d %s", resp.StatusCode, body)
	}
	if d := decisions(); len(d) != 1 || !d[0].Allowed || d[0].Status != 503 || d[0].Err == nil {
		t.Errorf("decisions: %+v", d)
	}
}

func TestHandlerReadsTheTokenFile(t *testing.T) {
	api := newFakeAPI(t)
	c := api.context()
	path := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(path, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c.User.Token, c.User.TokenFile = "", path
	s, _ := serve(t, c, Options{Plugin: "p1", Rules: managedClusters})
	if resp, body := do(t, "GET", s.URL+"/apis/"+ocm+"/v1/managedclusters", nil); resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if a := api.seen()[0].Header.Get("Authorization"); a != "Bearer from-file" {
		t.Errorf("Authorization: %q; want the file's token", a)
	}

	c.User.TokenFile = filepath.Join(t.TempDir(), "missing")
	if _, err := NewUpstream(c); err == nil {
		t.Error("NewUpstream with a missing token file: no error")
	}
}

func TestFileTokenRotates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token")
	write := func(s string) {
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("one")
	f := &fileToken{path: path}
	now := time.Now()
	steps := []struct {
		after time.Duration
		write string // "" leaves the file; "-" removes it
		want  string
	}{
		{0, "", "one"},
		{time.Second, "two", "one"},    // read again only after tokenRefresh
		{tokenRefresh, "", "two"},      // rotated
		{2 * tokenRefresh, "-", "two"}, // gone: the last token read goes on
		{3 * tokenRefresh, "three", "three"},
	}
	for i, s := range steps {
		switch s.write {
		case "":
		case "-":
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
		default:
			write(s.write)
		}
		got, err := f.get(now.Add(s.after))
		if err != nil || got != s.want {
			t.Errorf("step %d: %q, %v; want %q", i, got, err, s.want)
		}
	}
}

func TestHandlerReportsAWatchThePluginEnds(t *testing.T) {
	api := newFakeAPI(t)
	s, decisions := serve(t, api.context(), Options{Plugin: "p1", Rules: managedClusters})
	resp, err := http.Get(s.URL + "/apis/" + ocm + "/v1/managedclusters?watch=true")
	if err != nil {
		t.Fatal(err)
	}
	if line, err := bufio.NewReader(resp.Body).ReadString('\n'); err != nil || !strings.Contains(line, "ADDED") {
		t.Fatalf("first event: %q, %v", line, err)
	}
	resp.Body.Close() // the plugin stops watching while the server still streams
	deadline := time.Now().Add(5 * time.Second)
	for len(decisions()) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if d := decisions(); len(d) != 1 || d[0].Attributes.Verb != "watch" || d[0].Status != 200 {
		t.Errorf("decisions after the plugin ended its watch: %+v", d)
	}
}
