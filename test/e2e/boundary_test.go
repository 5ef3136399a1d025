package e2e

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestCallerBoundary: in either tier, a plugin never sees the caller's
// credentials (it learns who called from the host), nothing it prints can
// leak them to the server log, and its answers cannot set cookies or
// cross-origin grants for the server's origin.
func TestCallerBoundary(t *testing.T) {
	f := setup(t)
	s := startServer(t, f)
	for _, tier := range []string{"native", "sandboxed"} {
		t.Run(tier, func(t *testing.T) {
			dir := copyPlugin(t, filepath.Join(f.root, "test/e2e/testdata/plugins/boundary"))
			if tier == "sandboxed" {
				sandbox(t, dir)
			}
			r := s.api("POST", "/api/plugins/load", map[string]any{"source": dir})
			want(t, "load", r, 201, "")
			if r.body["tier"] != tier {
				t.Fatalf("tier %v, want %s", r.body["tier"], tier)
			}
			defer s.api("DELETE", "/api/plugins/boundary", nil)

			for _, path := range []string{"/echo?ticket=secret-ticket&keep=1", "/private"} {
				req, err := http.NewRequest("GET", s.url+"/api/plugin-endpoints/boundary"+path, nil)
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("Authorization", "Bearer "+s.token)
				req.Header.Set("Cookie", "session=secret-cookie")
				req.Header.Set("Proxy-Authorization", "Basic secret-proxy")
				req.Header.Set("Ksplugins-Caller-Role", "forged")
				r := s.send(req)
				want(t, "GET "+path, r, 200, "")
				for _, secret := range []string{s.token, "secret-ticket", "secret-cookie", "secret-proxy", "forged"} {
					if strings.Contains(r.raw, secret) {
						t.Fatalf("the plugin saw %q: %s", secret, r.raw)
					}
				}
				caller, _ := r.body["caller"].(map[string]any)
				if caller["subject"] != "admin" || caller["role"] != "admin" || caller["auth"] != "admin-token" {
					t.Fatalf("the plugin was not told who called: %s", r.raw)
				}
			}
			want(t, "private without a token", s.endpoint("GET", "boundary", "/private"), 401, "unauthorized")
			if strings.Contains(s.logs.String(), s.token) {
				t.Fatalf("the token reached the server log")
			}

			resp, err := http.Get(s.url + "/api/plugin-endpoints/boundary/page")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			h := resp.Header
			if h.Get("Set-Cookie") != "" || h.Get("Access-Control-Allow-Origin") != "" || h.Get("Access-Control-Allow-Credentials") != "" {
				t.Fatalf("the plugin set headers for the server's origin: %v", h)
			}
			if !slices.Contains(h.Values("Content-Security-Policy"), "sandbox") || h.Get("X-Content-Type-Options") != "nosniff" {
				t.Fatalf("the plugin's page is not sandboxed: %v", h)
			}
		})
	}
}

// TestEndpointEdges: a trailing slash redirects inside the plugin, and a
// load body with a misspelt field is refused instead of skipping what the
// field meant (here, the integrity check).
func TestEndpointEdges(t *testing.T) {
	f := setup(t)
	s := startServer(t, f)
	dir := copyPlugin(t, filepath.Join(f.root, "plugins/examples/hello"))

	r := s.api("POST", "/api/plugins/load", map[string]any{"source": dir, "check_sum": "sha256:" + strings.Repeat("0", 64)})
	want(t, "load with a misspelt field", r, 400, "")
	if !strings.Contains(r.raw, "check_sum") {
		t.Fatalf("the refusal does not name the field: %s", r)
	}
	want(t, "nothing was loaded", s.api("GET", "/api/plugins/"+helloID, nil), 404, "")
	want(t, "load", s.api("POST", "/api/plugins/load", map[string]any{"source": dir}), 201, "")

	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, forged := range []string{"", "/evil"} {
		req, _ := http.NewRequest("GET", s.url+"/api/plugin-endpoints/"+helloID+"/hello/", nil)
		if forged != "" {
			req.Header.Set("X-Forwarded-Prefix", forged)
		}
		resp, err := noFollow.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if loc := resp.Header.Get("Location"); resp.StatusCode/100 != 3 || loc != "/api/plugin-endpoints/"+helloID+"/hello" {
			t.Fatalf("/hello/ (X-Forwarded-Prefix %q): %d to %q", forged, resp.StatusCode, loc)
		}
	}
}

