package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/kubestellar/ksplugins/sdk"
)

// hostile tries what a plugin should not be able to: read credentials,
// set cookies and cross-origin grants, serve HTML as the server's origin,
// take the connection.
func hostile() *plugin {
	return &plugin{md: sdk.PluginMetadata{ID: "hostile", Name: "hostile", Version: "1.0.0", Endpoints: []sdk.EndpointConfig{
		{Path: "/echo", Method: "GET", Handler: "Echo"},
		{Path: "/echo", Method: "POST", Handler: "Echo"},
		{Path: "/page", Method: "GET", Handler: "Page"},
		{Path: "/hijack", Method: "GET", Handler: "Hijack"},
	}}, handlers: map[string]gin.HandlerFunc{
		"Echo": func(c *gin.Context) {
			caller, _ := sdk.CallerOf(c.Request)
			c.JSON(http.StatusOK, gin.H{"header": c.Request.Header, "query": c.Request.URL.RawQuery, "caller": caller})
		},
		"Page": func(c *gin.Context) {
			c.Header("Set-Cookie", "session=stolen; Path=/")
			c.Header("Access-Control-Allow-Origin", "*")
			c.Header("Access-Control-Allow-Credentials", "true")
			c.Header("Content-Security-Policy-Report-Only", "default-src *")
			c.Data(http.StatusOK, "text/html", []byte("<script>parent.document.title = sessionStorage.token</script>"))
		},
		"Hijack": func(c *gin.Context) {
			if _, _, err := c.Writer.Hijack(); err != nil {
				c.String(http.StatusTeapot, "%v", err)
				return
			}
			c.String(http.StatusOK, "hijacked")
		},
	}}
}

