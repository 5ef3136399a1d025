package router

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/kubestellar/ksplugins/sdk"
)

// plugin refuses requests carrying ?reject and counts validations.
type plugin struct {
	sdk.Base
	validated atomic.Int32
}

func (p *plugin) GetMetadata() sdk.PluginMetadata         { return sdk.PluginMetadata{ID: "p"} }
func (p *plugin) GetHandlers() map[string]gin.HandlerFunc { return nil }
func (p *plugin) ValidateRequest(c *gin.Context) error {
	p.validated.Add(1)
	if c.Query("reject") != "" {
		return errors.New("rejected by the plugin")
	}
	return nil
}

func init() { gin.SetMode(gin.TestMode) }

func TestNew(t *testing.T) {
	p := &plugin{}
	handlers := map[string]gin.HandlerFunc{
		"Hello": func(c *gin.Context) { c.String(http.StatusOK, "hello") },
		"Item":  func(c *gin.Context) { c.String(http.StatusOK, "item "+c.Param("name")) },
		"Panic": func(c *gin.Context) { panic("boom") },
	}
	var reported atomic.Value
	e, err := New(p, []sdk.EndpointConfig{
		{Path: "/hello", Method: "get", Handler: "Hello"},
		{Path: "/items/:name", Method: "PUT", Handler: "Item"},
		{Path: "/guarded", Method: "GET", Handler: "Hello"},
		{Path: "/panic", Method: "GET", Handler: "Panic"},
	}, handlers, Options{
		Name: "plugin p",
		Use:  []gin.HandlerFunc{RecoverPanics(func(c *gin.Context, v any, stack []byte) { reported.Store(v) })},
		Guards: func(ep sdk.EndpointConfig) []gin.HandlerFunc {
			if ep.Path != "/guarded" {
				return nil
			}
			return []gin.HandlerFunc{func(c *gin.Context) {
				WriteError(c, http.StatusUnauthorized, "unauthorized", "no token")
				c.Abort()
			}}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		method, path string
		status       int
		body         string // a substring of the answer
		validated    int32  // ValidateRequest calls this request makes
	}{
		{"GET", "/hello", 200, "hello", 1},
		{"PUT", "/items/x", 200, "item x", 1},
		{"GET", "/hello?reject=1", 400, `{"error":{"code":"invalid_request","message":"rejected by the plugin"}}`, 1},
		{"GET", "/nope", 404, "plugin p has no endpoint /nope", 0},
		{"POST", "/hello", 405, "plugin p does not accept POST on /hello", 0},
		// The guard refuses before any plugin code runs.
		{"GET", "/guarded", 401, "no token", 0},
		{"GET", "/panic", 500, "plugin_panic", 1},
	} {
		before := p.validated.Load()
		w := httptest.NewRecorder()
		e.ServeHTTP(w, httptest.NewRequest(tc.method, tc.path, nil))
		if w.Code != tc.status || !strings.Contains(w.Body.String(), tc.body) {
			t.Errorf("%s %s: %d %s; want %d with %q", tc.method, tc.path, w.Code, w.Body, tc.status, tc.body)
		}
		if n := p.validated.Load() - before; n != tc.validated {
			t.Errorf("%s %s: ValidateRequest ran %d times; want %d", tc.method, tc.path, n, tc.validated)
		}
	}
	if reported.Load() != "boom" {
		t.Errorf("panic reported as %v", reported.Load())
	}
}

func TestNewRefusesBadEndpoints(t *testing.T) {
	h := func(c *gin.Context) {}
	for _, tc := range []struct {
		name      string
		endpoints []sdk.EndpointConfig
		handlers  map[string]gin.HandlerFunc
		want      string
	}{
		{"unknown handler", []sdk.EndpointConfig{{Path: "/a", Method: "GET", Handler: "Nope"}}, map[string]gin.HandlerFunc{"A": h, "B": h},
			`endpoints[0].handler: plugin has no handler named "Nope" (it has: A, B)`},
		{"no handlers", []sdk.EndpointConfig{{Path: "/a", Method: "GET", Handler: "A"}}, nil, "(it has: none)"},
		{"nil handler", []sdk.EndpointConfig{{Path: "/a", Method: "GET", Handler: "A"}}, map[string]gin.HandlerFunc{"A": nil}, `no handler named "A"`},
		{"conflict", []sdk.EndpointConfig{{Path: "/a/:x", Method: "GET", Handler: "A"}, {Path: "/a/:y", Method: "GET", Handler: "A"}}, map[string]gin.HandlerFunc{"A": h},
			"endpoints[1]: GET /a/:y"},
	} {
		_, err := New(&plugin{}, tc.endpoints, tc.handlers, Options{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v; want an error containing %q", tc.name, err, tc.want)
		}
	}
}

func TestRecoverPanicsPassesAbortHandler(t *testing.T) {
	e := gin.New()
	e.Use(RecoverPanics(func(*gin.Context, any, []byte) { t.Error("ErrAbortHandler reported as a panic") }))
	e.GET("/", func(c *gin.Context) { panic(http.ErrAbortHandler) })
	defer func() {
		if r := recover(); r != http.ErrAbortHandler {
			t.Errorf("recovered %v; want http.ErrAbortHandler passed on", r)
		}
	}()
	e.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
}
