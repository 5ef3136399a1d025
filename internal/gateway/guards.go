package gateway

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/kubestellar/ksplugins/internal/apierr"
	"github.com/kubestellar/ksplugins/internal/auth"
	"github.com/kubestellar/ksplugins/internal/ratelimit"
	"github.com/kubestellar/ksplugins/sdk"
)

// guards are the host's checks on one endpoint, run before the plugin
// sees the request: authentication and roles, the permissions the endpoint
// needs the plugin to hold, and its rate limit.
func (g Gateway) guards(p Plugin, ep sdk.EndpointConfig) []gin.HandlerFunc {
	var chain []gin.HandlerFunc
	a := ep.Auth
	if a == nil && g.b.System().EndpointAuth == "required" {
		a = &sdk.AuthConfig{Required: true}
	}
	if a != nil && (a.Required || len(a.Roles) > 0) {
		chain = append(chain, requireCaller(p.ID, ep, a.Roles))
	}
	if a != nil && len(a.Permissions) > 0 {
		chain = append(chain, requirePermissions(p, ep, a.Permissions))
	}
	if rl := ep.RateLimit; rl != nil && rl.Enabled && rl.RPM > 0 {
		window := time.Minute
		if rl.WindowSizeMs > 0 {
			window = time.Duration(rl.WindowSizeMs) * time.Millisecond
		}
		limit := ratelimit.Limit{Rate: rl.RPM, Window: window, Burst: rl.Burst}
		chain = append(chain, g.rateLimit(p.ID, ep, limit))
	}
	return chain
}

// requireCaller authenticates the caller and, when roles are listed,
// requires one of them (or a higher one).
func requireCaller(id string, ep sdk.EndpointConfig, roles []string) gin.HandlerFunc {
	return func(c *gin.Context) {
		who, err := callerFrom(c.Request.Context()).identity()
		if err != nil {
			c.Header("WWW-Authenticate", `Bearer realm="ksplugins"`)
			apierr.Write(c.Writer, http.StatusUnauthorized, "unauthorized", fmt.Sprintf("%s %s of plugin %s requires a valid token: %v", ep.Method, ep.Path, id, err), nil)
			c.Abort()
			return
		}
		if len(roles) > 0 && !slices.ContainsFunc(roles, func(r string) bool { return auth.Allows(who.Role, r) }) {
			apierr.Write(c.Writer, http.StatusForbidden, "forbidden", fmt.Sprintf("%s %s of plugin %s needs the role %s; %s has %s", ep.Method, ep.Path, id, strings.Join(roles, " or "), who.Name, who.Role), nil)
			c.Abort()
			return
		}
		c.Request = c.Request.WithContext(auth.WithIdentity(c.Request.Context(), who))
		c.Next()
	}
}

// requirePermissions refuses an endpoint whose plugin was not granted what
// the endpoint declares it needs.
func requirePermissions(p Plugin, ep sdk.EndpointConfig, needed []string) gin.HandlerFunc {
	return func(c *gin.Context) {
		granted := p.Granted()
		for _, perm := range needed {
			if !slices.Contains(granted, perm) {
				apierr.Write(c.Writer, http.StatusForbidden, "permission_not_granted",
					fmt.Sprintf("plugin %s was not granted %s, which %s %s needs", p.ID, perm, ep.Method, ep.Path), nil)
				c.Abort()
				return
			}
		}
		c.Next()
	}
}

// rateLimit allows each client limit's requests to the endpoint, and
// answers 429 with Retry-After beyond.
func (g Gateway) rateLimit(id string, ep sdk.EndpointConfig, limit ratelimit.Limit) gin.HandlerFunc {
	prefix := id + " " + strings.ToUpper(ep.Method) + " " + ep.Path + " "
	return func(c *gin.Context) {
		ok, wait := g.b.Limiter().Allow(prefix+c.ClientIP(), limit)
		if !ok {
			c.Header("Retry-After", strconv.Itoa(int(wait.Seconds()+0.999)))
			apierr.Write(c.Writer, http.StatusTooManyRequests, "rate_limited",
				fmt.Sprintf("%s %s of plugin %s allows %d requests per %s", ep.Method, ep.Path, id, limit.Rate, limit.Window), nil)
			c.Abort()
			return
		}
		c.Next()
	}
}

// limitBodies caps request bodies at the configured size.
func (g Gateway) limitBodies() gin.HandlerFunc {
	return func(c *gin.Context) {
		limit := g.b.System().MaxRequestBytes
		if c.Request.ContentLength > limit {
			apierr.Write(c.Writer, http.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("the body is larger than the %d bytes allowed", limit), nil)
			c.Abort()
			return
		}
		if c.Request.Body != http.NoBody { // which has nothing to limit
			c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, limit)
		}
		c.Next()
	}
}
