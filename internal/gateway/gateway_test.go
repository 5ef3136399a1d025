package gateway

import (
	"cmp"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/kubestellar/ksplugins/internal/auth"
	"github.com/kubestellar/ksplugins/internal/config"
	"github.com/kubestellar/ksplugins/internal/ratelimit"
	"github.com/kubestellar/ksplugins/internal/store"
	"github.com/kubestellar/ksplugins/internal/traffic"
	"github.com/kubestellar/ksplugins/sdk"
)

// base is where the test plugins' endpoints are served.
const base = "/api/plugin-endpoints/"

// backend is a host with two tokens, a live configuration and an audit log.
type backend struct {
	sys     config.System
	limiter *ratelimit.Limiter

	mu    sync.Mutex
	audit []store.AuditEntry
}

func newBackend() *backend {
	return &backend{sys: config.DefaultSystem(), limiter: ratelimit.New(nil)}
}

func (b *backend) Authenticate(_ context.Context, bearer string) (auth.Identity, error) {
	switch bearer {
	case "viewer-token":
		return auth.Identity{Name: "v", Role: auth.Viewer}, nil
	case "operator-token":
		return auth.Identity{Name: "o", Role: auth.Operator}, nil
	}
	return auth.Identity{}, errors.New("invalid token")
}

func (b *backend) System() *config.System      { return &b.sys }
func (b *backend) Limiter() *ratelimit.Limiter { return b.limiter }

func (b *backend) AppendAudit(_ context.Context, e store.AuditEntry) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.audit = append(b.audit, e)
	return nil
}

// plugin is a plugin with the given endpoints and handlers and sdk.Base's
// defaults for the rest.
type plugin struct {
	sdk.Base
	md       sdk.PluginMetadata
	handlers map[string]gin.HandlerFunc
}

func (p *plugin) GetMetadata() sdk.PluginMetadata         { return p.md }
func (p *plugin) GetHandlers() map[string]gin.HandlerFunc { return p.handlers }

// served is one plugin behind the gateway, as the host serves it.
type served struct {
	t        *testing.T
	g        Gateway
	id       string
	engine   *gin.Engine
	counters *traffic.Counters
}

func serve(t *testing.T, b Backend, p *plugin, granted ...string) *served {
	t.Helper()
	g := New(b)
	s := &served{t: t, g: g, id: p.md.ID, counters: &traffic.Counters{}}
	engine, err := g.Router(Plugin{ID: p.md.ID, Code: p, Endpoints: p.md.Endpoints, Handlers: p.handlers,
		Counters: s.counters, Granted: func() []string { return granted }, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	s.engine = engine
	return s
}

// do answers req as the host does: admitted, routed, audited.
func (s *served) do(req *http.Request, path string) *httptest.ResponseRecorder {
	s.t.Helper()
	rec := httptest.NewRecorder()
	w := NewWriter(req.Context(), rec)
	r := s.g.Admit(req, base+s.id, path)
	s.engine.ServeHTTP(w, r)
	if err := s.g.Audit(r, s.id, cmp.Or(w.Status(), http.StatusOK)); err != nil {
		s.t.Fatal(err)
	}
	return rec
}

// call sends method path with the given headers.
func (s *served) call(method, path string, header map[string]string) *httptest.ResponseRecorder {
	s.t.Helper()
	req := httptest.NewRequest(method, base+s.id+path, nil)
	req.RemoteAddr = "192.0.2.1:1234"
	for k, v := range header {
		req.Header.Set(k, v)
	}
	p, _, _ := strings.Cut(path, "?")
	return s.do(req, p)
}

func TestRouterCounts(t *testing.T) {
	p := &plugin{md: sdk.PluginMetadata{ID: "counted", Endpoints: []sdk.EndpointConfig{
		{Path: "/ok", Method: "GET", Handler: "OK"},
		{Path: "/panic", Method: "GET", Handler: "Panic"},
	}}, handlers: map[string]gin.HandlerFunc{
		"OK":    func(c *gin.Context) { c.String(http.StatusOK, "ok") },
		"Panic": func(*gin.Context) { panic("boom") },
	}}
	s := serve(t, newBackend(), p)
	for _, c := range []struct {
		path   string
		status int
	}{{"/ok", 200}, {"/panic", 500}, {"/nowhere", 404}} {
		if rec := s.call("GET", c.path, nil); rec.Code != c.status {
			t.Fatalf("GET %s: %d; want %d", c.path, rec.Code, c.status)
		}
	}
	snap := s.counters.Snapshot()
	if snap.Requests != 3 || snap.Panics != 1 || snap.ServerErrors != 1 || snap.ClientErrors != 1 {
		t.Fatalf("counters: %+v", snap)
	}
	var routes []string
	for _, e := range snap.Endpoints {
		routes = append(routes, e.Route)
	}
	if len(routes) != 3 || routes[0] != "(unmatched)" {
		t.Fatalf("routes counted: %q", routes)
	}
}
