// Package gateway is the request path from a caller to a plugin's
// endpoints, the same for every tier: the boundary that keeps the caller's
// credentials from the plugin and the plugin's answers from acting for the
// server's origin (boundary.go), the endpoint guards (guards.go), and the
// router built once per instance from the plugin's endpoints, with its
// counters and panic recovery (router.go).
//
// The host looks the plugin up and picks its instance; everything the
// request meets between the server and the plugin's handler is here.
package gateway

import (
	"context"

	"github.com/kubestellar/ksplugins/internal/auth"
	"github.com/kubestellar/ksplugins/internal/config"
	"github.com/kubestellar/ksplugins/internal/ratelimit"
	"github.com/kubestellar/ksplugins/internal/store"
)

// Backend is what the request path needs from the host. Credentials,
// limits, the body limit and the audit are asked for per request, so a new
// system configuration applies to the next request; the default of
// endpoint_auth for endpoints whose manifest says nothing is read when a
// plugin's router is built, so it reaches a plugin at its next load or
// reload.
type Backend interface {
	// Authenticate checks a bearer token and says who it proves.
	Authenticate(ctx context.Context, bearer string) (auth.Identity, error)
	// System is the live system configuration.
	System() *config.System
	// Limiter enforces endpoints' rate limits.
	Limiter() *ratelimit.Limiter
	// AppendAudit records an audit entry.
	AppendAudit(ctx context.Context, e store.AuditEntry) error
}

// Gateway is the request path over one host. It is a small value: making
// one per request costs nothing.
type Gateway struct{ b Backend }

// New returns the request path over b.
func New(b Backend) Gateway { return Gateway{b: b} }
