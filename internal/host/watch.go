package host

import (
	"context"

	apiv1 "github.com/kubestellar/ksplugins/api/v1"

	"github.com/kubestellar/ksplugins/internal/watch"
)

// watch starts rebuilding p whenever its folder changes, when asked (or
// when the server watches every folder). Each change is a reload: the new
// code is swapped in if it builds and starts, and the running version keeps
// serving otherwise, with the compiler's errors in the reload's error event.
func (h *Host) watch(p *Plugin, asked bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.source.Kind != apiv1.SourceFolder || !(asked || h.opts.Watch) || p.stopWatch != nil {
		return
	}
	ctx, cancel := context.WithCancel(h.ctx)
	p.stopWatch = cancel
	dir := p.source.Location
	h.goBackground(func(context.Context) {
		err := watch.Dir(ctx, dir, watch.DefaultDebounce, func() {
			// This registration, not whatever holds its id by then: reload
			// re-checks it under the plugin's lock.
			_, _ = h.reload(WithActor(ctx, "watch"), p, h.instantiate)
		})
		if err != nil {
			h.log.Warn("watching stopped", "plugin_id", p.id, "dir", dir, "err", err)
		}
	})
	h.log.Info("watching plugin folder", "plugin_id", p.id, "dir", dir)
}
