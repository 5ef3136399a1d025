package host

import (
	"context"
	"errors"
	"fmt"
	goruntime "runtime"
	"sync"
	"sync/atomic"
	"time"

	apiv1 "github.com/kubestellar/ksplugins/api/v1"

	"github.com/kubestellar/ksplugins/internal/dependency"
	"github.com/kubestellar/ksplugins/internal/events"
	"github.com/kubestellar/ksplugins/internal/install"
	"github.com/kubestellar/ksplugins/internal/store"
)

// Restore registers every stored plugin as restoring and brings them back
// in the background from the local artifact cache, without the network, in
// their stored state and configuration, as many at once as there are
// cores: the server answers (its probes, the API, the plugins already
// back) while the others come up, and a restart is not an outage that
// grows with the number of plugins. A restoring plugin's endpoints answer
// 503 plugin_restoring. A plugin that does not come back is marked failed,
// with its reason, and retried with backoff; the others come up
// regardless. Restore returns how many plugins it found; Restored tells
// when all of them are back or failed.
func (h *Host) Restore(ctx context.Context) (found int, err error) {
	recs, err := h.store.Plugins(ctx)
	if err != nil {
		return 0, fmt.Errorf("restore: %w", err)
	}
	ps := make([]*Plugin, len(recs))
	h.mu.Lock()
	for i, rec := range recs {
		ps[i] = restoring(rec)
		h.plugins[rec.ID] = ps[i]
	}
	h.restoring.Add(int64(len(recs)))
	h.mu.Unlock()
	h.goBackground(func(ctx context.Context) { h.restoreAll(ctx, ps, recs) })
	return len(recs), nil
}

// restoring is the registration of a plugin about to be brought back from
// its record rec.
func restoring(rec store.Plugin) *Plugin {
	return &Plugin{
		id:      rec.ID,
		state:   apiv1.StateRestoring,
		settled: make(chan struct{}),
		tier:    install.StoredTier(rec),
		enabled: rec.Enabled,
		grants:  rec.Grants,
		kube:    rec.Kubernetes,
		config:  rec.Config,
		source:  storedSource(rec),
	}
}

// storedSource is where rec's plugin came from.
func storedSource(rec store.Plugin) apiv1.Source {
	return apiv1.Source{Kind: apiv1.SourceKind(rec.SourceKind), Location: rec.SourceLocation, Version: rec.SourceVersion, Path: rec.SourcePath, Pin: rec.SourcePin}
}

// Restored returns a channel closed when every plugin Restore found is
// back or failed (failed ones go on being retried).
func (h *Host) Restored() <-chan struct{} { return h.restored }

// Restoring returns how many plugins Restore found are still coming back.
func (h *Host) Restoring() int { return int(h.restoring.Load()) }

// restoreAll restores ps, recs' plugins, and closes h.restored when they
// are all back or failed. Their code is opened a core's worth at a time
// in any order; they start in the order of their dependencies (see
// package dependency's Graph.Levels), each level a core's worth at a time
// once the levels before it are running or failed, so that a plugin's
// dependencies run before it does. Plugins on a cycle, which no install
// lets in, start last, degraded.
func (h *Host) restoreAll(ctx context.Context, ps []*Plugin, recs []store.Plugin) {
	defer close(h.restored)
	opened := make([]*install.Opened, len(ps))
	errs := make([]error, len(ps))
	all := make([]int, len(ps))
	for i := range all {
		all[i] = i
	}
	h.each(ctx, all, func(ctx context.Context, i int) {
		opened[i], errs[i] = h.installer.Restore(ctx, recs[i], storedSource(recs[i]))
	})
	var running atomic.Int64
	started := make([]bool, len(ps))
	for _, level := range restoreOrder(ps, opened) {
		h.each(ctx, level, func(ctx context.Context, i int) {
			if opened[i] == nil && errs[i] == nil {
				return // never opened: the host is closing
			}
			started[i] = true
			defer h.restoring.Add(-1)
			err := errs[i]
			if err == nil {
				err = h.restoreOpened(ctx, ps[i], opened[i], false)
			}
			if err != nil {
				h.failed(ctx, ps[i], err)
				h.goBackground(func(ctx context.Context) { h.retryRestore(ctx, ps[i], recs[i]) })
				return
			}
			h.watch(ps[i], false)
			running.Add(1)
		})
	}
	// Closing: what was not started is not restored now; the next start
	// will.
	for i, ok := range started {
		if !ok {
			h.restoring.Add(-1)
			if opened[i] != nil {
				opened[i].Close(context.WithoutCancel(ctx), h.log.With("plugin_id", ps[i].id))
			}
		}
	}
	if len(ps) > 0 {
		h.log.Info("restored plugins", "stored", len(ps), "running", running.Load())
	}
}

// restoreOrder groups the indexes of ps into the levels they start in:
// each plugin after the plugins it depends on, by what its opened code
// declares; a plugin whose code did not open depends on nothing.
func restoreOrder(ps []*Plugin, opened []*install.Opened) [][]int {
	g := dependency.Graph{}
	index := make(map[string]int, len(ps))
	for i, p := range ps {
		index[p.id] = i
		g[p.id] = nil
		if opened[i] != nil {
			g[p.id] = ids(opened[i].Meta.PluginDependencies)
		}
	}
	levels, stuck := g.Levels()
	if len(stuck) > 0 {
		levels = append(levels, stuck)
	}
	out := make([][]int, len(levels))
	for l, level := range levels {
		for _, id := range level {
			out[l] = append(out[l], index[id])
		}
	}
	return out
}

