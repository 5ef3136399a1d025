package host

import (
	"cmp"
	"time"

	apiv1 "github.com/kubestellar/ksplugins/api/v1"

	"github.com/kubestellar/ksplugins/sdk"
)

// EndpointPrefix is where plugin endpoints are served.
const EndpointPrefix = "/api/plugin-endpoints/"

func (p *Plugin) info() apiv1.Plugin {
	p.mu.RLock()
	info := apiv1.Plugin{
		ID:         p.id,
		State:      p.state,
		Enabled:    p.enabled,
		Tier:       p.tier,
		Source:     p.source,
		BasePath:   EndpointPrefix + p.id,
		LastError:  cmp.Or(p.lastErr, p.unmet),
		Granted:    append([]string{}, p.grants...),
		Kubernetes: p.kube,
		Warnings:   p.warnings,
	}
	p.mu.RUnlock()
	if in := p.inst.Load(); in != nil {
		m := in.meta
		m.LoadedAt = in.loadedAt.Format(time.RFC3339)
		m.LoadedFrom = info.Source.Location
		m.Status = sdk.StateLoaded
		info.Name, info.Version, info.Description, info.Author = m.Name, m.Version, m.Description, m.Author
		info.Artifact, info.LoadedAt, info.Metadata = in.artifact, in.loadedAt, m
		info.Tier, info.Sandbox = in.artifact.Tier, in.describe()
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
	info.Stats = p.stats.Snapshot()
	info.Health = p.healthSnapshot()
	return info
}
