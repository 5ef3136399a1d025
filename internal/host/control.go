package host

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	apiv1 "github.com/kubestellar/ksplugins/api/v1"

	"github.com/kubestellar/ksplugins/internal/events"
	"github.com/kubestellar/ksplugins/internal/manifest"
)

// SetEnabled enables or disables a plugin. A disabled plugin stays loaded
// and answers 503. The choice is recorded first and survives restarts. A
// plugin unloaded while the change waited for it gives ErrNotFound. A
// plugin others depend on is not disabled: a *DependencyError
// (HasDependants) names them.
func (h *Host) SetEnabled(ctx context.Context, id string, enabled bool) (apiv1.Plugin, error) {
	p, err := h.get(id)
	if err != nil {
		return apiv1.Plugin{}, err
	}
	return h.setEnabled(ctx, p, enabled, false)
}

// ForceDisable disables a plugin even when other plugins depend on it:
// they go on running, degraded, until it is enabled again.
func (h *Host) ForceDisable(ctx context.Context, id string) (apiv1.Plugin, error) {
	p, err := h.get(id)
	if err != nil {
		return apiv1.Plugin{}, err
	}
	return h.setEnabled(ctx, p, false, true)
}

// setEnabled is SetEnabled for the registration p; force disables it even
// when others depend on it.
func (h *Host) setEnabled(ctx context.Context, p *Plugin, enabled, force bool) (apiv1.Plugin, error) {
	if err := h.lock(p); err != nil {
		return apiv1.Plugin{}, err
	}
	defer p.op.Unlock()
	id := p.id
	if !enabled {
		if err := h.checkDependants("disable", p, force); err != nil {
			return apiv1.Plugin{}, err
		}
	}
	rec, err := h.store.Plugin(ctx, id)
	if err != nil {
		return apiv1.Plugin{}, fmt.Errorf("set enabled %s: %w", id, err)
	}
	rec.Enabled = enabled
	if err := h.store.PutPlugin(ctx, rec); err != nil {
		return apiv1.Plugin{}, fmt.Errorf("set enabled %s: %w", id, err)
	}
	typ := p.setEnabled(enabled)
	h.publish(ctx, events.Event{Type: typ, PluginID: id, Message: fmt.Sprintf("plugin %s %s", id, typ)})
	h.settleDependencies(ctx, p)
	return h.info(p), nil
}

// setEnabled makes enabled p's desired state, an operator's choice that
// ends a disable by the health policy, and moves a running p to active (or
// degraded) or disabled; it returns the event type that says so. The
// caller holds p.op.
func (p *Plugin) setEnabled(enabled bool) events.Type {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.enabled, p.healthDisabled = enabled, false
	if serving(p.state) || p.state == apiv1.StateDisabled {
		p.state = apiv1.StateDisabled
		if enabled {
			p.state = p.servingState()
		}
	}
	return map[bool]events.Type{true: events.Enabled, false: events.Disabled}[enabled]
}

// Config returns a plugin's effective configuration: the manifest's
// defaults with the operator's values on top.
func (h *Host) Config(id string) (map[string]any, error) {
	p, err := h.get(id)
	if err != nil {
		return nil, err
	}
	in := p.inst.Load()
	if in == nil {
		return nil, fmt.Errorf("%w: plugin %s is %s", ErrBusy, id, p.getState())
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	return effectiveConfig(in.meta, p.config), nil
}

// SetConfig replaces the operator's configuration of a plugin, records it
// and hands the effective configuration to the plugin's OnConfigChange. If
// the values do not fit the manifest, or the plugin refuses them, nothing
// changes.
func (h *Host) SetConfig(ctx context.Context, id string, config map[string]any) (map[string]any, error) {
	p, err := h.get(id)
	if err != nil {
		return nil, err
	}
	return h.setConfig(ctx, p, config)
}

// setConfig is SetConfig for the registration p.
func (h *Host) setConfig(ctx context.Context, p *Plugin, config map[string]any) (map[string]any, error) {
	if err := h.lock(p); err != nil {
		return nil, err
	}
	defer p.op.Unlock()
	id := p.id
	in := p.inst.Load()
	if in == nil {
		return nil, fmt.Errorf("%w: plugin %s is %s", ErrBusy, id, p.getState())
	}
	if problems := checkConfig(in.meta.Configuration, config); len(problems) > 0 {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, &manifest.Error{File: "configuration", Problems: problems})
	}
	rec, err := h.store.Plugin(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("configure %s: %w", id, err)
	}
	previous := rec.Config
	rec.Config = config
	if err := h.store.PutPlugin(ctx, rec); err != nil {
		return nil, fmt.Errorf("configure %s: %w", id, err)
	}
	effective, err := h.tellConfig(ctx, in, config)
	if err != nil {
		if rerr := h.restoreConfig(context.WithoutCancel(ctx), id, previous); rerr != nil {
			h.log.Error("restore configuration after refusal", "plugin_id", id, "err", rerr)
		}
		return nil, &PluginError{ID: id, Step: "OnConfigChange", Err: err}
	}
	p.mu.Lock()
	p.config = config
	p.mu.Unlock()
	h.publish(ctx, events.Event{Type: events.ConfigChanged, PluginID: id, Message: "plugin " + id + " configuration changed",
		Details: map[string]any{"keys": slices.Sorted(maps.Keys(config))}})
	return effective, nil
}

// tellConfig hands in the effective configuration with the operator's
// values config on top of its manifest's, through its OnConfigChange, and
// returns it.
func (h *Host) tellConfig(ctx context.Context, in *instance, config map[string]any) (map[string]any, error) {
	effective := effectiveConfig(in.meta, config)
	err := call(ctx, h.opts.CallTimeout, func() error { return in.impl.OnConfigChange(maps.Clone(effective)) })
	return effective, err
}

// restoreConfig records config as the plugin's configuration again, after
// the plugin refused the one just recorded.
func (h *Host) restoreConfig(ctx context.Context, id string, config map[string]any) error {
	rec, err := h.store.Plugin(ctx, id)
	if err != nil {
		return err
	}
	rec.Config = config
	return h.store.PutPlugin(ctx, rec)
}

// checkConfig checks operator values against the manifest's configuration:
// when the manifest declares keys, only those keys, each with the JSON kind
// of its default.
func checkConfig(defaults, config map[string]any) []manifest.Problem {
	if len(defaults) == 0 {
		return nil
	}
	var problems []manifest.Problem
	for _, k := range slices.Sorted(maps.Keys(config)) {
		def, known := defaults[k]
		field := "configuration." + k
		switch {
		case !known:
			problems = append(problems, manifest.Problem{Field: field, Message: "unknown key; the manifest declares " + strings.Join(slices.Sorted(maps.Keys(defaults)), ", ")})
		case def != nil && config[k] != nil && manifest.KindOf(def) != manifest.KindOf(config[k]):
			problems = append(problems, manifest.Problem{Field: field, Message: fmt.Sprintf("must be a %s, like the default %v", manifest.KindOf(def), def)})
		}
	}
	return problems
}
