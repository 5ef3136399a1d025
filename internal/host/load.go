package host

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	apiv1 "github.com/kubestellar/ksplugins/api/v1"

	"github.com/kubestellar/ksplugins/internal/build"
	"github.com/kubestellar/ksplugins/internal/events"
	"github.com/kubestellar/ksplugins/internal/manifest"
	"github.com/kubestellar/ksplugins/internal/store"
	"github.com/kubestellar/ksplugins/sdk"
)

// register reserves p's id, records it (when record is set), starts in and
// publishes it, or leaves no trace.
//
// p's operation lock is taken before p enters the registry: a change that
// finds the new registration waits until it has started, or has failed and
// left the registry (and then gets ErrNotFound).
func (h *Host) register(ctx context.Context, p *Plugin, in *instance, record bool) error {
	p.op.Lock()
	defer p.op.Unlock()
	h.graph.Lock()
	h.mu.Lock()
	if _, taken := h.plugins[p.id]; taken {
		h.mu.Unlock()
		h.graph.Unlock()
		in.close(ctx, h.log.With("plugin_id", p.id))
		return fmt.Errorf("load %s: %w: unload it first, or reload it", p.id, ErrExists)
	}
	h.mu.Unlock()
	if err := h.checkRequires("install", p.id, in.meta.PluginDependencies); err != nil {
		h.graph.Unlock()
		in.close(ctx, h.log.With("plugin_id", p.id))
		return err
	}
	// Its dependencies are known from the moment it is registered, so
	// that none of them can be unloaded, unforced, while it starts.
	p.requires = in.meta.PluginDependencies
	h.mu.Lock()
	h.plugins[p.id] = p
	h.mu.Unlock()
	h.graph.Unlock()

	err := func() error {
		if record {
			if err := h.save(ctx, p, in, true); err != nil {
				in.close(ctx, h.log.With("plugin_id", p.id))
				return err
			}
		}
		p.mu.RLock()
		grant := p.kube
		p.mu.RUnlock()
		if err := h.start(ctx, p, in, grant); err != nil {
			if record {
				if derr := h.store.DeletePlugin(context.WithoutCancel(ctx), p.id); derr != nil {
					h.log.Error("remove record of a failed load", "plugin_id", p.id, "err", derr)
				}
			}
			return err
		}
		return nil
	}()
	if err != nil {
		h.deregister(p)
		return err
	}
	h.run(ctx, p, in)
	h.log.Info("plugin loaded", "plugin_id", p.id, "version", in.meta.Version, "source", p.source.Location, "digest", in.artifact.Digest)
	return nil
}

// deregister takes p out of the registry, if it is still the plugin
// registered under its id. The caller holds p.op: a registration leaves
// only with its lock held (see lock).
func (h *Host) deregister(p *Plugin) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.plugins[p.id] == p {
		delete(h.plugins, p.id)
	}
}

// run publishes a started instance of p and starts its health checker, if
// it is not running yet; p is degraded rather than active while one of
// its dependencies is unmet, and the plugins that depend on it are
// brought to active or degraded as its new code stands. The caller holds
// p.op.
func (h *Host) run(ctx context.Context, p *Plugin, in *instance) {
	p.inst.Store(in)
	p.mu.Lock()
	p.requires = in.meta.PluginDependencies
	p.mu.Unlock()
	unmet := h.unmetOf(p)
	defer h.settleDependencies(ctx, p)
	defer p.settle()
	p.mu.Lock()
	p.lastErr, p.unmet = "", unmet
	if p.enabled {
		p.state = p.servingState()
	} else {
		p.state = apiv1.StateDisabled
	}
	start := p.stopHealth == nil
	if start {
		var ctx context.Context
		ctx, p.stopHealth = context.WithCancel(h.ctx)
		h.goBackground(func(context.Context) { h.watchHealth(ctx, p) })
	}
	p.mu.Unlock()
}

