package host

import (
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/kubestellar/ksplugins/internal/apierr"
	"github.com/kubestellar/ksplugins/sdk"
)

// newRouter builds the router of one instance from its endpoints. It is
// built once and never changed; reload builds a new one.
//
// Every request passes, in order: the counters, panic recovery, the
// endpoint's authentication and permissions, its rate limit, the plugin's
// ValidateRequest, the handler.
func (h *Host) newRouter(p *Plugin, impl sdk.KubestellarPlugin, endpoints []sdk.EndpointConfig, log *slog.Logger) (*gin.Engine, error) {
	handlers, err := safeValue(func() map[string]gin.HandlerFunc { return impl.GetHandlers() })
	if err != nil {
		return nil, fmt.Errorf("GetHandlers: %w", err)
	}
	e := gin.New()
	e.HandleMethodNotAllowed = true
	e.ContextWithFallback = true
	e.Use(countRequests(p), recoverPanics(log), h.limitBodies(), validateRequests(impl))
	e.NoRoute(func(c *gin.Context) {
		apierr.Write(c.Writer, http.StatusNotFound, "endpoint_not_found",
			fmt.Sprintf("plugin %s has no endpoint %s", p.id, c.Request.URL.Path), nil)
	})
	e.NoMethod(func(c *gin.Context) {
		apierr.Write(c.Writer, http.StatusMethodNotAllowed, "method_not_allowed",
			fmt.Sprintf("plugin %s does not accept %s on %s", p.id, c.Request.Method, c.Request.URL.Path), nil)
	})
	for i, ep := range endpoints {
		handler, ok := handlers[ep.Handler]
		if !ok || handler == nil {
			return nil, fmt.Errorf("endpoints[%d].handler: plugin has no handler named %q (it has: %s)", i, ep.Handler, handlerNames(handlers))
		}
		chain := append(h.guards(p, ep), handler)
		if err := addRoute(e, strings.ToUpper(ep.Method), ep.Path, chain...); err != nil {
			return nil, fmt.Errorf("endpoints[%d]: %w", i, err)
		}
	}
	return e, nil
}

// addRoute registers one route, turning gin's panic on a conflicting route
// into an error.
func addRoute(e *gin.Engine, method, path string, chain ...gin.HandlerFunc) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%s %s: %v", method, path, r)
		}
	}()
	e.Handle(method, path, chain...)
	return nil
}

func handlerNames(m map[string]gin.HandlerFunc) string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	slices.Sort(names)
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

func countRequests(p *Plugin) gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		route := c.FullPath()
		if route == "" {
			route = "(unmatched)"
		}
		p.stats.record(c.Request.Method, route, c.Writer.Status(), c.GetBool(panickedKey), time.Since(start))
	}
}

// panickedKey marks, in the gin context, a request whose handler panicked.
const panickedKey = "ksplugins.panicked"

func recoverPanics(log *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			r := recover()
			if r == nil {
				return
			}
			if r == http.ErrAbortHandler {
				panic(r) // the handler's own way to abort the connection
			}
			c.Set(panickedKey, true)
			log.Error("plugin handler panicked", "path", c.Request.URL.Path, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			if !c.Writer.Written() {
				apierr.Write(c.Writer, http.StatusInternalServerError, "plugin_panic", "the plugin failed while handling the request", nil)
			}
			c.Abort()
		}()
		c.Next()
	}
}

func validateRequests(impl sdk.KubestellarPlugin) gin.HandlerFunc {
	return func(c *gin.Context) {
		if c.FullPath() == "" {
			c.Next() // 404 and 405 need no validation
			return
		}
		if err := impl.ValidateRequest(c); err != nil {
			apierr.Write(c.Writer, http.StatusBadRequest, "invalid_request", err.Error(), nil)
			c.Abort()
			return
		}
		c.Next()
	}
}

// ServeEndpoint serves a request for path on plugin id: the catch-all route
// /api/plugin-endpoints/:id/*path comes here.
func (h *Host) ServeEndpoint(w http.ResponseWriter, r *http.Request, id, path string) {
	p := h.lookup(id)
	if p == nil {
		apierr.Write(w, http.StatusNotFound, "plugin_not_found", fmt.Sprintf("no plugin %q is loaded", id), nil)
		return
	}
	switch s := p.getState(); s {
	case StateActive:
	case StateDisabled:
		apierr.Write(w, http.StatusServiceUnavailable, "plugin_disabled", fmt.Sprintf("plugin %s is disabled", id), nil)
		return
	default:
		apierr.Write(w, http.StatusServiceUnavailable, "plugin_unavailable", fmt.Sprintf("plugin %s is %s", id, s), nil)
		return
	}
	for {
		in := p.inst.Load()
		if in == nil {
			apierr.Write(w, http.StatusServiceUnavailable, "plugin_unavailable", fmt.Sprintf("plugin %s has no running instance", id), nil)
			return
		}
		if !in.acquire() {
			continue // swapped under us: take the new instance
		}
		defer in.release()
		r2 := r.Clone(r.Context())
		r2.URL.Path = path
		r2.URL.RawPath = ""
		in.engine.ServeHTTP(w, r2)
		return
	}
}
