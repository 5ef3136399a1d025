package host

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	apiv1 "github.com/kubestellar/ksplugins/api/v1"

	"github.com/kubestellar/ksplugins/internal/build"
	"github.com/kubestellar/ksplugins/internal/events"
	"github.com/kubestellar/ksplugins/internal/install"
	"github.com/kubestellar/ksplugins/internal/operation"
)

// LoadRequest asks for a plugin to be installed: what the caller asked
// for, and what the server adds to it.
type LoadRequest = install.Request

// Pin is a catalog's record of the version an install or update brings:
// a source whose digest differs is refused.
type Pin = install.Pin

// DigestMismatchError is a source whose digest is not its catalog's.
type DigestMismatchError = install.DigestMismatchError

// Load installs a plugin and returns when it serves or has failed. An
// install either completes or leaves no trace.
func (h *Host) Load(ctx context.Context, req LoadRequest) (apiv1.Plugin, error) {
	op := h.newOp(ctx, "install", req.Describe(), "")
	return h.install(ctx, op, req)
}

// StartLoad installs a plugin in the background and returns its operation
// at once; follow it with Operation or on the event stream.
func (h *Host) StartLoad(ctx context.Context, req LoadRequest) apiv1.Operation {
	op := h.newOp(ctx, "install", req.Describe(), "")
	actor := actorOf(ctx)
	h.goBackground(func(bg context.Context) { _, _ = h.install(WithActor(bg, actor), op, req) })
	o, _, _ := h.Operation(op.ID())
	return o
}

// install runs an install operation: the install pipeline brings the code
// to an opened instance, and the host registers it (lifecycle steps 3-7).
// The operation is finished before its last event is published, so that a
// client reacting to that event reads the finished operation.
func (h *Host) install(ctx context.Context, op *operation.Op, req LoadRequest) (info apiv1.Plugin, err error) {
	var p *Plugin
	o, err := h.installer.Install(ctx, op, req, func(ctx context.Context, o *install.Opened) error {
		p = &Plugin{id: o.Meta.ID, state: apiv1.StateLoading, tier: o.Artifact.Tier, enabled: true, source: o.Source, warnings: o.Warnings, grants: o.Grants, kube: o.Kubernetes}
		if err := h.register(ctx, p, newInstance(o), true); err != nil {
			return err
		}
		h.watch(p, req.Watch)
		return nil
	})
	if err != nil {
		op.Finish(nil, err)
		h.publish(ctx, events.Event{Type: events.Error, PluginID: op.PluginID(), Message: "install failed: " + err.Error(),
			Details: map[string]any{"operation_id": op.ID(), "source": op.Source()}})
		return apiv1.Plugin{}, err
	}
	info = h.info(p)
	op.Finish(&info, nil)
	h.publish(ctx, events.Event{Type: events.Loaded, PluginID: info.ID, Message: fmt.Sprintf("plugin %s %s loaded", info.ID, info.Version),
		Details: map[string]any{"version": info.Version, "source": o.Source.Location, "pin": o.Source.Pin, "digest": o.Artifact.Digest, "operation_id": op.ID()}})
	return info, nil
}

// Update installs another version of a repository plugin beside the
// running one and switches to it only once it has started and passed a
// health check; otherwise the running version keeps serving.
func (h *Host) Update(ctx context.Context, id, version string) (apiv1.Plugin, error) {
	return h.UpdatePinned(ctx, id, version, nil)
}

// UpdatePinned is Update to a catalog's version: a source whose digest is
// not pin's is refused. A nil pin is Update.
func (h *Host) UpdatePinned(ctx context.Context, id, version string, pin *install.Pin) (apiv1.Plugin, error) {
	p, op, err := h.newUpdate(ctx, id, version)
	if err != nil {
		return apiv1.Plugin{}, err
	}
	return h.runUpdate(ctx, op, p, version, pin)
}

