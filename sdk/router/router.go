// Package router builds the gin engine that serves one plugin's endpoints.
//
// The host (for both tiers: a sandboxed plugin's handlers forward to its
// guest), the sandboxed tier's guest side and
// sdk/sdktest all build their engines here, so that a plugin meets the same
// routing, the same 404 and 405 answers, the same request validation and the
// same refusal of unknown handler names and conflicting paths wherever it
// runs.
package router

import (
	"fmt"
	"maps"
	"net/http"
	"runtime/debug"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/kubestellar/ksplugins/sdk"
)

// Options tailors an engine to where it runs. The zero value serves the
// endpoints with nothing around them but request validation.
type Options struct {
	// Name is how error messages name the plugin, such as "plugin
	// my-plugin". Default "the plugin".
	Name string
	// Use is middleware that runs first on every request, matched or not:
	// counters, panic recovery, body limits.
	Use []gin.HandlerFunc
	// Guards, when set, returns what runs between validation and an
	// endpoint's handler: authentication, permissions, rate limits.
	Guards func(sdk.EndpointConfig) []gin.HandlerFunc
}

// New returns an engine that routes each endpoint to its handler by name.
// Every request passes, in order: opts.Use; then, on a matched route,
// opts.Guards for its endpoint, the plugin's ValidateRequest (a refusal is
// 400 invalid_request) and the handler. Unmatched paths get 404 endpoint_not_found and
// unaccepted methods 405 method_not_allowed. An endpoint naming a handler the
// plugin does not have, or a path that conflicts with another, is an error
// naming the endpoint's index.
func New(p sdk.KubestellarPlugin, endpoints []sdk.EndpointConfig, handlers map[string]gin.HandlerFunc, opts Options) (*gin.Engine, error) {
	name := opts.Name
	if name == "" {
		name = "the plugin"
	}
	e := gin.New()
	e.HandleMethodNotAllowed = true
	e.ContextWithFallback = true
	e.Use(opts.Use...)
	check := validate(p)
	e.NoRoute(func(c *gin.Context) {
		WriteError(c, http.StatusNotFound, "endpoint_not_found", fmt.Sprintf("%s has no endpoint %s", name, c.Request.URL.Path))
	})
	e.NoMethod(func(c *gin.Context) {
		WriteError(c, http.StatusMethodNotAllowed, "method_not_allowed",
			fmt.Sprintf("%s does not accept %s on %s", name, c.Request.Method, c.Request.URL.Path))
	})
	for i, ep := range endpoints {
		handler, ok := handlers[ep.Handler]
		if !ok || handler == nil {
			return nil, fmt.Errorf("endpoints[%d].handler: plugin has no handler named %q (it has: %s)", i, ep.Handler, handlerNames(handlers))
		}
		var chain []gin.HandlerFunc
		if opts.Guards != nil {
			chain = opts.Guards(ep)
		}
		// Validation is plugin code: it runs only for callers the guards let
		// through.
		chain = append(chain, check, handler)
		if err := handle(e, strings.ToUpper(ep.Method), ep.Path, chain); err != nil {
			return nil, fmt.Errorf("endpoints[%d]: %w", i, err)
		}
	}
	return e, nil
}

// handle registers one route, turning gin's panic on a conflicting route
// into an error.
func handle(e *gin.Engine, method, path string, chain []gin.HandlerFunc) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%s %s: %v", method, path, r)
		}
	}()
	e.Handle(method, path, chain...)
	return nil
}

func handlerNames(m map[string]gin.HandlerFunc) string {
	names := slices.Sorted(maps.Keys(m))
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

func validate(p sdk.KubestellarPlugin) gin.HandlerFunc {
	return func(c *gin.Context) {
		if err := p.ValidateRequest(c); err != nil {
			WriteError(c, http.StatusBadRequest, "invalid_request", err.Error())
			c.Abort()
			return
		}
		c.Next()
	}
}

// RecoverPanics is middleware that answers a panicking handler with 500
// plugin_panic (unless it had started its answer), after telling report
// what it panicked with and where. http.ErrAbortHandler, a handler's own way
// to drop the connection, is passed on.
func RecoverPanics(report func(c *gin.Context, value any, stack []byte)) gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			r := recover()
			if r == nil {
				return
			}
			if r == http.ErrAbortHandler {
				panic(r)
			}
			report(c, r, debug.Stack())
			if !c.Writer.Written() {
				WriteError(c, http.StatusInternalServerError, "plugin_panic", "the plugin failed while handling the request")
			}
			c.Abort()
		}()
		c.Next()
	}
}

// WriteError answers in the host's one error shape:
// {"error": {"code": ..., "message": ...}}.
func WriteError(c *gin.Context, status int, code, message string) {
	c.Header("X-Content-Type-Options", "nosniff")
	c.JSON(status, errorBody{Error: errorDetail{Code: code, Message: message}})
}

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}
