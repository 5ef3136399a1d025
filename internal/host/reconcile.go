package host

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	apiv1 "github.com/kubestellar/ksplugins/api/v1"

	"github.com/kubestellar/ksplugins/internal/events"
	"github.com/kubestellar/ksplugins/internal/store"
)

// Reconcile brings this host's plugins to the desired state in the store,
// for servers that share one store (replicas on one PostgreSQL database):
// each changes the store through its own API, as a single server does, and
// follows the others' changes here. A stored plugin this host does not run
// is restored from its artifact; one whose artifact, enabled state or
// configuration differs is brought to the record; one no longer stored is
// unloaded.
//
// Reconcile never writes the store: what it applies is already recorded,
// and a replica that cannot apply it (its artifact cannot be opened here,
// the plugin refuses the configuration) reports that on itself, in the
// plugin's state and last error and an error event, and leaves the record
// as it is; code it cannot run leaves the plugin failed here, serving
// nothing. It is idempotent: a pass over a host that agrees with the store
// changes nothing, so a host may reconcile after its own changes too.
//
// Each plugin is brought to its record under its operation lock, and the
// record is read again under that lock: this host's own changes write the
// store while holding it, so a change made here between the listing and
// the lock is never undone. A plugin being loaded, restored or unloaded
// here is left to that operation; the next pass sees what it left.
func (h *Host) Reconcile(ctx context.Context) error {
	recs, err := h.store.Plugins(ctx)
	if err != nil {
		return fmt.Errorf("reconcile: %w", err)
	}
	stored := make(map[string]bool, len(recs))
	var adopted []func()
	for _, rec := range recs {
		stored[rec.ID] = true
		if start := h.reconcileOne(ctx, rec.ID, &rec); start != nil {
			adopted = append(adopted, start)
		}
	}
	// Every plugin adopted is registered before any starts, so that each
	// finds the plugins it depends on and waits for them to start first.
	for _, start := range adopted {
		start()
	}
	for _, p := range h.all() {
		if !stored[p.id] {
			h.follow(ctx, p)
		}
	}
	return nil
}

// ReconcilePlugin is Reconcile for the plugin id alone: what a server does
// when it is told that plugin's record changed.
func (h *Host) ReconcilePlugin(ctx context.Context, id string) error {
	rec, err := h.store.Plugin(ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		h.reconcileOne(ctx, id, nil)
	case err != nil:
		return fmt.Errorf("reconcile %s: %w", id, err)
	default:
		if start := h.reconcileOne(ctx, id, &rec); start != nil {
			start()
		}
	}
	return nil
}

// reconcileOne brings the plugin id to rec, its record as listed (nil when
// there is none).
//
// A registration found here may leave the registry while follow waits for
// its lock: an install here that lost the record to another server's (the
// very change being followed) deregisters itself. The id is looked up
// again then, so that the other server's plugin is adopted now rather
// than at the next periodic pass.
//
// A plugin adopted is registered, and the function that starts it in the
// background is returned for the caller to call; otherwise it returns nil.
func (h *Host) reconcileOne(ctx context.Context, id string, rec *store.Plugin) (start func()) {
	for {
		p := h.lookup(id)
		if p == nil {
			if rec != nil {
				return h.adopt(*rec)
			}
			return nil
		}
		if h.follow(ctx, p) {
			return nil
		}
		if ctx.Err() != nil {
			return nil
		}
	}
}

// adopt registers a plugin another server installed and restores it in the
// background, as Restore does at start: until it runs, its endpoints answer
// 503 plugin_restoring. The record is read again once the registration is
// in place, since rec may be older than an unload made here: from then on
// every change to the plugin here goes through the registration.
//
// adopt registers the plugin and returns the function that starts its
// restore, or nil when the id was taken here meanwhile: a caller adopting
// several registers them all first, so that each finds the plugins it
// depends on being restored and starts after them.
func (h *Host) adopt(rec store.Plugin) (start func()) {
	p := restoring(rec)
	h.mu.Lock()
	if _, taken := h.plugins[rec.ID]; taken {
		h.mu.Unlock()
		return nil // loaded here meanwhile
	}
	h.plugins[rec.ID] = p
	h.mu.Unlock()
	return func() { h.goBackground(func(ctx context.Context) { h.restoreAdopted(ctx, p) }) }
}

