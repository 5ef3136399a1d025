package host

import (
	"context"
	"fmt"

	"github.com/kubestellar/ksplugins/internal/build"
)

// keptBuilds are the build keys installed plugins are pinned to: the cache
// must keep them so that a restart needs no source and no network.
func (h *Host) keptBuilds(ctx context.Context) (map[string]bool, error) {
	recs, err := h.store.Plugins(ctx)
	if err != nil {
		return nil, err
	}
	keep := make(map[string]bool, len(recs))
	for _, r := range recs {
		if r.BuildKey != "" {
			keep[r.BuildKey] = true
		}
	}
	return keep, nil
}

// CacheInfo describes the build cache.
func (h *Host) CacheInfo() (build.CacheInfo, error) { return h.opts.Builder.CacheInfo() }

// PurgeCache removes every cached build that no installed plugin needs.
func (h *Host) PurgeCache(ctx context.Context) (removed int, freed int64, err error) {
	keep, err := h.keptBuilds(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("purge cache: %w", err)
	}
	return h.opts.Builder.Evict(-1, keep)
}

// trimCache keeps the build cache within its configured size.
func (h *Host) trimCache(ctx context.Context) {
	keep, err := h.keptBuilds(ctx)
	if err == nil {
		var removed int
		var freed int64
		removed, freed, err = h.opts.Builder.Evict(h.system.Load().MaxCacheBytes, keep)
		if removed > 0 {
			h.log.Info("build cache trimmed", "removed", removed, "freed_bytes", freed)
		}
	}
	if err != nil {
		h.log.Warn("trim build cache", "err", err)
	}
}
