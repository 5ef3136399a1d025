package install

import (
	"context"
	"fmt"
	"io"
	"path/filepath"

	apiv1 "github.com/kubestellar/ksplugins/api/v1"

	"github.com/kubestellar/ksplugins/internal/build"
	"github.com/kubestellar/ksplugins/internal/manifest"
)

// SaveUpload receives an archive within the policy's size limit, extracts
// it safely and reads its manifest. A refused archive, or one whose
// manifest is invalid, leaves nothing behind. fresh tells an archive
// stored by this call from one that was already there.
func (i *Installer) SaveUpload(ctx context.Context, r io.Reader) (up apiv1.Upload, fresh bool, err error) {
	stored, err := i.opts.Sources.SaveUpload(ctx, r, i.opts.System().MaxPluginSize)
	if err != nil {
		return apiv1.Upload{}, false, err
	}
	md, warnings, err := manifest.ParseFile(filepath.Join(stored.Dir, "plugin.yaml"))
	if err != nil {
		if stored.New {
			_ = i.opts.Sources.RemoveUpload(stored.ID)
		}
		return apiv1.Upload{}, false, err
	}
	return apiv1.Upload{ID: stored.ID, Digest: stored.Digest, Format: string(stored.Format), Size: stored.Size, Root: stored.Root,
		CreatedAt: stored.CreatedAt, Manifest: md, Warnings: warnings}, stored.New, nil
}

// RemoveUpload deletes a stored upload that no plugin uses.
func (i *Installer) RemoveUpload(id string) error { return i.opts.Sources.RemoveUpload(id) }

// CacheInfo describes the build cache.
func (i *Installer) CacheInfo() (build.CacheInfo, error) { return i.opts.Builder.CacheInfo() }

// PurgeCache removes every cached build that no installed plugin needs.
func (i *Installer) PurgeCache(ctx context.Context) (removed int, freed int64, err error) {
	keep, err := i.keptBuilds(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("purge cache: %w", err)
	}
	return i.opts.Builder.Evict(-1, keep)
}

// TrimCache keeps the build cache within its configured size; a failure
// is logged, since the install that triggers it has succeeded.
func (i *Installer) TrimCache(ctx context.Context) {
	keep, err := i.keptBuilds(ctx)
	if err == nil {
		var removed int
		var freed int64
		removed, freed, err = i.opts.Builder.Evict(i.opts.System().MaxCacheBytes, keep)
		if removed > 0 {
			i.opts.Logger.Info("build cache trimmed", "removed", removed, "freed_bytes", freed)
		}
	}
	if err != nil {
		i.opts.Logger.Warn("trim build cache", "err", err)
	}
}

// keptBuilds are the build keys installed plugins are pinned to: the cache
// must keep them so that a restart needs no source and no network.
func (i *Installer) keptBuilds(ctx context.Context) (map[string]bool, error) {
	recs, err := i.opts.Store.Plugins(ctx)
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