func TestBoundary(t *testing.T) {
	b := newBackend()
	s := serve(t, b, hostile())
	type echo struct {
		Header http.Header
		Query  string
		Caller sdk.Caller
	}
	read := func(rec *httptest.ResponseRecorder) echo {
		t.Helper()
		var e echo
		if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil {
			t.Fatalf("%d %s: %v", rec.Code, rec.Body, err)
		}
		return e
	}

	t.Run("credentials never reach the plugin", func(t *testing.T) {
		tests := []struct {
			name   string
			header map[string]string
			query  string
			caller sdk.Caller
		}{
			{"valid token", map[string]string{"Authorization": "Bearer operator-token"}, "", sdk.Caller{Subject: "o", Role: "operator"}},
			{"invalid token", map[string]string{"Authorization": "Bearer forged"}, "", sdk.Caller{}},
			{"cookie and proxy credentials", map[string]string{"Cookie": "a=b", "Proxy-Authorization": "Basic eDp5"}, "", sdk.Caller{}},
			{"ticket in the query", nil, "ticket=secret&keep=1", sdk.Caller{}},
			{"spoofed caller", map[string]string{sdk.CallerSubjectHeader: "admin", sdk.CallerRoleHeader: "admin", "Ksplugins-Caller-Extra": "x"}, "", sdk.Caller{}},
			{"spoofed caller beside a real one", map[string]string{"Authorization": "Bearer viewer-token", sdk.CallerRoleHeader: "admin"}, "", sdk.Caller{Subject: "v", Role: "viewer"}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				path := "/echo"
				if tt.query != "" {
					path += "?" + tt.query
				}
				e := read(s.call("GET", path, tt.header))
				for _, k := range []string{"Authorization", "Cookie", "Proxy-Authorization", "Ksplugins-Caller-Extra"} {
					if v := e.Header.Get(k); v != "" {
						t.Errorf("the plugin saw %s: %q", k, v)
					}
				}
				if strings.Contains(e.Query, "ticket") || (tt.query != "" && !strings.Contains(e.Query, "keep=1")) {
					t.Errorf("query the plugin saw: %q", e.Query)
				}
				if e.Caller != tt.caller {
					t.Errorf("caller: got %+v, want %+v", e.Caller, tt.caller)
				}
			})
		}
	})

	t.Run("a query without credentials reaches the plugin as sent", func(t *testing.T) {
		if e := read(s.call("GET", "/echo?b=2&a=1", nil)); e.Query != "b=2&a=1" {
			t.Fatalf("query the plugin saw: %q", e.Query)
		}
	})

	t.Run("answers cannot act for the server's origin", func(t *testing.T) {
		got := s.call("GET", "/page", nil).Result().Header
		for _, k := range []string{"Set-Cookie", "Access-Control-Allow-Origin", "Access-Control-Allow-Credentials", "Content-Security-Policy-Report-Only"} {
			if v := got.Get(k); v != "" {
				t.Errorf("%s reached the browser: %q", k, v)
			}
		}
		if !slices.Contains(got.Values("Content-Security-Policy"), "sandbox") || got.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("policy headers missing: %v", got)
		}
		// The router's own answers carry the policy too.
		rec := s.call("GET", "/nowhere", nil)
		if rec.Code != http.StatusNotFound || rec.Result().Header.Get("Content-Security-Policy") != "sandbox" {
			t.Errorf("a 404 for the plugin: %d %v", rec.Code, rec.Result().Header)
		}
	})

	t.Run("no hijack", func(t *testing.T) {
		rec := s.call("GET", "/hijack", nil)
		// gin counts the answer as started when a handler asks, so the
		// status stays 200; the error is what the plugin got.
		if !strings.Contains(rec.Body.String(), "cannot take over") {
			t.Fatalf("%d %s", rec.Code, rec.Body)
		}
	})

	t.Run("a trailing slash redirects inside the plugin", func(t *testing.T) {
		rec := s.call("GET", "/echo/", map[string]string{"X-Forwarded-Prefix": "/evil"})
		if loc := rec.Result().Header.Get("Location"); rec.Code/100 != 3 || loc != base+"hostile/echo" {
			t.Fatalf("%d to %q", rec.Code, loc)
		}
	})

	t.Run("calls that change state are audited with the caller", func(t *testing.T) {
		b.mu.Lock()
		b.audit = nil
		b.mu.Unlock()
		s.call("POST", "/echo", map[string]string{"Authorization": "Bearer operator-token"})
		s.call("POST", "/echo", nil)
		s.call("GET", "/echo", nil)
		b.mu.Lock()
		defer b.mu.Unlock()
		var got []string
		for _, e := range b.audit {
			got = append(got, e.Actor+" "+e.Action+" "+e.Target+" "+e.Result+" "+e.Details["method"].(string)+" "+e.Details["path"].(string))
		}
		if want := []string{"o plugin-endpoint hostile ok POST /echo", "anonymous plugin-endpoint hostile ok POST /echo"}; !slices.Equal(got, want) {
			t.Fatalf("audit: got %q, want %q", got, want)
		}
	})
}

func TestAdmitCopies(t *testing.T) {
	g := New(newBackend())
	type ctxKey struct{}
	parent, cancel := context.WithCancel(context.WithValue(context.Background(), ctxKey{}, "server's"))
	defer cancel()
	req := httptest.NewRequestWithContext(parent, "GET", base+"p/x?t%69cket=secret&keep=1", nil)
	req.URL.User = url.UserPassword("u", "p")
	req.Header["Accept"] = []string{"a", "b"}
	req.Header["X-Two"] = []string{"c"}
	req.Header["X-Empty"] = nil
	req.Header.Set("Authorization", "Bearer viewer-token")
	before := req.Header.Clone()

	r := g.Admit(req, base+"p/", "/x")
	if r.URL.Path != "/x" || req.URL.Path != base+"p/x" {
		t.Errorf("paths: plugin %q, server %q", r.URL.Path, req.URL.Path)
	}
	if r.URL.RawQuery != "keep=1" {
		t.Errorf("an escaped ticket reached the plugin: %q", r.URL.RawQuery)
	}
	if v, ok := r.Header["X-Empty"]; !ok || v != nil {
		t.Errorf("a header without values: %q, %v", v, ok)
	}
	want := http.Header{"Accept": {"a", "b"}, "X-Two": {"c"}, "X-Empty": nil, "X-Forwarded-Prefix": {base + "p"},
		sdk.CallerSubjectHeader: {"v"}, sdk.CallerRoleHeader: {"viewer"}, sdk.CallerAuthHeader: {""}}
	if !reflect.DeepEqual(r.Header, want) {
		t.Errorf("the plugin's header: %v; want %v", r.Header, want)
	}
	if c, ok := sdk.CallerOf(r); !ok || c.Subject != "v" {
		t.Errorf("caller: %+v %v", c, ok)
	}

	// What the plugin does to its request stays in its request.
	r.Header["Accept"] = append(r.Header["Accept"], "appended")
	r.Header["X-Two"][0] = "changed"
	r.Header.Set("X-New", "n")
	r.URL.User = nil
	if !reflect.DeepEqual(req.Header, before) || req.URL.User == nil {
		t.Errorf("the server's request changed: %v %v", req.Header, req.URL)
	}
	want["Accept"] = []string{"a", "b", "appended"}
	want["X-Two"] = []string{"changed"}
	want["X-New"] = []string{"n"}
	if !reflect.DeepEqual(r.Header, want) {
		t.Errorf("an append to one header reached another: %v", r.Header)
	}

	// The plugin's context is the server's, with the caller added.
	if r.Context().Value(ctxKey{}) != "server's" {
		t.Error("the plugin's context lost the server's values")
	}
	cancel()
	select {
	case <-r.Context().Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the plugin's context outlived the server's")
	}
	derived, stop := context.WithCancel(r.Context())
	defer stop()
	if derived.Err() == nil {
		t.Error("a context derived from the plugin's missed its end")
	}
}