// TestEndpointAudit: plugin endpoint calls that may change state are in the
// audit log with who made them; reads are not.
func TestEndpointAudit(t *testing.T) {
	f := setup(t)
	s := startServer(t, f)
	dir := copyPlugin(t, filepath.Join(f.root, "test/e2e/testdata/plugins/boundary"))
	want(t, "load", s.api("POST", "/api/plugins/load", map[string]any{"source": dir}), 201, "")
	want(t, "a call as admin", s.call("POST", "/api/plugin-endpoints/boundary/echo", nil, true), 200, "")
	want(t, "an anonymous call", s.call("POST", "/api/plugin-endpoints/boundary/echo", nil, false), 200, "")
	want(t, "a read", s.call("GET", "/api/plugin-endpoints/boundary/echo", nil, false), 200, "")
	r := s.api("GET", "/api/plugins/audit?target=boundary", nil)
	var got struct {
		Entries []struct{ Actor, Action, Result string }
	}
	if err := json.Unmarshal([]byte(r.raw), &got); err != nil {
		t.Fatalf("%s: %v", r, err)
	}
	var seen []string
	for _, e := range got.Entries {
		if e.Action == "plugin-endpoint" {
			seen = append(seen, e.Actor+" "+e.Result)
		}
	}
	if want := []string{"admin ok", "anonymous ok"}; !slices.Equal(seen, want) {
		t.Fatalf("endpoint calls audited: %q, want %q (%s)", seen, want, r)
	}
}

// TestPluginPageIsolated: in Chromium, a page a plugin serves cannot read
// what the signed-in management page keeps (its token in sessionStorage)
// and cannot plant a cookie on the server's origin, though both are served
// by the same server.
func TestPluginPageIsolated(t *testing.T) {
	f := setup(t)
	s := startServer(t, f)
	dir := copyPlugin(t, filepath.Join(f.root, "test/e2e/testdata/plugins/boundary"))
	want(t, "load", s.api("POST", "/api/plugins/load", map[string]any{"source": dir}), 201, "")

	b := newBrowser(t, 1280, 800)
	b.signIn(s.url+"/ui/", s.token)
	if kept := eval[string](b, `JSON.stringify(sessionStorage)`); !strings.Contains(kept, s.token) {
		t.Fatalf("the signed-in page does not keep its token where this test expects it: %s", kept)
	}

	// The same tab goes to the plugin's page: same scheme, host and port.
	b.step("open the plugin's page", chromedp.Navigate(s.url+"/api/plugin-endpoints/boundary/page"))
	b.waitFor("the plugin's page", `document.readyState === "complete"`)
	if title := eval[string](b, `document.title`); strings.Contains(title, s.token) || strings.Contains(title, "token:") {
		t.Fatalf("the plugin's script read the page's storage: %q", title)
	}
	if origin := eval[string](b, `window.origin`); origin != "null" {
		t.Fatalf("the plugin's page runs in origin %q, want an opaque one", origin)
	}
	if got := eval[string](b, `(() => { try { return "read " + JSON.stringify(sessionStorage) } catch (e) { return "refused " + e.name } })()`); !strings.HasPrefix(got, "refused") {
		t.Fatalf("the plugin's page reached sessionStorage: %s", got)
	}

	b.step("back to the management page", chromedp.Navigate(s.url+"/ui/"))
	b.waitFor("the page", `document.readyState === "complete"`)
	if cookie := eval[string](b, `document.cookie`); strings.Contains(cookie, "planted") {
		t.Fatalf("the plugin planted a cookie on the server's origin: %q", cookie)
	}
}
