package gateway

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/kubestellar/ksplugins/internal/traffic"
	"github.com/kubestellar/ksplugins/sdk"
	"github.com/kubestellar/ksplugins/sdk/router"
)

// Plugin is what a router is built from: one instance's code, endpoints
// and handlers, and what outlives the instance.
type Plugin struct {
	ID string
	// Code is the instance; its ValidateRequest runs before each handler.
	Code      sdk.KubestellarPlugin
	Endpoints []sdk.EndpointConfig
	Handlers  map[string]gin.HandlerFunc
	// Counters counts every request, matched or not.
	Counters *traffic.Counters
	// Granted returns the permissions the plugin holds now.
	Granted func() []string
	// Log receives handler panics.
	Log *slog.Logger
}

// Router builds the router of one instance. It is built once and never
// changed; a reload builds a new one.
//
// Every request passes, in order: the counters, panic recovery, the body
// limit; then, on a matched route, the endpoint's authentication and
// permissions, its rate limit, the plugin's ValidateRequest, the handler.
func (g Gateway) Router(p Plugin) (*gin.Engine, error) {
	return router.New(p.Code, p.Endpoints, p.Handlers, router.Options{
		Name:   "plugin " + p.ID,
		Use:    []gin.HandlerFunc{countRequests(p.Counters), recoverPanics(p.Log), g.limitBodies()},
		Guards: func(ep sdk.EndpointConfig) []gin.HandlerFunc { return g.guards(p, ep) },
	})
}

func countRequests(counters *traffic.Counters) gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		route := c.FullPath()
		if route == "" {
			route = "(unmatched)"
		}
		counters.Record(c.Request.Method, route, c.Writer.Status(), c.GetBool(panickedKey), time.Since(start))
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
