package gateway

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/kubestellar/ksplugins/sdk"
)

// guarded has one endpoint per guard.
func guarded() *plugin {
	return &plugin{md: sdk.PluginMetadata{ID: "guarded", Name: "guarded", Version: "1.0.0", Permissions: []string{"cluster.read"}, Endpoints: []sdk.EndpointConfig{
		{Path: "/open", Method: "GET", Handler: "OK"},
		{Path: "/login", Method: "GET", Handler: "OK", Auth: &sdk.AuthConfig{Required: true}},
		{Path: "/ops", Method: "GET", Handler: "OK", Auth: &sdk.AuthConfig{Required: true, Roles: []string{"operator"}}},
		{Path: "/read", Method: "GET", Handler: "OK", Auth: &sdk.AuthConfig{Permissions: []string{"cluster.read"}}},
		{Path: "/write", Method: "GET", Handler: "OK", Auth: &sdk.AuthConfig{Permissions: []string{"cluster.write"}}},
		{Path: "/limited", Method: "GET", Handler: "OK", RateLimit: &sdk.RateLimitConfig{Enabled: true, RPM: 3}},
		{Path: "/upload", Method: "POST", Handler: "Read"},
	}}, handlers: map[string]gin.HandlerFunc{
		"OK": func(c *gin.Context) { c.String(http.StatusOK, "ok") },
		"Read": func(c *gin.Context) {
			if _, err := c.GetRawData(); err != nil {
				c.String(http.StatusRequestEntityTooLarge, "read: %v", err)
				return
			}
			c.String(http.StatusOK, "ok")
		},
	}}
}

func bearer(token string) map[string]string {
	if token == "" {
		return nil
	}
	return map[string]string{"Authorization": "Bearer " + token}
}

// TestEndpointGuards proves each guard by a request it refuses and one it
// lets through: removing a check fails a row.
func TestEndpointGuards(t *testing.T) {
	s := serve(t, newBackend(), guarded(), "cluster.read")
	tests := []struct {
		name, path, token string
		status            int
		contains          string
	}{
		{"public", "/open", "", 200, ""},
		{"login without token", "/login", "", 401, "requires a valid token"},
		{"login with bad token", "/login", "nope", 401, "invalid token"},
		{"login with token", "/login", "viewer-token", 200, ""},
		{"role too low", "/ops", "viewer-token", 403, "needs the role operator"},
		{"role enough", "/ops", "operator-token", 200, ""},
		{"permission granted", "/read", "", 200, ""},
		{"permission not granted", "/write", "", 403, "was not granted cluster.write"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := s.call("GET", tt.path, bearer(tt.token))
			if rec.Code != tt.status || !strings.Contains(rec.Body.String(), tt.contains) {
				t.Fatalf("got %d %s; want %d containing %q", rec.Code, rec.Body, tt.status, tt.contains)
			}
		})
	}
	for i := range 3 {
		if rec := s.call("GET", "/limited", nil); rec.Code != 200 {
			t.Fatalf("request %d within the limit: %d %s", i, rec.Code, rec.Body)
		}
	}
	rec := s.call("GET", "/limited", nil)
	if rec.Code != 429 || !strings.Contains(rec.Body.String(), "allows 3 requests") || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("past the limit: %d %v %s", rec.Code, rec.Header(), rec.Body)
	}
}

func TestEndpointAuthDefault(t *testing.T) {
	b := newBackend()
	b.sys.EndpointAuth = "required"
	s := serve(t, b, guarded(), "cluster.read")
	if rec := s.call("GET", "/open", nil); rec.Code != 401 {
		t.Fatalf("with endpoint_auth required, an anonymous call: %d %s", rec.Code, rec.Body)
	}
	if rec := s.call("GET", "/open", bearer("viewer-token")); rec.Code != 200 {
		t.Fatalf("with endpoint_auth required, a caller with a token: %d %s", rec.Code, rec.Body)
	}
}

func TestBodyLimit(t *testing.T) {
	b := newBackend()
	b.sys.MaxRequestBytes = 1 << 10
	s := serve(t, b, guarded())
	tests := []struct {
		name     string
		size     int
		declared bool // the request says its length up front
		status   int
	}{
		{"within the limit", 1 << 10, true, 200},
		{"declared over the limit", 1<<10 + 1, true, 413},
		{"undeclared over the limit", 1<<10 + 1, false, 413},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest("POST", base+"guarded/upload", strings.NewReader(strings.Repeat("x", tt.size)))
			if !tt.declared {
				req.ContentLength = -1
			}
			if rec := s.do(req, "/upload"); rec.Code != tt.status {
				t.Fatalf("%d %s; want %d", rec.Code, rec.Body, tt.status)
			}
		})
	}
}
