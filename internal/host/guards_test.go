package host

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	apiv1 "github.com/kubestellar/ksplugins/api/v1"

	"github.com/gin-gonic/gin"

	"github.com/kubestellar/ksplugins/internal/auth"
	"github.com/kubestellar/ksplugins/sdk"
)

// guarded has one endpoint per guard.
type guarded struct{ testPlugin }

func (p *guarded) GetMetadata() sdk.PluginMetadata {
	return sdk.PluginMetadata{ID: "guarded", Name: "guarded", Version: "1.0.0", Permissions: []string{"cluster.read"}, Endpoints: []sdk.EndpointConfig{
		{Path: "/open", Method: "GET", Handler: "OK"},
		{Path: "/login", Method: "GET", Handler: "OK", Auth: &sdk.AuthConfig{Required: true}},
		{Path: "/ops", Method: "GET", Handler: "OK", Auth: &sdk.AuthConfig{Required: true, Roles: []string{"operator"}}},
		{Path: "/read", Method: "GET", Handler: "OK", Auth: &sdk.AuthConfig{Permissions: []string{"cluster.read"}}},
		{Path: "/write", Method: "GET", Handler: "OK", Auth: &sdk.AuthConfig{Permissions: []string{"cluster.write"}}},
		{Path: "/limited", Method: "GET", Handler: "OK", RateLimit: &sdk.RateLimitConfig{Enabled: true, RPM: 3}},
	}}
}

func (p *guarded) GetHandlers() map[string]gin.HandlerFunc {
	return map[string]gin.HandlerFunc{"OK": func(c *gin.Context) { c.String(http.StatusOK, "ok") }}
}

func tokens(_ context.Context, bearer string) (auth.Identity, error) {
	switch bearer {
	case "viewer-token":
		return auth.Identity{Name: "v", Role: auth.Viewer}, nil
	case "operator-token":
		return auth.Identity{Name: "o", Role: auth.Operator}, nil
	}
	return auth.Identity{}, errors.New("invalid token")
}

func callGuarded(h *Host, path, token string) response {
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", EndpointPrefix+"guarded"+path, nil)
	req.RemoteAddr = "192.0.2.1:1234"
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	h.ServeEndpoint(rec, req, "guarded", path)
	return response{status: rec.Code, body: rec.Body.String()}
}

// TestEndpointGuards proves each guard by a request it refuses and one it
// lets through: removing a check fails a row.
func TestEndpointGuards(t *testing.T) {
	h := newTestHost(t)
	h.opts.Authenticate = tokens
	p := &guarded{testPlugin: testPlugin{id: "guarded"}}
	in := &instance{impl: p, meta: p.GetMetadata()}
	plug := &Plugin{id: "guarded", state: apiv1.StateLoading, enabled: true, grants: []string{"cluster.read"}}
	if err := h.register(context.Background(), plug, in, true); err != nil {
		t.Fatal(err)
	}
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
			r := callGuarded(h, tt.path, tt.token)
			if r.status != tt.status || !strings.Contains(r.body, tt.contains) {
				t.Fatalf("got %d %s; want %d containing %q", r.status, r.body, tt.status, tt.contains)
			}
		})
	}
	for i := range 3 {
		if r := callGuarded(h, "/limited", ""); r.status != 200 {
			t.Fatalf("request %d within the limit: %+v", i, r)
		}
	}
	if r := callGuarded(h, "/limited", ""); r.status != 429 || !strings.Contains(r.body, "allows 3 requests") {
		t.Fatalf("past the limit: %+v", r)
	}
}

func TestEndpointAuthDefault(t *testing.T) {
	h := newTestHost(t)
	h.opts.Authenticate = tokens
	sys := *h.system.Load()
	sys.EndpointAuth = "required"
	h.SetSystem(sys)
	add(t, h, &testPlugin{id: "demo", reply: "hi"})
	if r := serve(h, "GET", "demo", "/hello"); r.status != 401 {
		t.Fatalf("with endpoint_auth required, an anonymous call: %+v", r)
	}
}

func TestGrant(t *testing.T) {
	md := &sdk.PluginMetadata{Permissions: []string{"cluster.read", "made.up"}, Security: sdk.SecurityConfig{NetworkAccess: true}}
	h := newTestHost(t)
	granted, warnings := h.grant(md)
	if strings.Join(granted, ",") != "cluster.read,made.up,network.egress" || len(warnings) != 1 || !strings.Contains(warnings[0], "made.up") {
		t.Fatalf("normal: %v %v", granted, warnings)
	}
	sys := *h.system.Load()
	sys.SecurityMode, sys.GrantedPermissions = "strict", []string{"cluster.read"}
	h.SetSystem(sys)
	granted, warnings = h.grant(md)
	if strings.Join(granted, ",") != "cluster.read" || len(warnings) != 2 {
		t.Fatalf("strict: %v %v", granted, warnings)
	}
}