// save records p's desired state with in as its pinned artifact, which it
// first publishes for other servers sharing the store. A new plugin's
// record is created (ErrExists if another server created one meanwhile);
// an existing one is read and written back at the revision read, with only
// what a change of code changes, so that whatever another server recorded
// meanwhile (enabled, configuration) is kept, or the write is refused with
// ErrConflict.
func (h *Host) save(ctx context.Context, p *Plugin, in *instance, create bool) error {
	if err := h.installer.Publish(ctx, in.artifact); err != nil {
		return fmt.Errorf("record plugin %s: %w", p.id, err)
	}
	rec := store.Plugin{ID: p.id}
	if !create {
		var err error
		if rec, err = h.store.Plugin(ctx, p.id); err != nil {
			return fmt.Errorf("record plugin %s: %w", p.id, err)
		}
	}
	p.mu.RLock()
	rec.SourceKind = string(p.source.Kind)
	rec.SourceLocation = p.source.Location
	rec.SourceVersion = p.source.Version
	rec.SourcePath = p.source.Path
	rec.SourcePin = p.source.Pin
	rec.Tier = string(in.artifact.Tier)
	rec.ArtifactPath = in.artifact.Path
	rec.ArtifactDigest = in.artifact.Digest
	rec.BuildKey = in.artifact.BuildKey
	rec.Grants = p.grants
	rec.Kubernetes = p.kube
	if create {
		rec.Enabled, rec.Config = p.enabled, p.config
	}
	p.mu.RUnlock()
	var err error
	if create {
		err = h.store.CreatePlugin(ctx, rec)
		if errors.Is(err, store.ErrExists) {
			err = fmt.Errorf("%w: installed through another server meanwhile", ErrExists)
		}
	} else {
		err = h.store.PutPlugin(ctx, rec)
	}
	if err != nil {
		return fmt.Errorf("record plugin %s: %w", p.id, err)
	}
	return nil
}

// effectiveConfig is the manifest's configuration with the operator's on top.
func effectiveConfig(meta sdk.PluginMetadata, overrides map[string]any) map[string]any {
	config := maps.Clone(meta.Configuration)
	if config == nil {
		config = map[string]any{}
	}
	maps.Copy(config, overrides)
	return config
}

// start runs lifecycle steps 5-6 for an instance of p, which reaches
// clusters under kube, the grant in force once it runs, and the plugins it
// depends on through a PluginCaller.
func (h *Host) start(ctx context.Context, p *Plugin, in *instance, kube *apiv1.KubernetesGrant) error {
	log := h.log.With("plugin_id", p.id)
	engine, err := h.newRouter(p, in.impl, in.meta.Endpoints, log)
	if err != nil {
		in.close(ctx, log)
		return &PluginError{ID: p.id, Step: "GetHandlers", Err: err}
	}
	in.engine = engine
	if es, ok := in.impl.(sdk.EventSource); ok {
		es.SetPublisher(pluginPublisher{bus: h.events, id: p.id})
	}
	if pc, ok := in.impl.(sdk.PluginCallerUser); ok {
		pc.SetPluginCaller(pluginCaller{h: h, from: p.id, declared: in.meta.PluginDependencies})
	}
	if ku, ok := in.impl.(sdk.KubernetesUser); ok {
		in.kube = h.kubeAccessFor(p, kube)
		ku.SetKubernetes(in.kube)
	}
	p.mu.RLock()
	config := effectiveConfig(in.meta, p.config)
	p.mu.RUnlock()
	steps := []struct {
		name string
		fn   func() error
	}{
		{"Validate", in.impl.Validate},
		{"Initialize", func() error { return in.impl.Initialize(config) }},
		{"OnLoad", in.impl.OnLoad},
	}
	for _, s := range steps {
		if err := call(ctx, h.opts.CallTimeout, s.fn); err != nil {
			if cerr := call(ctx, h.opts.CallTimeout, in.impl.Cleanup); cerr != nil {
				log.Warn("cleanup after failed start", "err", cerr)
			}
			in.close(ctx, log)
			return &PluginError{ID: p.id, Step: s.name, Err: err}
		}
	}
	return nil
}

// pluginPublisher is the sdk.Publisher a plugin gets: its events carry its
// id and the actor "plugin", so they cannot pass for the host's own.
type pluginPublisher struct {
	bus *events.Bus
	id  string
}

// Publish puts a plugin's event on the bus, with its own kind in the
// details.
func (pp pluginPublisher) Publish(kind, message string, details map[string]any) {
	d := maps.Clone(details)
	if d == nil {
		d = map[string]any{}
	}
	d["kind"] = kind
	pp.bus.Publish(events.Event{Type: events.PluginEvent, PluginID: pp.id, Actor: "plugin", Message: message, Details: d})
}

