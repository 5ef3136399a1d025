package api

import (
	"slices"
	"strings"
	"testing"

	"github.com/kubestellar/ksplugins/internal/auth"
)

// What the plugin manager page needs of the API.

// TestWhoamiAllowed: whoami lists exactly the actions the role may take,
// from the table that enforces them.
func TestWhoamiAllowed(t *testing.T) {
	s, h := newServer(t)
	cases := []struct {
		role         string
		bearer       string
		allowed, not []string
	}{
		{auth.Viewer, roleToken(t, s, auth.Viewer), []string{"list", "events-ticket", "plugin-metrics"}, []string{"enable", "configure", "unload", "upload"}},
		{auth.Operator, roleToken(t, s, auth.Operator), []string{"enable", "disable", "reload", "configure"}, []string{"unload", "upload", "update", "configure-system", "cache-purge"}},
		{auth.Admin, token, []string{"unload", "upload", "update", "configure-system", "cache-purge"}, nil},
	}
	for _, c := range cases {
		t.Run(c.role, func(t *testing.T) {
			r := do(h, "GET", "/api/plugins/whoami", "", "Bearer "+c.bearer)
			if r.status != 200 || r.body["role"] != c.role {
				t.Fatalf("whoami: %s", r.raw)
			}
			var got []string
			for _, a := range r.body["allowed"].([]any) {
				got = append(got, a.(string))
			}
			for _, a := range c.allowed {
				if !slices.Contains(got, a) {
					t.Errorf("%s may %s; allowed lists %v", c.role, a, got)
				}
			}
			for _, a := range c.not {
				if slices.Contains(got, a) {
					t.Errorf("%s may not %s; allowed lists it", c.role, a)
				}
			}
		})
	}
}

// TestPage: the server serves the plugin manager page and sends a browser
// opening it there.
func TestPage(t *testing.T) {
	_, h := newServer(t)
	cases := []struct {
		method, path string
		status       int
		location     string
	}{
		{"GET", "/", 302, "/ui/"},
		{"GET", "/ui", 301, "/ui/"},
		{"GET", "/ui/", 200, ""},
		{"HEAD", "/ui/", 200, ""},
		{"GET", "/ui/no-such-file.js", 404, ""},
		{"POST", "/ui/", 405, ""},
	}
	for _, c := range cases {
		t.Run(c.method+" "+c.path, func(t *testing.T) {
			r := do(h, c.method, c.path, "", "")
			if r.status != c.status || r.header.Get("Location") != c.location {
				t.Fatalf("got %d to %q; want %d to %q", r.status, r.header.Get("Location"), c.status, c.location)
			}
			if c.status == 200 && !strings.Contains(r.header.Get("Content-Security-Policy"), "default-src 'none'") {
				t.Fatalf("no content security policy: %v", r.header)
			}
		})
	}
}

func TestPluginMetricsUnknown(t *testing.T) {
	_, h := newServer(t)
	if r := do(h, "GET", "/api/plugins/absent/metrics", "", "Bearer "+token); r.status != 404 || r.code() != "plugin_not_found" {
		t.Fatalf("got %d %s", r.status, r.raw)
	}
}

// TestPluginUIRoutes: the bridge script and plugins' UI files are served
// without credentials, under the policy that keeps them out of the page's
// origin; a plugin that is not loaded has none.
func TestPluginUIRoutes(t *testing.T) {
	_, h := newServer(t)
	cases := []struct {
		method, path string
		status       int
	}{
		{"GET", "/plugins-ui/bridge-v1.js", 200},
		{"HEAD", "/plugins-ui/bridge-v1.js", 200},
		{"GET", "/plugins-ui/absent/index.html", 404},
		{"GET", "/plugins-ui/absent/../../api/plugins", 404},
	}
	for _, c := range cases {
		t.Run(c.method+" "+c.path, func(t *testing.T) {
			r := do(h, c.method, c.path, "", "")
			if r.status != c.status {
				t.Fatalf("status %d, want %d: %s", r.status, c.status, r.raw)
			}
			if csp := r.header.Get("Content-Security-Policy"); !strings.Contains(csp, "sandbox allow-scripts") || !strings.Contains(csp, "connect-src 'none'") {
				t.Fatalf("policy %q", csp)
			}
		})
	}
}
