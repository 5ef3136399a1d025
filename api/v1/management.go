package v1

import (
	"time"

	"github.com/kubestellar/ksplugins/sdk"
)

// PluginList answers GET /api/plugins.
type PluginList struct {
	// Plugins are every installed plugin.
	Plugins []Plugin `json:"plugins"`
	// Count is len(Plugins).
	Count int `json:"count"`
}

// Unloaded answers DELETE /api/plugins/{id}.
type Unloaded struct {
	// ID is the plugin that was unloaded.
	ID string `json:"id"`
	// State is always "unloaded".
	State string `json:"state"`
}

// UpdateRequest is the body of POST /api/plugins/{id}/update.
type UpdateRequest struct {
	// Version is the repository's tag, branch or commit to install.
	Version string `json:"version"`
}

// PluginReport answers GET /api/plugins/{id}/status: the plugin's own
// GetStatus() beside the host's view of it.
type PluginReport struct {
	// ID names the plugin.
	ID string `json:"id"`
	// State is the host's lifecycle state of the plugin.
	State State `json:"state"`
	// Enabled tells whether the plugin serves its endpoints.
	Enabled bool `json:"enabled"`
	// Status is what the plugin's GetStatus() answered.
	Status sdk.PluginStatus `json:"status"`
	// Stats are the host's request counters of the plugin.
	Stats Stats `json:"stats"`
}

// ConfigValues are plugin configuration values by key, as the plugin's
// manifest declares them: the body of PUT /api/plugins/{id}/configuration.
type ConfigValues map[string]any

// PluginConfig answers GET and PUT /api/plugins/{id}/configuration: the
// effective configuration, the manifest's defaults under the operator's
// values.
type PluginConfig struct {
	// ID names the plugin.
	ID string `json:"id"`
	// Configuration holds the effective values by key.
	Configuration ConfigValues `json:"configuration"`
}

// PermissionList answers GET /api/plugins/permissions.
type PermissionList struct {
	// Permissions are every permission a plugin may be granted.
	Permissions []Permission `json:"permissions"`
}

// Whoami answers GET /api/plugins/whoami: who the caller is and what its
// role allows, from the same table that enforces it.
type Whoami struct {
	// Name is the caller's identity: a token's name, a JWT subject, or
	// "local".
	Name string `json:"name"`
	// Role is viewer, operator or admin.
	Role string `json:"role"`
	// Via is how the caller authenticated: "token", "jwt", "ticket",
	// "local", ...
	Via string `json:"via"`
	// Allowed are the actions (route names) the role allows.
	Allowed []string `json:"allowed"`
}

// Ticket answers POST /api/plugins/events/ticket: a single-use secret that
// opens the event stream once, for clients that cannot send headers.
type Ticket struct {
	// Ticket is the secret.
	Ticket string `json:"ticket"`
	// ExpiresAt is when the ticket stops being good.
	ExpiresAt time.Time `json:"expires_at"`
	// ExpiresInSeconds is how long the ticket is good for.
	ExpiresInSeconds float64 `json:"expires_in_seconds"`
	// URL is the event stream's path with the ticket in its query.
	URL string `json:"url"`
}

// Liveness answers GET /healthz.
type Liveness struct {
	// Status is "ok" while the server serves.
	Status string `json:"status"`
}

// Readiness answers GET /readyz: 200 once every stored plugin the server
// found at start is back (active or disabled) or has failed, 503 before.
type Readiness struct {
	// Status is "ready" or "restoring".
	Status string `json:"status"`
	// Restoring is how many plugins are still coming back.
	Restoring int `json:"restoring"`
}