// retire stops an instance that no longer receives new requests: drain,
// OnUnload, Cleanup, and close it in its runtime.
func (h *Host) retire(ctx context.Context, p *Plugin, in *instance) {
	log := h.log.With("plugin_id", p.id)
	if n := in.drain(h.opts.DrainTimeout); n > 0 {
		log.Warn("requests still running after drain timeout", "requests", n, "timeout", h.opts.DrainTimeout)
	}
	if err := call(ctx, h.opts.CallTimeout, in.impl.OnUnload); err != nil {
		log.Warn("OnUnload failed", "err", err)
	}
	if err := call(ctx, h.opts.CallTimeout, in.impl.Cleanup); err != nil {
		log.Warn("Cleanup failed", "err", err)
	}
	in.close(ctx, log)
}

// Unload stops a plugin and forgets it, stored state included. The record
// is deleted before the plugin leaves the registry, so that whoever sees it
// gone also finds it gone after a restart. A plugin others depend on is
// not unloaded: a *DependencyError (HasDependants) names them.
func (h *Host) Unload(ctx context.Context, id string) error {
	p, err := h.get(id)
	if err != nil {
		return err
	}
	return h.unload(ctx, p, false)
}

// ForceUnload is Unload even when other plugins depend on the plugin:
// they go on running, degraded, until it is installed again.
func (h *Host) ForceUnload(ctx context.Context, id string) error {
	p, err := h.get(id)
	if err != nil {
		return err
	}
	return h.unload(ctx, p, true)
}

// unload is Unload for the registration p; force unloads it even when
// others depend on it.
func (h *Host) unload(ctx context.Context, p *Plugin, force bool) error {
	if err := h.lock(p); err != nil {
		return err
	}
	defer p.op.Unlock()
	h.graph.Lock()
	if err := h.checkDependants("unload", p, force); err != nil {
		h.graph.Unlock()
		return err
	}
	if err := h.store.DeletePlugin(ctx, p.id); err != nil && !errors.Is(err, store.ErrNotFound) {
		h.graph.Unlock()
		return fmt.Errorf("unload %s: %w", p.id, err)
	}
	h.deregister(p)
	h.graph.Unlock()
	h.remove(ctx, p)
	return nil
}

// remove takes p out of the registry and retires its instance: the end of
// an unload, once the record is gone. The caller holds p.op.
func (h *Host) remove(ctx context.Context, p *Plugin) {
	id := p.id
	h.deregister(p)
	p.mu.Lock()
	p.state = apiv1.StateUnloading
	if p.stopHealth != nil {
		p.stopHealth()
	}
	if p.stopWatch != nil {
		p.stopWatch()
	}
	p.mu.Unlock()
	if in := p.inst.Swap(nil); in != nil {
		h.retire(ctx, p, in)
	}
	h.log.Info("plugin unloaded", "plugin_id", id)
	h.publish(ctx, events.Event{Type: events.Unloaded, PluginID: id, Message: "plugin " + id + " unloaded"})
	p.settle() // what waited for its restore waits no more
	h.settleDependencies(ctx, p)
}

// Reload loads the plugin's source again and swaps the new instance in; on
// any failure the old instance keeps serving and the error is returned. A
// plugin unloaded while the reload waited for it gives ErrNotFound.
func (h *Host) Reload(ctx context.Context, id string) (apiv1.Plugin, error) {
	p, err := h.get(id)
	if err != nil {
		return apiv1.Plugin{}, err
	}
	return h.reload(ctx, p, h.instantiate)
}

// instantiator loads a plugin's source again for a reload; Host.instantiate
// is the real one.
type instantiator func(ctx context.Context, src apiv1.Source, tier build.Tier, grants []string) (*instance, []manifest.Problem, error)

// instantiate opens the code of src again, through the install pipeline.
func (h *Host) instantiate(ctx context.Context, src apiv1.Source, tier build.Tier, grants []string) (*instance, []manifest.Problem, error) {
	o, err := h.installer.Instantiate(ctx, src, tier, grants)
	if err != nil {
		return nil, nil, err
	}
	return newInstance(o), o.Warnings, nil
}

