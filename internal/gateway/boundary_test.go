package gateway

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

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
