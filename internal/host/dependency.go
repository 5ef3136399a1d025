package host

import (
	"context"
	"fmt"
	"strings"
	"time"

	apiv1 "github.com/kubestellar/ksplugins/api/v1"

	"github.com/kubestellar/ksplugins/internal/dependency"
	"github.com/kubestellar/ksplugins/internal/events"
	"github.com/kubestellar/ksplugins/sdk"
)

// DependencyReason says why a change was refused because of plugin
// dependencies; its values are the API's error codes.
type DependencyReason string

// The reasons a DependencyError gives.
const (
	// DependencyMissing: a dependency is not installed, or not running.
	DependencyMissing DependencyReason = "dependency_missing"
	// DependencyVersion: a dependency's installed version is out of range.
	DependencyVersion DependencyReason = "dependency_version"
	// DependencyCycle: the dependencies would form a cycle.
	DependencyCycle DependencyReason = "dependency_cycle"
	// HasDependants: other plugins depend on the one being unloaded or
	// disabled; forcing the change overrides it.
	HasDependants DependencyReason = "has_dependants"
)

// DependencyError refuses an install, update, unload or disable because of
// plugin dependencies. Nothing was changed.
type DependencyError struct {
	Reason DependencyReason
	// Op is what was refused ("install", "unload", ...) and Plugin its
	// plugin.
	Op, Plugin string
	// Requires is the dependency at fault, for DependencyMissing and
	// DependencyVersion; Installed the version found, for the latter.
	Requires  sdk.PluginDependency
	Installed string
	// State is the state of a dependency installed but not running.
	State apiv1.State
	// Cycle closes on itself, first id last, for DependencyCycle.
	Cycle []string
	// Dependants depend on Plugin, for HasDependants.
	Dependants []string
}

func (e *DependencyError) Error() string {
	rng := rangeText(e.Requires.Version)
	switch e.Reason {
	case DependencyMissing:
		if e.State != "" {
			return fmt.Sprintf("%s %s: it depends on plugin %s (%s), which is %s", e.Op, e.Plugin, e.Requires.Plugin, rng, e.State)
		}
		return fmt.Sprintf("%s %s: it depends on plugin %s (%s), which is not installed; install it first", e.Op, e.Plugin, e.Requires.Plugin, rng)
	case DependencyVersion:
		return fmt.Sprintf("%s %s: it depends on plugin %s %s, but %s %s is installed", e.Op, e.Plugin, e.Requires.Plugin, rng, e.Requires.Plugin, e.Installed)
	case DependencyCycle:
		return fmt.Sprintf("%s %s: its dependencies would form a cycle: %s", e.Op, e.Plugin, dependency.String(e.Cycle))
	default:
		verb, them := "depend", "them"
		if len(e.Dependants) == 1 {
			verb, them = "depends", "it"
		}
		return fmt.Sprintf("%s %s: %s %s on it; unload or disable %s first, or force the change (the dependants are then degraded)",
			e.Op, e.Plugin, strings.Join(e.Dependants, ", "), verb, them)
	}
}

// rangeText names a version range for people.
func rangeText(r string) string {
	if strings.TrimSpace(r) == "" {
		return "any version"
	}
	return r
}

// checkRequires refuses to let plugin id run code that requires reqs when
// a dependency is missing, not running or out of range, or when reqs
// would close a cycle with the plugins installed. op names the change.
// The caller holds h.graph, so that no dependency leaves meanwhile.
func (h *Host) checkRequires(op, id string, reqs []sdk.PluginDependency) error {
	for _, r := range reqs {
		d := h.lookup(r.Plugin)
		if d == nil {
			return &DependencyError{Reason: DependencyMissing, Op: op, Plugin: id, Requires: r}
		}
		in := d.inst.Load()
		if in == nil {
			return &DependencyError{Reason: DependencyMissing, Op: op, Plugin: id, Requires: r, State: d.getState()}
		}
		if ok, err := dependency.Satisfies(r.Version, in.meta.Version); err != nil || !ok {
			return &DependencyError{Reason: DependencyVersion, Op: op, Plugin: id, Requires: r, Installed: in.meta.Version}
		}
	}
	g := h.graphOf()
	g[id] = ids(reqs)
	if c := g.Cycle(id); c != nil {
		return &DependencyError{Reason: DependencyCycle, Op: op, Plugin: id, Cycle: c}
	}
	return nil
}

// checkDependants refuses to take p away (op: unload, disable) while
// other plugins depend on it, unless force.
func (h *Host) checkDependants(op string, p *Plugin, force bool) error {
	if ds := h.graphOf().Dependants(p.id); len(ds) > 0 && !force {
		return &DependencyError{Reason: HasDependants, Op: op, Plugin: p.id, Dependants: ds}
	}
	return nil
}