// reload is Reload for the registration p, with load to bring its code.
func (h *Host) reload(ctx context.Context, p *Plugin, load instantiator) (apiv1.Plugin, error) {
	if err := h.lock(p); err != nil {
		return apiv1.Plugin{}, fmt.Errorf("reload %s: %w", p.id, err)
	}
	defer p.op.Unlock()
	id := p.id
	p.mu.RLock()
	src, tier, grants := p.source, p.tier, p.grants
	p.mu.RUnlock()

	start := time.Now()
	in, warnings, err := load(ctx, src, tier, grants)
	if err == nil {
		err = h.swap(ctx, p, in, change{warnings: warnings})
	}
	if err != nil {
		p.mu.Lock()
		p.lastErr = err.Error()
		p.mu.Unlock()
		h.log.Warn("reload failed; previous version keeps serving", "plugin_id", id, "err", err)
		h.publish(ctx, events.Event{Type: events.Error, PluginID: id, Message: "reload failed; previous version keeps serving: " + err.Error()})
		return h.info(p), fmt.Errorf("reload %s: %w", id, err)
	}
	d := time.Since(start)
	h.log.Info("plugin reloaded", "plugin_id", id, "version", in.meta.Version, "digest", in.artifact.Digest, "duration", d.Round(time.Millisecond))
	h.publish(ctx, events.Event{Type: events.Reloaded, PluginID: id, Message: fmt.Sprintf("plugin %s %s reloaded", id, in.meta.Version),
		Details: map[string]any{"version": in.meta.Version, "digest": in.artifact.Digest, "duration_ms": d.Milliseconds()}})
	return h.info(p), nil
}

// change is what a swap changes beside the code.
type change struct {
	// source and the grants, when source is set, replace the plugin's:
	// an update moves it to another version, whose manifest may ask for
	// other permissions and other access to clusters.
	source *apiv1.Source
	grants []string
	kube   *apiv1.KubernetesGrant
	// warnings are the new code's manifest problems.
	warnings []manifest.Problem
	// probe requires the new instance to pass a health check before it
	// is recorded.
	probe bool
	// followed: the store already holds the new state, which another
	// server sharing it recorded (Reconcile); the swap writes nothing.
	followed bool
}

// swap is the one way a running plugin's code is replaced, by reload,
// update and a watched folder's change: it starts in beside the running
// instance (and probes its health, if asked), records it, publishes it
// atomically and retires the old instance. The caller holds p.op. On error
// in is released and the running instance, the plugin's source and its
// stored record are untouched; new code that declares another id is
// refused.
func (h *Host) swap(ctx context.Context, p *Plugin, in *instance, c change) error {
	if in.meta.ID != p.id {
		in.close(ctx, h.log.With("plugin_id", p.id))
		return &manifest.Error{File: "plugin.yaml", Problems: []manifest.Problem{{Field: "id", Message: fmt.Sprintf("changed from %s to %s; load it as a new plugin instead", p.id, in.meta.ID)}}}
	}
	if !c.followed {
		// What another server recorded is followed as it is; here, new
		// code must find what it depends on, as an install does.
		h.graph.Lock()
		err := h.checkRequires("replace the code of", p.id, in.meta.PluginDependencies)
		h.graph.Unlock()
		if err != nil {
			in.close(ctx, h.log.With("plugin_id", p.id))
			return err
		}
	}
	p.mu.RLock()
	grant := p.kube
	p.mu.RUnlock()
	if c.source != nil {
		grant = c.kube
	}
	if err := h.start(ctx, p, in, grant); err != nil {
		return err
	}
	if c.probe {
		if err := call(ctx, h.healthPolicy().Timeout, func() error { return probe(in) }); err != nil {
			h.retire(ctx, p, in)
			return &PluginError{ID: p.id, Step: "Health", Err: err}
		}
	}
	p.mu.Lock()
	prevSource, prevGrants, prevKube := p.source, p.grants, p.kube
	if c.source != nil {
		p.source, p.grants, p.kube = *c.source, c.grants, c.kube
	}
	p.mu.Unlock()
	if !c.followed {
		if err := h.save(ctx, p, in, false); err != nil {
			p.mu.Lock()
			p.source, p.grants, p.kube = prevSource, prevGrants, prevKube
			p.mu.Unlock()
			h.retire(ctx, p, in)
			return err
		}
	}
	old := p.inst.Load()
	p.mu.Lock()
	p.warnings = c.warnings
	p.mu.Unlock()
	h.run(ctx, p, in)
	if old != nil {
		h.retire(ctx, p, old)
	}
	return nil
}