// restoreAdopted restores p, a plugin adopted from another server's
// record, reading the record again first.
func (h *Host) restoreAdopted(ctx context.Context, p *Plugin) {
	rec, err := h.store.Plugin(ctx, p.id)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			h.log.Warn("reconcile: read the record", "plugin_id", p.id, "err", err)
		}
		p.op.Lock()
		h.deregister(p)
		p.op.Unlock()
		p.settle()
		return
	}
	h.log.Info("following a plugin another server installed", "plugin_id", rec.ID, "digest", rec.ArtifactDigest)
	if err := h.restoreOnce(ctx, p, rec); err != nil {
		if ctx.Err() != nil {
			return
		}
		p.mu.Lock()
		p.followed = rec.ArtifactDigest
		p.mu.Unlock()
		h.failed(ctx, p, err)
		h.retryRestore(ctx, p, rec)
		return
	}
	h.watch(p, false)
}

// follow brings p to its stored record, read under p's operation lock, or
// unloads it here when there is none. It returns false, having done
// nothing, when p left the registry before it got the lock.
func (h *Host) follow(ctx context.Context, p *Plugin) bool {
	if err := h.lock(p); err != nil {
		return false
	}
	defer p.op.Unlock()
	switch p.getState() {
	case apiv1.StateLoading, apiv1.StateRestoring, apiv1.StateUnloading:
		return true
	}
	rec, err := h.store.Plugin(ctx, p.id)
	if errors.Is(err, store.ErrNotFound) {
		h.log.Info("unloading a plugin another server unloaded", "plugin_id", p.id)
		h.remove(ctx, p)
		return true
	}
	if err != nil {
		h.log.Warn("reconcile: read the record", "plugin_id", p.id, "err", err)
		return true
	}
	in := p.inst.Load()
	if in == nil {
		// Nothing runs to be told: the next start of the plugin here
		// takes them.
		p.mu.Lock()
		p.enabled, p.config = rec.Enabled, rec.Config
		p.mu.Unlock()
	}
	if in == nil || in.artifact.Digest != rec.ArtifactDigest {
		h.followCode(ctx, p, in, rec)
		return true
	}
	h.followState(ctx, p, in, rec)
	return true
}

// followCode brings p to the artifact rec pins, with rec's enabled state
// and configuration: beside the running instance, in, as a reload does, or
// as a restore when none runs. On a failure p is failed here, and the
// instance it ran is retired: the other servers serve the recorded code,
// and this one does not serve older code beside it. A failure is not tried
// again for the same artifact: an operator's reload, or the next change of
// the record, tries again.
func (h *Host) followCode(ctx context.Context, p *Plugin, in *instance, rec store.Plugin) {
	p.mu.RLock()
	tried := p.followed == rec.ArtifactDigest
	p.mu.RUnlock()
	if tried {
		return
	}
	src := storedSource(rec)
	err := func() error {
		if in == nil {
			p.mu.Lock()
			p.source, p.grants, p.kube = src, rec.Grants, rec.Kubernetes
			p.mu.Unlock()
			_, err := h.startStored(ctx, p, rec)
			return err
		}
		o, err := h.installer.Restore(ctx, rec, src)
		if err != nil {
			return err
		}
		next := newInstance(o)
		// The new instance starts with the record's configuration, and
		// serves or not as the record says once it is swapped in.
		p.mu.Lock()
		enabled, config := p.enabled, p.config
		p.enabled, p.config = rec.Enabled, rec.Config
		p.mu.Unlock()
		if err := h.swap(ctx, p, next, change{source: &src, grants: rec.Grants, kube: rec.Kubernetes, followed: true}); err != nil {
			p.mu.Lock()
			p.enabled, p.config = enabled, config
			p.mu.Unlock()
			return err
		}
		return nil
	}()
	p.mu.Lock()
	p.followed = rec.ArtifactDigest
	if err != nil {
		p.lastErr = "following the stored artifact " + rec.ArtifactDigest + ": " + err.Error()
		p.state = apiv1.StateFailed
	}
	p.mu.Unlock()
	if err != nil && in != nil {
		// The other servers serve the recorded code: this one serves none
		// rather than older code beside it.
		if p.inst.CompareAndSwap(in, nil) {
			h.retire(ctx, p, in)
		}
	}
	if err != nil {
		h.log.Error("cannot run the plugin another server recorded", "plugin_id", p.id, "digest", rec.ArtifactDigest, "err", err)
		h.publish(ctx, events.Event{Type: events.Error, PluginID: p.id, Actor: "system",
			Message: fmt.Sprintf("plugin %s: cannot run the artifact %s recorded by another server: %v", p.id, rec.ArtifactDigest, err),
			Details: map[string]any{"digest": rec.ArtifactDigest, "reason": "not_followed"}})
		return
	}
	h.log.Info("followed another server's change of a plugin's code", "plugin_id", p.id, "digest", rec.ArtifactDigest)
	now := p.inst.Load()
	h.publish(ctx, events.Event{Type: events.Reloaded, PluginID: p.id, Actor: "system",
		Message: fmt.Sprintf("plugin %s %s reloaded, as another server recorded", p.id, now.meta.Version),
		Details: map[string]any{"version": now.meta.Version, "digest": now.artifact.Digest, "followed": true}})
}

