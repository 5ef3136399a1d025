package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	apiv1 "github.com/kubestellar/ksplugins/api/v1"
)

// Install installs a plugin and returns its record once it serves; the
// server answers when the install has finished (201), or with its error.
func (c *Client) Install(ctx context.Context, req apiv1.LoadRequest) (*apiv1.Plugin, error) {
	return call[apiv1.Plugin](ctx, c, http.MethodPost, "/api/plugins/load", nil, req)
}

// InstallAsync starts an install and returns its operation at once (202);
// follow it with WaitOperation or Operation.
func (c *Client) InstallAsync(ctx context.Context, req apiv1.LoadRequest) (*apiv1.Operation, error) {
	return call[apiv1.Operation](ctx, c, http.MethodPost, "/api/plugins/load", url.Values{"async": {"true"}}, req)
}

// List returns every plugin.
func (c *Client) List(ctx context.Context) (*apiv1.PluginList, error) {
	return call[apiv1.PluginList](ctx, c, http.MethodGet, "/api/plugins", nil, nil)
}

// Get returns one plugin's record.
func (c *Client) Get(ctx context.Context, id string) (*apiv1.Plugin, error) {
	return pluginCall[apiv1.Plugin](ctx, c, http.MethodGet, id, "", nil)
}

// Unload unloads a plugin.
func (c *Client) Unload(ctx context.Context, id string) (*apiv1.Unloaded, error) {
	return pluginCall[apiv1.Unloaded](ctx, c, http.MethodDelete, id, "", nil)
}

// Reload loads a plugin's source again and swaps it in; on failure the old
// version keeps serving. It returns the plugin's new record.
func (c *Client) Reload(ctx context.Context, id string) (*apiv1.Plugin, error) {
	return pluginCall[apiv1.Plugin](ctx, c, http.MethodPost, id, "reload", nil)
}

// Enable enables a plugin and returns its record.
func (c *Client) Enable(ctx context.Context, id string) (*apiv1.Plugin, error) {
	return pluginCall[apiv1.Plugin](ctx, c, http.MethodPost, id, "enable", nil)
}

// Disable disables a plugin (it stays loaded and answers 503) and returns
// its record.
func (c *Client) Disable(ctx context.Context, id string) (*apiv1.Plugin, error) {
	return pluginCall[apiv1.Plugin](ctx, c, http.MethodPost, id, "disable", nil)
}

// ForceUnload unloads a plugin even when other plugins depend on it,
// which the server then marks degraded; Unload refuses that with the
// error code has_dependants.
func (c *Client) ForceUnload(ctx context.Context, id string) (*apiv1.Unloaded, error) {
	p, err := pluginPath(id)
	if err != nil {
		return nil, err
	}
	return call[apiv1.Unloaded](ctx, c, http.MethodDelete, p, forced(), nil)
}

// ForceDisable disables a plugin even when other plugins depend on it,
// which the server then marks degraded.
func (c *Client) ForceDisable(ctx context.Context, id string) (*apiv1.Plugin, error) {
	p, err := pluginPath(id, "disable")
	if err != nil {
		return nil, err
	}
	return call[apiv1.Plugin](ctx, c, http.MethodPost, p, forced(), nil)
}

// forced is the query that overrides a refusal for has_dependants.
func forced() url.Values { return url.Values{"force": {"true"}} }

// Update installs another version of a plugin from its source and returns
// its new record.
func (c *Client) Update(ctx context.Context, id, version string) (*apiv1.Plugin, error) {
	return pluginCall[apiv1.Plugin](ctx, c, http.MethodPost, id, "update", apiv1.UpdateRequest{Version: version})
}

// Status returns a plugin's GetStatus() with the host's state and counters.
func (c *Client) Status(ctx context.Context, id string) (*apiv1.PluginReport, error) {
	return pluginCall[apiv1.PluginReport](ctx, c, http.MethodGet, id, "status", nil)
}

// Metrics returns a plugin's recent traffic samples and its counters now.
func (c *Client) Metrics(ctx context.Context, id string) (*apiv1.MetricsHistory, error) {
	return pluginCall[apiv1.MetricsHistory](ctx, c, http.MethodGet, id, "metrics", nil)
}

// Config returns a plugin's effective configuration.
func (c *Client) Config(ctx context.Context, id string) (*apiv1.PluginConfig, error) {
	return pluginCall[apiv1.PluginConfig](ctx, c, http.MethodGet, id, "configuration", nil)
}

// SetConfig replaces the operator's configuration of a plugin with values
// (set over the manifest's defaults) and returns the effective
// configuration.
func (c *Client) SetConfig(ctx context.Context, id string, values apiv1.ConfigValues) (*apiv1.PluginConfig, error) {
	if values == nil {
		values = apiv1.ConfigValues{}
	}
	return pluginCall[apiv1.PluginConfig](ctx, c, http.MethodPut, id, "configuration", values)
}