// each runs fn for every index in is, as many at once as there are cores,
// and returns when they have all returned. Once ctx is done it starts no
// more.
func (h *Host) each(ctx context.Context, is []int, fn func(ctx context.Context, i int)) {
	var wg sync.WaitGroup
	slots := make(chan struct{}, goruntime.GOMAXPROCS(0))
	defer wg.Wait()
	for _, i := range is {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			fn(ctx, i)
		}()
	}
}

// restoreOnce opens the stored artifact of rec and starts it as p, once
// the plugins it depends on that are being restored too are running or
// have failed.
func (h *Host) restoreOnce(ctx context.Context, p *Plugin, rec store.Plugin) error {
	p.mu.RLock()
	src := p.source
	p.mu.RUnlock()
	o, err := h.installer.Restore(ctx, rec, src)
	if err != nil {
		return err
	}
	return h.restoreOpened(ctx, p, o, true)
}

// restoreOpened starts o, p's stored code opened, as p's running instance,
// after waiting for its dependencies (when wait). It closes o when p was
// unloaded meanwhile or an operator's reload got there first.
func (h *Host) restoreOpened(ctx context.Context, p *Plugin, o *install.Opened, wait bool) error {
	if wait {
		h.awaitDependencies(ctx, o.Meta.PluginDependencies)
	}
	if err := h.lock(p); err != nil {
		o.Close(context.WithoutCancel(ctx), h.log.With("plugin_id", p.id))
		return err // unloaded while the restore waited
	}
	defer p.op.Unlock()
	if p.inst.Load() != nil {
		o.Close(context.WithoutCancel(ctx), h.log.With("plugin_id", p.id))
		return nil // an operator's reload got there first
	}
	in, err := h.startOpened(ctx, p, o)
	if err != nil {
		return err
	}
	p.mu.RLock()
	enabled := p.enabled
	p.mu.RUnlock()
	h.log.Info("plugin restored", "plugin_id", p.id, "digest", in.artifact.Digest, "enabled", enabled)
	h.publish(ctx, events.Event{Type: events.Loaded, PluginID: p.id, Actor: "system", Message: "plugin " + p.id + " restored",
		Details: map[string]any{"version": in.meta.Version, "digest": in.artifact.Digest, "restored": true}})
	return nil
}

// startStored opens the artifact rec pins and starts it as p's running
// instance, with p's source and grants. The caller holds p.op, and no
// instance of p runs.
func (h *Host) startStored(ctx context.Context, p *Plugin, rec store.Plugin) (*instance, error) {
	p.mu.RLock()
	src := p.source
	p.mu.RUnlock()
	o, err := h.installer.Restore(ctx, rec, src)
	if err != nil {
		return nil, err
	}
	return h.startOpened(ctx, p, o)
}

// startOpened starts o, p's code opened, as p's running instance, with
// p's grant. The caller holds p.op, and no instance of p runs.
func (h *Host) startOpened(ctx context.Context, p *Plugin, o *install.Opened) (*instance, error) {
	p.mu.RLock()
	grant := p.kube
	p.mu.RUnlock()
	in := newInstance(o)
	if err := h.start(ctx, p, in, grant); err != nil {
		return nil, err
	}
	h.run(ctx, p, in)
	return in, nil
}

// failed marks p failed with err.
func (h *Host) failed(ctx context.Context, p *Plugin, err error) {
	p.mu.Lock()
	p.state, p.lastErr = apiv1.StateFailed, err.Error()
	p.mu.Unlock()
	p.settle()
	h.log.Error("plugin failed to start", "plugin_id", p.id, "err", err)
	h.publish(ctx, events.Event{Type: events.Error, PluginID: p.id, Actor: "system", Message: "plugin " + p.id + " failed to start: " + err.Error()})
	h.settleDependencies(ctx, p)
}

// retryRestore retries a failed restore with exponential backoff, and marks
// the plugin crash_loop after MaxRestarts failures in a row.
func (h *Host) retryRestore(ctx context.Context, p *Plugin, rec store.Plugin) {
	h.retry(ctx, p, func(ctx context.Context) error {
		if err := h.restoreOnce(ctx, p, rec); err != nil {
			return err
		}
		h.watch(p, false) // as the first pass does for a plugin that came back
		return nil
	})
}

// retry runs attempt with exponential backoff until it succeeds, the plugin
// is no longer failed (reloaded or unloaded), or MaxRestarts attempts fail.
func (h *Host) retry(ctx context.Context, p *Plugin, attempt func(context.Context) error) {
	wait := h.opts.RestartBackoff
	for n := 1; n <= h.opts.MaxRestarts; n++ {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		if p.getState() != apiv1.StateFailed {
			return
		}
		err := attempt(ctx)
		if err == nil {
			return
		}
		if errors.Is(err, context.Canceled) && ctx.Err() != nil {
			return
		}
		p.mu.Lock()
		p.lastErr = fmt.Sprintf("attempt %d of %d: %v", n, h.opts.MaxRestarts, err)
		p.mu.Unlock()
		h.log.Warn("plugin restart failed", "plugin_id", p.id, "attempt", n, "err", err, "next_wait", 2*wait)
		wait = min(2*wait, time.Minute)
	}
	p.mu.Lock()
	if p.state == apiv1.StateFailed {
		p.state = apiv1.StateCrashLoop
	}
	state := p.state
	p.mu.Unlock()
	if state == apiv1.StateCrashLoop {
		h.publish(ctx, events.Event{Type: events.StateChanged, PluginID: p.id, Actor: "system",
			Message: fmt.Sprintf("plugin %s failed to start %d times in a row; reload it to try again", p.id, h.opts.MaxRestarts),
			Details: map[string]any{"state": string(apiv1.StateCrashLoop)}})
	}
}
