package host

import (
	"time"

	"github.com/kubestellar/ksplugins/internal/manifest"
	"github.com/kubestellar/ksplugins/sdk"
)

// Info is what the host reports about a plugin.
type Info struct {
	ID          string               `json:"id"`
	Name        string               `json:"name"`
	Version     string               `json:"version"`
	Description string               `json:"description,omitempty"`
	Author      string               `json:"author,omitempty"`
	State       State                `json:"state"`
	Enabled     bool                 `json:"enabled"`
	Tier        string               `json:"tier"`
	Source      Source               `json:"source"`
	Artifact    Artifact             `json:"artifact"`
	LoadedAt    time.Time            `json:"loaded_at"`
	BasePath    string               `json:"base_path"`
	Endpoints   []sdk.EndpointConfig `json:"endpoints"`
	Permissions []string             `json:"permissions"`
	Granted     []string             `json:"granted_permissions"`
	Metadata    sdk.PluginMetadata   `json:"metadata"`
	Sandbox     *SandboxInfo         `json:"sandbox,omitempty"`
	Stats       Stats                `json:"stats"`
	Health      Health               `json:"health"`
	Config      map[string]any       `json:"configuration"`
	LastError   string               `json:"last_error,omitempty"`
	Warnings    []manifest.Problem   `json:"warnings,omitempty"`
}

// EndpointPrefix is where plugin endpoints are served.
const EndpointPrefix = "/api/plugin-endpoints/"

func (p *Plugin) info() Info {
	p.mu.RLock()
	info := Info{
		ID:        p.id,
		State:     p.state,
		Enabled:   p.enabled,
		Tier:      string(p.tier),
		Source:    p.source,
		BasePath:  EndpointPrefix + p.id,
		LastError: p.lastErr,
		Granted:   append([]string{}, p.grants...),
		Warnings:  p.warnings,
	}
	p.mu.RUnlock()
	if in := p.inst.Load(); in != nil {
		m := in.meta
		m.LoadedAt = in.loadedAt.Format(time.RFC3339)
		m.LoadedFrom = info.Source.Location
		m.Status = sdk.StateLoaded
		info.Name, info.Version, info.Description, info.Author = m.Name, m.Version, m.Description, m.Author
		info.Artifact, info.LoadedAt, info.Metadata = in.artifact, in.loadedAt, m
		info.Tier, info.Sandbox = string(in.artifact.Tier), sandboxInfo(in.impl)
		info.Endpoints, info.Permissions = m.Endpoints, m.Permissions
		p.mu.RLock()
		info.Config = effectiveConfig(in.meta, p.config)
		p.mu.RUnlock()
	}
	if info.Endpoints == nil {
		info.Endpoints = []sdk.EndpointConfig{}
	}
	if info.Permissions == nil {
		info.Permissions = []string{}
	}
	info.Stats = p.stats.snapshot()
	info.Health = p.health.snapshot()
	return info
}
