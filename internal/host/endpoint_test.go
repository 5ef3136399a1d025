package host

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/kubestellar/ksplugins/internal/auth"
	"github.com/kubestellar/ksplugins/internal/store"
	"github.com/kubestellar/ksplugins/sdk"
)

// echoer answers what it was asked, and has one endpoint for callers with
// a token only.
type echoer struct{ testPlugin }

func (p *echoer) GetMetadata() sdk.PluginMetadata {
	return sdk.PluginMetadata{ID: p.id, Name: p.id, Version: "1.0.0", Endpoints: []sdk.EndpointConfig{
		{Path: "/echo", Method: "POST", Handler: "Echo"},
		{Path: "/private", Method: "GET", Handler: "Echo", Auth: &sdk.AuthConfig{Required: true}},
	}}
}

func (p *echoer) GetHandlers() map[string]gin.HandlerFunc {
	return map[string]gin.HandlerFunc{"Echo": func(c *gin.Context) {
		caller, _ := sdk.CallerOf(c.Request)
		c.JSON(http.StatusOK, gin.H{"authorization": c.Request.Header.Get("Authorization"), "subject": caller.Subject})
	}}
}

func operatorToken(_ context.Context, bearer string) (auth.Identity, error) {
	if bearer == "operator-token" {
		return auth.Identity{Name: "o", Role: auth.Operator}, nil
	}
	return auth.Identity{}, errors.New("invalid token")
}

// TestServeEndpointThroughTheGateway: the host serves every plugin
// endpoint through the request path of package gateway, with its own
// authentication, configuration and audit log behind it.
func TestServeEndpointThroughTheGateway(t *testing.T) {
	h := newTestHost(t)
	add(t, h, &echoer{testPlugin: testPlugin{id: "echo"}})
	call := func(method, path, token string) *httptest.ResponseRecorder {
		t.Helper()
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(method, EndpointPrefix+"echo"+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		h.ServeEndpoint(rec, req, "echo", path)
		return rec
	}

	// Without an authenticator, a token proves nobody.
	if rec := call("GET", "/private", "operator-token"); rec.Code != http.StatusUnauthorized || !strings.Contains(rec.Body.String(), "cannot check tokens") {
		t.Fatalf("without an authenticator: %d %s", rec.Code, rec.Body)
	}

	h.opts.Authenticate = operatorToken
	rec := call("POST", "/echo", "operator-token")
	var seen struct{ Authorization, Subject string }
	if err := json.Unmarshal(rec.Body.Bytes(), &seen); err != nil || rec.Code != http.StatusOK {
		t.Fatalf("%d %s: %v", rec.Code, rec.Body, err)
	}
	if seen.Authorization != "" || seen.Subject != "o" {
		t.Fatalf("the plugin saw authorization %q, caller %q; want none and o", seen.Authorization, seen.Subject)
	}
	if csp := rec.Result().Header.Get("Content-Security-Policy"); csp != "sandbox" {
		t.Fatalf("answer policy %q; want sandbox", csp)
	}
	entries, err := h.opts.Store.Audit(context.Background(), store.AuditQuery{Target: "echo"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Actor+" "+e.Action+" "+e.Result)
	}
	if want := []string{"o plugin-endpoint ok"}; !slices.Equal(got, want) {
		t.Fatalf("audit: got %q, want %q", got, want)
	}

	// The host's own answers, for a plugin it does not have, pass the
	// boundary too.
	rec = httptest.NewRecorder()
	h.ServeEndpoint(rec, httptest.NewRequest("GET", EndpointPrefix+"absent/x", nil), "absent", "/x")
	if rec.Code != http.StatusNotFound || rec.Result().Header.Get("Content-Security-Policy") != "sandbox" {
		t.Fatalf("no such plugin: %d %v", rec.Code, rec.Result().Header)
	}
}

func TestEndpointAuthDefault(t *testing.T) {
	h := newTestHost(t)
	h.opts.Authenticate = operatorToken
	sys := *h.system.Load()
	sys.EndpointAuth = "required"
	h.SetSystem(sys)
	add(t, h, &testPlugin{id: "demo", reply: "hi"})
	if r := serve(h, "GET", "demo", "/hello"); r.status != 401 {
		t.Fatalf("with endpoint_auth required, an anonymous call: %+v", r)
	}
}

func TestEndpointBase(t *testing.T) {
	for _, tc := range []struct{ path, id string }{
		{EndpointPrefix + "p/hello", "p"},
		{EndpointPrefix + "p", "p"},
		{EndpointPrefix + "pq/hello", "p"},
		{EndpointPrefix + "q/hello", "p"},
		{"/elsewhere/p/hello", "p"},
		{"/", "p"},
		{EndpointPrefix, ""},
	} {
		r := httptest.NewRequest("GET", tc.path, nil)
		if got := endpointBase(r, tc.id); got != EndpointPrefix+tc.id {
			t.Errorf("endpointBase(%q, %q) = %q", tc.path, tc.id, got)
		}
	}
}
