package host

import (
	"cmp"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	apiv1 "github.com/kubestellar/ksplugins/api/v1"

	"github.com/gin-gonic/gin"

	"github.com/kubestellar/ksplugins/internal/apierr"
	"github.com/kubestellar/ksplugins/sdk"
	"github.com/kubestellar/ksplugins/sdk/router"
)

// newRouter builds the router of one instance from its endpoints. It is
// built once and never changed; reload builds a new one.
//
// Every request passes, in order: the counters, panic recovery, the body
// limit; then, on a matched route, the endpoint's authentication and
// permissions, its rate limit, the plugin's ValidateRequest, the handler.
func (h *Host) newRouter(p *Plugin, impl sdk.KubestellarPlugin, endpoints []sdk.EndpointConfig, log *slog.Logger) (*gin.Engine, error) {
	handlers, err := safeValue(func() map[string]gin.HandlerFunc { return impl.GetHandlers() })
	if err != nil {
		return nil, fmt.Errorf("GetHandlers: %w", err)
	}
	return router.New(impl, endpoints, handlers, router.Options{
		Name:   "plugin " + p.id,
		Use:    []gin.HandlerFunc{countRequests(p), recoverPanics(log), h.limitBodies()},
		Guards: func(ep sdk.EndpointConfig) []gin.HandlerFunc { return h.guards(p, ep) },
	})
}

func countRequests(p *Plugin) gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		route := c.FullPath()
		if route == "" {
			route = "(unmatched)"
		}
		p.stats.Record(c.Request.Method, route, c.Writer.Status(), c.GetBool(panickedKey), time.Since(start))
	}
}

// panickedKey marks, in the gin context, a request whose handler panicked.
const panickedKey = "ksplugins.panicked"

// recoverPanics logs a handler's panic and marks the request for the
// counters.
func recoverPanics(log *slog.Logger) gin.HandlerFunc {
	return router.RecoverPanics(func(c *gin.Context, v any, stack []byte) {
		c.Set(panickedKey, true)
		log.Error("plugin handler panicked", "path", c.Request.URL.Path, "panic", fmt.Sprint(v), "stack", string(stack))
	})
}

// ServeEndpoint serves a request for path on plugin id: the catch-all route
// /api/plugin-endpoints/:id/*path comes here. Whatever answers, the host or
// the plugin, answers through the boundary (see boundary.go): the plugin
// never sees the caller's credentials, and its answer cannot act for the
// server's origin. Calls that may change state are audited.
func (h *Host) ServeEndpoint(w http.ResponseWriter, r *http.Request, id, path string) {
	bw := &boundedWriter{w: w, ctx: r.Context()}
	r = h.admit(r, id, path)
	p := h.lookup(id)
	if p == nil {
		apierr.Write(bw, http.StatusNotFound, "plugin_not_found", fmt.Sprintf("no plugin %q is loaded", id), nil)
		return
	}
	defer func() { h.auditEndpoint(r, id, cmp.Or(bw.status, http.StatusOK)) }()
	switch s := p.getState(); s {
	case apiv1.StateActive:
	case apiv1.StateDisabled:
		apierr.Write(bw, http.StatusServiceUnavailable, "plugin_disabled", fmt.Sprintf("plugin %s is disabled", id), nil)
		return
	default:
		apierr.Write(bw, http.StatusServiceUnavailable, "plugin_unavailable", fmt.Sprintf("plugin %s is %s", id, s), nil)
		return
	}
	for {
		in := p.inst.Load()
		if in == nil {
			apierr.Write(bw, http.StatusServiceUnavailable, "plugin_unavailable", fmt.Sprintf("plugin %s has no running instance", id), nil)
			return
		}
		if !in.acquire() {
			continue // swapped under us: take the new instance
		}
		defer in.release()
		in.engine.ServeHTTP(bw, r)
		return
	}
}