// A request read before the host sees it keeps its own copies of what was
// read, as Clone makes them.
func TestAdmitCopiesWhatWasRead(t *testing.T) {
	req := httptest.NewRequest("POST", base+"p/x", strings.NewReader("a=1"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if err := req.ParseForm(); err != nil {
		t.Fatal(err)
	}
	req.TransferEncoding = []string{"chunked"}
	req.Trailer = http.Header{"X-Sum": {"s"}}
	r := New(newBackend()).Admit(req, base+"p", "/x")
	r.Form["a"][0] = "2"
	r.PostForm.Set("b", "3")
	r.TransferEncoding[0] = "gzip"
	r.Trailer.Set("X-Sum", "t")
	if req.Form.Get("a") != "1" || req.PostForm.Has("b") || req.TransferEncoding[0] != "chunked" || req.Trailer.Get("X-Sum") != "s" {
		t.Errorf("the server's request changed: %v %v %v %v", req.Form, req.PostForm, req.TransferEncoding, req.Trailer)
	}
}

func TestSealKeepsThePluginsPolicy(t *testing.T) {
	rec := httptest.NewRecorder()
	w := NewWriter(context.Background(), rec)
	w.Header().Set("Content-Security-Policy", "default-src 'self'")
	w.Header().Set("X-Content-Type-Options", "other")
	w.Header().Set("Set-Cookie2", "a=b")
	w.Header().Set("Access-Control-Max-Age", "1")
	w.WriteHeader(http.StatusCreated)
	got := rec.Result().Header
	if csp := got.Values("Content-Security-Policy"); !slices.Equal(csp, []string{"default-src 'self'", "sandbox"}) {
		t.Errorf("Content-Security-Policy: %q", csp)
	}
	if v := got.Values("X-Content-Type-Options"); !slices.Equal(v, []string{"nosniff"}) {
		t.Errorf("X-Content-Type-Options: %q", v)
	}
	if got.Get("Set-Cookie2") != "" || got.Get("Access-Control-Max-Age") != "" {
		t.Errorf("dropped headers were sent: %v", got)
	}
}

// The header keys the boundary writes directly must be canonical, as
// http.Header's methods would have made them.
func TestHeaderKeysAreCanonical(t *testing.T) {
	keys := []string{forwardedPrefixHeader, sdk.CallerSubjectHeader, sdk.CallerRoleHeader, sdk.CallerAuthHeader,
		"Content-Security-Policy", "X-Content-Type-Options"}
	keys = append(keys, credentialHeaders[:]...)
	keys = append(keys, answerHeadersDropped[:]...)
	for _, k := range keys {
		if c := http.CanonicalHeaderKey(k); c != k {
			t.Errorf("%q is not canonical: %q", k, c)
		}
	}
}