// followState applies rec's enabled state and configuration to p, whose
// running instance in already has rec's artifact.
func (h *Host) followState(ctx context.Context, p *Plugin, in *instance, rec store.Plugin) {
	p.mu.RLock()
	enabledChanged := p.enabled != rec.Enabled
	configChanged := !sameConfig(p.config, rec.Config)
	p.mu.RUnlock()
	if enabledChanged {
		typ := p.setEnabled(rec.Enabled)
		h.publish(ctx, events.Event{Type: typ, PluginID: p.id, Actor: "system",
			Message: fmt.Sprintf("plugin %s %s, as another server recorded", p.id, typ), Details: map[string]any{"followed": true}})
	}
	if !configChanged {
		return
	}
	if _, err := h.tellConfig(ctx, in, rec.Config); err != nil {
		p.mu.Lock()
		p.lastErr = "the configuration another server recorded was refused here: " + err.Error()
		p.mu.Unlock()
		h.publish(ctx, events.Event{Type: events.Error, PluginID: p.id, Actor: "system",
			Message: fmt.Sprintf("plugin %s refused the configuration another server recorded: %v", p.id, err),
			Details: map[string]any{"reason": "not_followed"}})
		return
	}
	p.mu.Lock()
	p.config = rec.Config
	p.mu.Unlock()
	h.publish(ctx, events.Event{Type: events.ConfigChanged, PluginID: p.id, Actor: "system",
		Message: "plugin " + p.id + " configuration changed, as another server recorded", Details: map[string]any{"followed": true}})
}

// sameConfig reports whether two configurations hold the same values once
// stored: a value this host holds as it was decoded from a request and the
// same value read back from the store may differ in Go type only.
func sameConfig(a, b map[string]any) bool {
	if len(a) == 0 && len(b) == 0 {
		return true
	}
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && string(ja) == string(jb)
}

// Follow reconciles this host, in the background until Close, whenever
// changes names a plugin whose record changed or says anything may have
// changed, and every interval regardless, so that a missed notice only
// delays a change. Another server's changes reach this one through it.
// Settings are not the host's: a changed one is handed to setting, with
// its name, or "" when any may have changed.
func (h *Host) Follow(changes <-chan store.Change, interval time.Duration, setting func(ctx context.Context, key string)) {
	h.goBackground(func(ctx context.Context) {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			var err error
			select {
			case <-ctx.Done():
				return
			case c, ok := <-changes:
				if !ok {
					return
				}
				switch c.Kind {
				case store.ChangePlugin:
					err = h.ReconcilePlugin(ctx, c.Key)
				case store.ChangeSetting:
					setting(ctx, c.Key)
				default:
					setting(ctx, "")
					err = h.Reconcile(ctx)
				}
			case <-t.C:
				setting(ctx, "")
				err = h.Reconcile(ctx)
			}
			if err != nil && ctx.Err() == nil {
				h.log.Warn("reconcile with the store", "err", err)
			}
		}
	})
}