// HealthSummary returns every plugin's health.
func (c *Client) HealthSummary(ctx context.Context) (*apiv1.HealthSummary, error) {
	return call[apiv1.HealthSummary](ctx, c, http.MethodGet, "/api/plugins/health/summary", nil, nil)
}

// CacheInfo describes the build cache.
func (c *Client) CacheInfo(ctx context.Context) (*apiv1.CacheReport, error) {
	return call[apiv1.CacheReport](ctx, c, http.MethodGet, "/api/plugins/cache/info", nil, nil)
}

// PurgeCache removes every cached build no installed plugin needs.
func (c *Client) PurgeCache(ctx context.Context) (*apiv1.CachePurge, error) {
	return call[apiv1.CachePurge](ctx, c, http.MethodDelete, "/api/plugins/cache", nil, nil)
}

// SystemConfig returns the server's live configuration (secrets redacted).
func (c *Client) SystemConfig(ctx context.Context) (*apiv1.SystemConfig, error) {
	return call[apiv1.SystemConfig](ctx, c, http.MethodGet, "/api/plugins/system/configuration", nil, nil)
}

// SetSystemConfig merges values into the server's live configuration and
// returns the result; nothing changes when a field is wrong. Values are a
// partial apiv1.SystemConfig by JSON field name: the fields not sent keep
// their values, which a whole SystemConfig could not say.
func (c *Client) SetSystemConfig(ctx context.Context, values map[string]any) (*apiv1.SystemConfig, error) {
	return call[apiv1.SystemConfig](ctx, c, http.MethodPut, "/api/plugins/system/configuration", nil, values)
}

// SystemMetrics returns the server's figures.
func (c *Client) SystemMetrics(ctx context.Context) (*apiv1.SystemMetrics, error) {
	return call[apiv1.SystemMetrics](ctx, c, http.MethodGet, "/api/plugins/system/metrics", nil, nil)
}

// Permissions lists the permissions plugins may be granted.
func (c *Client) Permissions(ctx context.Context) (*apiv1.PermissionList, error) {
	return call[apiv1.PermissionList](ctx, c, http.MethodGet, "/api/plugins/permissions", nil, nil)
}

// Whoami returns the caller's identity, role, and the actions it allows.
func (c *Client) Whoami(ctx context.Context) (*apiv1.Whoami, error) {
	return call[apiv1.Whoami](ctx, c, http.MethodGet, "/api/plugins/whoami", nil, nil)
}

// CreateToken makes a named token with a role and an optional lifetime
// (a Go duration, "" for none); the secret is shown by this answer only.
func (c *Client) CreateToken(ctx context.Context, name, role, ttl string) (*apiv1.CreatedToken, error) {
	return call[apiv1.CreatedToken](ctx, c, http.MethodPost, "/api/plugins/tokens", nil, apiv1.TokenRequest{Name: name, Role: role, TTL: ttl})
}

// Tokens lists the named tokens, without their secrets.
func (c *Client) Tokens(ctx context.Context) (*apiv1.TokenList, error) {
	return call[apiv1.TokenList](ctx, c, http.MethodGet, "/api/plugins/tokens", nil, nil)
}

// RevokeToken revokes a named token.
func (c *Client) RevokeToken(ctx context.Context, name string) (*apiv1.RevokedToken, error) {
	return call[apiv1.RevokedToken](ctx, c, http.MethodDelete, "/api/plugins/tokens/"+url.PathEscape(name), nil, nil)
}

// Audit returns audit entries after an id (0: from the start).
func (c *Client) Audit(ctx context.Context, after int64) (*apiv1.AuditLog, error) {
	return call[apiv1.AuditLog](ctx, c, http.MethodGet, "/api/plugins/audit", url.Values{"after": {strconv.FormatInt(after, 10)}}, nil)
}

// pluginCall calls one plugin's route and decodes its answer as a T.
func pluginCall[T any](ctx context.Context, c *Client, method, id, rest string, in any) (*T, error) {
	var parts []string
	if rest != "" {
		parts = append(parts, rest)
	}
	p, err := pluginPath(id, parts...)
	if err != nil {
		return nil, err
	}
	return call[T](ctx, c, method, p, nil, in)
}

// call calls a route and decodes its answer as a T.
func call[T any](ctx context.Context, c *Client, method, path string, query url.Values, in any) (*T, error) {
	out := new(T)
	if err := c.do(ctx, method, path, query, in, out); err != nil {
		return nil, err
	}
	return out, nil
}
