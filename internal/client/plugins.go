package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
)

// LoadRequest is the body of POST /api/plugins/load: what to install.
type LoadRequest struct {
	// Source is a plugin folder or .so file on the server's disk, or a
	// repository URL (https://github.com/owner/repo, optionally
	// .../tree/<ref>/<path>).
	Source string `json:"source,omitempty"`
	// Version is a repository's tag, branch or commit; for a local source,
	// when set, it must equal the plugin's version.
	Version string `json:"version,omitempty"`
	// Path is the plugin's folder inside a repository.
	Path string `json:"path,omitempty"`
	// UploadID installs an archive uploaded earlier (see Upload with
	// install false), instead of Source.
	UploadID string `json:"upload_id,omitempty"`
	// Checksum ("sha256:<hex>") is the expected digest of the source.
	Checksum string `json:"checksum,omitempty"`
	// Signature is a base64 ed25519 signature of that digest.
	Signature string `json:"signature,omitempty"`
	// Watch rebuilds and swaps a local folder's plugin when its files
	// change.
	Watch bool `json:"watch,omitempty"`
}

// Install installs a plugin and returns its record once it serves; the
// server answers when the install has finished (201), or with its error.
func (c *Client) Install(ctx context.Context, req LoadRequest) (map[string]any, error) {
	return c.object(ctx, http.MethodPost, "/api/plugins/load", nil, req)
}

// InstallAsync starts an install and returns its operation at once (202);
// follow it with WaitOperation or Operation.
func (c *Client) InstallAsync(ctx context.Context, req LoadRequest) (*Operation, error) {
	var op Operation
	if err := c.do(ctx, http.MethodPost, "/api/plugins/load", url.Values{"async": {"true"}}, req, &op); err != nil {
		return nil, err
	}
	return &op, nil
}

// List returns every plugin: {"plugins": [...], "count": n}.
func (c *Client) List(ctx context.Context) (map[string]any, error) {
	return c.object(ctx, http.MethodGet, "/api/plugins", nil, nil)
}

// Get returns one plugin's record.
func (c *Client) Get(ctx context.Context, id string) (map[string]any, error) {
	return c.pluginCall(ctx, http.MethodGet, id, "", nil)
}

// Unload unloads a plugin; the answer is {"id", "state": "unloaded"}.
func (c *Client) Unload(ctx context.Context, id string) (map[string]any, error) {
	return c.pluginCall(ctx, http.MethodDelete, id, "", nil)
}

// Reload loads a plugin's source again and swaps it in; on failure the old
// version keeps serving. It returns the plugin's new record.
func (c *Client) Reload(ctx context.Context, id string) (map[string]any, error) {
	return c.pluginCall(ctx, http.MethodPost, id, "reload", nil)
}

// Enable enables a plugin and returns its record.
func (c *Client) Enable(ctx context.Context, id string) (map[string]any, error) {
	return c.pluginCall(ctx, http.MethodPost, id, "enable", nil)
}

// Disable disables a plugin (it stays loaded and answers 503) and returns
// its record.
func (c *Client) Disable(ctx context.Context, id string) (map[string]any, error) {
	return c.pluginCall(ctx, http.MethodPost, id, "disable", nil)
}

// Update installs another version of a plugin from its source and returns
// its new record.
func (c *Client) Update(ctx context.Context, id, version string) (map[string]any, error) {
	return c.pluginCall(ctx, http.MethodPost, id, "update", map[string]string{"version": version})
}

// Status returns a plugin's GetStatus() with the host's state and counters.
func (c *Client) Status(ctx context.Context, id string) (map[string]any, error) {
	return c.pluginCall(ctx, http.MethodGet, id, "status", nil)
}

// Config returns a plugin's effective configuration:
// {"id", "configuration": {...}}.
func (c *Client) Config(ctx context.Context, id string) (map[string]any, error) {
	return c.pluginCall(ctx, http.MethodGet, id, "configuration", nil)
}

// SetConfig replaces the operator's configuration of a plugin with values
// (set over the manifest's defaults) and returns the effective
// configuration: {"id", "configuration": {...}}.
func (c *Client) SetConfig(ctx context.Context, id string, values map[string]any) (map[string]any, error) {
	if values == nil {
		values = map[string]any{}
	}
	return c.pluginCall(ctx, http.MethodPut, id, "configuration", values)
}

// HealthSummary returns every plugin's health.
func (c *Client) HealthSummary(ctx context.Context) (map[string]any, error) {
	return c.object(ctx, http.MethodGet, "/api/plugins/health/summary", nil, nil)
}

// CacheInfo describes the build cache: {"cache": {...}, "max_bytes": n}.
func (c *Client) CacheInfo(ctx context.Context) (map[string]any, error) {
	return c.object(ctx, http.MethodGet, "/api/plugins/cache/info", nil, nil)
}

// PurgeCache removes every cached build no installed plugin needs:
// {"removed": n, "freed_bytes": n}.
func (c *Client) PurgeCache(ctx context.Context) (map[string]any, error) {
	return c.object(ctx, http.MethodDelete, "/api/plugins/cache", nil, nil)
}

// SystemConfig returns the server's live configuration (secrets redacted).
func (c *Client) SystemConfig(ctx context.Context) (map[string]any, error) {
	return c.object(ctx, http.MethodGet, "/api/plugins/system/configuration", nil, nil)
}

// SetSystemConfig merges values into the server's live configuration and
// returns the result; nothing changes when a field is wrong.
func (c *Client) SetSystemConfig(ctx context.Context, values map[string]any) (map[string]any, error) {
	return c.object(ctx, http.MethodPut, "/api/plugins/system/configuration", nil, values)
}

// pluginCall calls one plugin's route.
func (c *Client) pluginCall(ctx context.Context, method, id, rest string, in any) (map[string]any, error) {
	var parts []string
	if rest != "" {
		parts = append(parts, rest)
	}
	p, err := pluginPath(id, parts...)
	if err != nil {
		return nil, err
	}
	return c.object(ctx, method, p, nil, in)
}

// object calls a route that answers a JSON object.
func (c *Client) object(ctx context.Context, method, path string, query url.Values, in any) (map[string]any, error) {
	var out map[string]any
	if err := c.do(ctx, method, path, query, in, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// CreateToken makes a named token with a role and an optional lifetime
// (a Go duration, "" for none): {"token": {...}, "secret": "..."}; the
// secret is shown by this answer only.
func (c *Client) CreateToken(ctx context.Context, name, role, ttl string) (map[string]any, error) {
	return c.object(ctx, http.MethodPost, "/api/plugins/tokens", nil, map[string]string{"name": name, "role": role, "ttl": ttl})
}

// Tokens lists the named tokens, without their secrets.
func (c *Client) Tokens(ctx context.Context) (map[string]any, error) {
	return c.object(ctx, http.MethodGet, "/api/plugins/tokens", nil, nil)
}

// RevokeToken revokes a named token.
func (c *Client) RevokeToken(ctx context.Context, name string) (map[string]any, error) {
	return c.object(ctx, http.MethodDelete, "/api/plugins/tokens/"+url.PathEscape(name), nil, nil)
}

// Audit returns audit entries after an id (0: from the start).
func (c *Client) Audit(ctx context.Context, after int64) (map[string]any, error) {
	return c.object(ctx, http.MethodGet, "/api/plugins/audit", url.Values{"after": {strconv.FormatInt(after, 10)}}, nil)
}