// graphOf is the dependency graph of the plugins installed.
func (h *Host) graphOf() dependency.Graph {
	g := dependency.Graph{}
	for _, p := range h.all() {
		p.mu.RLock()
		g[p.id] = ids(p.requires)
		p.mu.RUnlock()
	}
	return g
}

func ids(reqs []sdk.PluginDependency) []string {
	out := make([]string, len(reqs))
	for i, r := range reqs {
		out[i] = r.Plugin
	}
	return out
}

// dependencies reports each of reqs with whether it is satisfied now.
func (h *Host) dependencies(reqs []sdk.PluginDependency) []apiv1.Dependency {
	out := make([]apiv1.Dependency, 0, len(reqs))
	for _, r := range reqs {
		d := apiv1.Dependency{Plugin: r.Plugin, Range: r.Version}
		q := h.lookup(r.Plugin)
		var in *instance
		if q != nil {
			in = q.inst.Load()
		}
		if in != nil {
			d.Installed = in.meta.Version
		}
		switch {
		case q == nil:
			d.Reason = "not installed"
		case !serving(q.getState()) || in == nil:
			d.Reason = string(q.getState())
		default:
			if ok, _ := dependency.Satisfies(r.Version, in.meta.Version); ok {
				d.Satisfied = true
			} else {
				d.Reason = fmt.Sprintf("%s is not in range %s", in.meta.Version, r.Version)
			}
		}
		out = append(out, d)
	}
	return out
}

// unmetOf says which of p's dependencies are not satisfied now, and why,
// or "" when all are.
func (h *Host) unmetOf(p *Plugin) string {
	p.mu.RLock()
	reqs := p.requires
	p.mu.RUnlock()
	var why []string
	for _, d := range h.dependencies(reqs) {
		if !d.Satisfied {
			why = append(why, fmt.Sprintf("dependency %s (%s) is %s", d.Plugin, rangeText(d.Range), d.Reason))
		}
	}
	return strings.Join(why, "; ")
}

// settleDependencies brings p, and every plugin that depends on it, to
// active or degraded as their dependencies stand now: after p started,
// changed code, left, was disabled or enabled, or failed. It publishes a
// state_changed event for each plugin that moves.
func (h *Host) settleDependencies(ctx context.Context, p *Plugin) {
	ps := []*Plugin{p}
	for _, id := range h.graphOf().Dependants(p.id) {
		if q := h.lookup(id); q != nil && q != p {
			ps = append(ps, q)
		}
	}
	for _, q := range ps {
		if h.lookup(q.id) != q {
			continue // p itself, unloaded
		}
		unmet := h.unmetOf(q)
		q.mu.Lock()
		q.unmet = unmet
		from, to := q.state, q.state
		if serving(q.state) {
			to = q.servingState()
			q.state = to
		}
		q.mu.Unlock()
		if from == to {
			continue
		}
		msg := fmt.Sprintf("plugin %s is active again: its dependencies are back", q.id)
		if to == apiv1.StateDegraded {
			msg = fmt.Sprintf("plugin %s is degraded: %s", q.id, unmet)
		}
		h.publish(ctx, events.Event{Type: events.StateChanged, PluginID: q.id, Actor: "system", Message: msg,
			Details: map[string]any{"state": string(to), "dependency": p.id}})
	}
}

// awaitDependencies waits, at most the call timeout, until every one of
// reqs that is being restored is running or has failed, so that a plugin
// restored or adopted with its dependencies starts after them. A
// dependency that does not come back in time leaves the plugin degraded,
// not stuck.
func (h *Host) awaitDependencies(ctx context.Context, reqs []sdk.PluginDependency) {
	t := time.NewTimer(h.opts.CallTimeout)
	defer t.Stop()
	for _, r := range reqs {
		q := h.lookup(r.Plugin)
		if q == nil || q.settled == nil {
			continue
		}
		select {
		case <-q.settled:
		case <-ctx.Done():
			return
		case <-t.C:
			return
		}
	}
}

// info is p's report, with its dependencies and dependants.
func (h *Host) info(p *Plugin) apiv1.Plugin {
	info := p.info()
	var reqs []sdk.PluginDependency
	if p.inst.Load() != nil {
		p.mu.RLock()
		reqs = p.requires
		p.mu.RUnlock()
	}
	info.Dependencies = h.dependencies(reqs)
	info.Dependants = h.graphOf().Dependants(p.id)
	if info.Dependants == nil {
		info.Dependants = []string{}
	}
	return info
}