// StartUpdate is UpdatePinned in the background: it returns the update's
// operation at once; follow it with Operation or on the event stream.
func (h *Host) StartUpdate(ctx context.Context, id, version string, pin *install.Pin) (apiv1.Operation, error) {
	p, op, err := h.newUpdate(ctx, id, version)
	if err != nil {
		return apiv1.Operation{}, err
	}
	actor := actorOf(ctx)
	h.goBackground(func(bg context.Context) { _, _ = h.runUpdate(WithActor(bg, actor), op, p, version, pin) })
	o, _, _ := h.Operation(op.ID())
	return o, nil
}

// newUpdate finds the plugin an update is about and opens its operation.
func (h *Host) newUpdate(ctx context.Context, id, version string) (*Plugin, *operation.Op, error) {
	p, err := h.get(id)
	if err != nil {
		return nil, nil, err
	}
	p.mu.RLock()
	src := p.source
	p.mu.RUnlock()
	return p, h.newOp(ctx, "update", src.Location+"@"+version, id), nil
}

// runUpdate runs an update operation to its end.
func (h *Host) runUpdate(ctx context.Context, op *operation.Op, p *Plugin, version string, pin *install.Pin) (apiv1.Plugin, error) {
	info, err := h.update(ctx, op, p, version, pin)
	if err != nil {
		op.Finish(nil, err)
		h.publish(ctx, events.Event{Type: events.Error, PluginID: p.id, Message: "update failed; the running version keeps serving: " + err.Error(),
			Details: map[string]any{"operation_id": op.ID(), "version": version}})
		return info, err
	}
	op.Finish(&info, nil)
	return info, nil
}

// update is Update for the registration p. It reads p's source under p's
// lock, so that it builds on the version the previous change left.
func (h *Host) update(ctx context.Context, op *operation.Op, p *Plugin, version string, pin *install.Pin) (apiv1.Plugin, error) {
	if strings.TrimSpace(version) == "" {
		return apiv1.Plugin{}, fmt.Errorf("%w: version: is required", ErrBadSource)
	}
	if err := h.lock(p); err != nil {
		return apiv1.Plugin{}, fmt.Errorf("update %s: %w", p.id, err)
	}
	defer p.op.Unlock()
	p.mu.RLock()
	src, tier := p.source, p.tier
	p.mu.RUnlock()
	start := time.Now()
	o, err := h.installer.Update(ctx, op, src, tier, version, pin, func(ctx context.Context, o *install.Opened) error {
		return h.swap(ctx, p, newInstance(o), change{source: &o.Source, grants: o.Grants, kube: o.Kubernetes, warnings: o.Warnings, probe: true})
	})
	if err != nil {
		return h.info(p), fmt.Errorf("update %s: %w", p.id, err)
	}
	h.publish(ctx, events.Event{Type: events.Reloaded, PluginID: p.id, Message: fmt.Sprintf("plugin %s updated to %s", p.id, version),
		Details: map[string]any{"version": version, "commit": o.Source.Pin, "duration_ms": time.Since(start).Milliseconds(), "operation_id": op.ID()}})
	return h.info(p), nil
}

// SaveUpload receives an archive within the policy's size limit, extracts
// it safely and reads its manifest. A refused archive, or one whose
// manifest is invalid, leaves nothing behind. fresh tells an archive
// stored by this call from one that was already there.
func (h *Host) SaveUpload(ctx context.Context, r io.Reader) (up apiv1.Upload, fresh bool, err error) {
	return h.installer.SaveUpload(ctx, r)
}

// RemoveUpload deletes a stored upload that no plugin uses.
func (h *Host) RemoveUpload(id string) error { return h.installer.RemoveUpload(id) }

// CacheInfo describes the build cache.
func (h *Host) CacheInfo() (build.CacheInfo, error) { return h.installer.CacheInfo() }

// PurgeCache removes every cached build that no installed plugin needs.
func (h *Host) PurgeCache(ctx context.Context) (removed int, freed int64, err error) {
	return h.installer.PurgeCache(ctx)
}
