package kubeaccess

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/kubestellar/ksplugins/sdk/kubeconfig"
)

// callerContext is a kubeconfig context a caller brought for api, with
// their own token.
func callerContext(api *fakeAPI, token string) kubeconfig.Context {
	c := api.context()
	c.Name, c.User = "theirs", kubeconfig.User{Name: "them", Token: token}
	return c
}

// reports collects the decisions of an Options' Report.
type reports struct {
	mu sync.Mutex
	d  []Decision
}

func (r *reports) report(d Decision) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.d = append(r.d, d)
}

func (r *reports) last() Decision {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.d) == 0 {
		return Decision{}
	}
	return r.d[len(r.d)-1]
}

// get sends a GET through h, served in process as a plugin's transport
// would, and answers the status.
func get(t *testing.T, h http.Handler, path string) int {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
	return w.Code
}

func TestExternalsServeWithTheGrantedRules(t *testing.T) {
	api := newFakeAPI(t)
	var rep reports
	e := NewExternals(Options{Plugin: "p1", Rules: managedClusters, Impersonate: true, Report: rep.report}, ExternalLimits{})
	t.Cleanup(e.Close)
	name, err := e.Add(callerContext(api, "caller-token"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(name, ExternalPrefix) || len(name) != len(ExternalPrefix)+16 {
		t.Fatalf("name %q", name)
	}
	server := strings.TrimPrefix(api.URL, "https://")
	tests := []struct {
		name, path string
		status     int
	}{
		{"granted", "/apis/" + ocm + "/v1/managedclusters/c1", http.StatusOK},
		{"another resource", "/api/v1/namespaces/default/secrets", http.StatusForbidden},
		{"discovery", "/apis", http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := get(t, e.Handler(name), tt.path); got != tt.status {
				t.Fatalf("status %d; want %d", got, tt.status)
			}
			d := rep.last()
			if d.Context != name || !d.External || d.Server != server || d.Status != tt.status {
				t.Errorf("decision %+v; want context %s, external, server %s", d, name, server)
			}
		})
	}
	seen := api.seen()
	if len(seen) != 2 {
		t.Fatalf("the API server got %d requests; want the 2 allowed", len(seen))
	}
	for _, r := range seen {
		if a := r.Header.Get("Authorization"); a != "Bearer caller-token" {
			t.Errorf("Authorization %q; want the caller's token", a)
		}
		if u := r.Header.Get("Impersonate-User"); u != "" {
			t.Errorf("a caller's cluster was asked to impersonate %q", u)
		}
	}
}

func TestExternalsNames(t *testing.T) {
	api := newFakeAPI(t)
	e := NewExternals(Options{Plugin: "p1", Rules: managedClusters}, ExternalLimits{Max: 2})
	t.Cleanup(e.Close)
	add := func(token string) string {
		t.Helper()
		name, err := e.Add(callerContext(api, token))
		if err != nil {
			t.Fatal(err)
		}
		return name
	}
	a, b := add("a"), add("b")
	if a == b {
		t.Fatalf("two clusters share the name %s", a)
	}
	if again := add("a"); again != a {
		t.Errorf("the same context added again got %s; want %s", again, a)
	}
	// a was used last: a third cluster releases b.
	c := add("c")
	if e.Len() != 2 {
		t.Fatalf("%d clusters kept; want the bound, 2", e.Len())
	}
	for _, tt := range []struct {
		name   string
		status int
	}{{a, http.StatusOK}, {b, http.StatusForbidden}, {c, http.StatusOK}} {
		if got := get(t, e.Handler(tt.name), "/apis/"+ocm+"/v1/managedclusters"); got != tt.status {
			t.Errorf("%s: status %d; want %d", tt.name, got, tt.status)
		}
	}
	if again := add("b"); again == b {
		t.Errorf("a released cluster's name %s was given again", b)
	}
}

func TestExternalsClose(t *testing.T) {
	api := newFakeAPI(t)
	var rep reports
	e := NewExternals(Options{Plugin: "p1", Rules: managedClusters, Report: rep.report}, ExternalLimits{})
	name, err := e.Add(callerContext(api, "t"))
	if err != nil {
		t.Fatal(err)
	}
	h := e.Handler(name) // kept by the plugin past the close
	e.Close()
	if e.Len() != 0 {
		t.Errorf("%d clusters kept after Close", e.Len())
	}
	if got := get(t, h, "/apis/"+ocm+"/v1/managedclusters"); got != http.StatusForbidden {
		t.Errorf("a request after Close: status %d; want 403", got)
	}
	if d := rep.last(); !d.External || d.Context != name || !errors.Is(d.Err, ErrContextNotGranted) {
		t.Errorf("the refusal after Close: %+v; want it external", d)
	}
	if _, err := e.Add(callerContext(api, "u")); !errors.Is(err, ErrExternalsClosed) {
		t.Errorf("Add after Close: %v; want ErrExternalsClosed", err)
	}
}

func TestNewExternalUpstreamRefuses(t *testing.T) {
	api := newFakeAPI(t)
	tests := []struct {
		name string
		edit func(*kubeconfig.Context)
		want string
	}{
		{"a token file", func(c *kubeconfig.Context) { c.User.TokenFile = "/var/run/secrets/token" }, "token file"},
		{"a server that is no URL", func(c *kubeconfig.Context) { c.Cluster.Server = "ftp://x" }, "not an http or https URL"},
		{"a CA that is no PEM", func(c *kubeconfig.Context) { c.Cluster.CAData = []byte("x") }, "no PEM certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := callerContext(api, "t")
			tt.edit(&c)
			if _, err := NewExternalUpstream(ExternalPrefix+"x", c, nil); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err %v; want it to say %q", err, tt.want)
			}
		})
	}
	up, err := NewExternalUpstream(ExternalPrefix+"x", callerContext(api, "t"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	if up.Context() != ExternalPrefix+"x" {
		t.Errorf("Context %q; want the name it was given", up.Context())
	}
	if u, _ := url.Parse(api.URL); up.server.Host != u.Host {
		t.Errorf("server %s; want %s", up.server.Host, u.Host)
	}
}

// TestExternalDeniedNetworks: a caller's cluster whose server is in a
// denied network is refused: at once, naming the server, for an address;
// when the connection is made, for a name that resolves into one. The
// API server sees nothing either way.
func TestExternalDeniedNetworks(t *testing.T) {
	api := newFakeAPI(t)
	loopback := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	e := NewExternals(Options{Plugin: "p1", Rules: managedClusters}, ExternalLimits{Denied: func() []netip.Prefix { return loopback }})
	defer e.Close()
	port := api.Listener.Addr().(*net.TCPAddr).Port
	for _, host := range []string{"127.0.0.1", "[::1]"} {
		c := callerContext(api, "t")
		c.Cluster.Server = fmt.Sprintf("https://%s:%d", host, port)
		var refused *kubeconfig.RefusedError
		if _, err := e.Add(c); !errors.As(err, &refused) || refused.Field != `clusters["`+c.Cluster.Name+`"].cluster.server` ||
			!strings.Contains(refused.Reason, "external_denied_networks") {
			t.Errorf("server %s: %v; want it refused naming the server and the setting", host, err)
		}
	}
	c := callerContext(api, "t")
	c.Cluster.Server = fmt.Sprintf("https://localhost:%d", port)
	name, err := e.Add(c)
	if err != nil {
		t.Fatalf("a name is checked when dialled, not before: %v", err)
	}
	w := httptest.NewRecorder()
	e.Handler(name).ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/apis/cluster.open-cluster-management.io/v1/managedclusters/c1", nil))
	if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), "external_denied_networks") {
		t.Errorf("localhost: %d %s; want 503 naming the setting", w.Code, w.Body)
	}
	if n := len(api.seen()); n != 0 {
		t.Errorf("the API server got %d requests", n)
	}
}
