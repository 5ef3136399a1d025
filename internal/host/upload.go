package host

import (
	"context"
	"io"
	"path/filepath"

	apiv1 "github.com/kubestellar/ksplugins/api/v1"

	"github.com/kubestellar/ksplugins/internal/manifest"
)

// SaveUpload receives an archive within the policy's size limit, extracts
// it safely and reads its manifest. A refused archive, or one whose
// manifest is invalid, leaves nothing behind. fresh tells an archive
// stored by this call from one that was already there.
func (h *Host) SaveUpload(ctx context.Context, r io.Reader) (up apiv1.Upload, fresh bool, err error) {
	stored, err := h.opts.Sources.SaveUpload(ctx, r, h.system.Load().MaxPluginSize)
	if err != nil {
		return apiv1.Upload{}, false, err
	}
	md, warnings, err := manifest.ParseFile(filepath.Join(stored.Dir, "plugin.yaml"))
	if err != nil {
		if stored.New {
			_ = h.opts.Sources.RemoveUpload(stored.ID)
		}
		return apiv1.Upload{}, false, err
	}
	return apiv1.Upload{ID: stored.ID, Digest: stored.Digest, Format: string(stored.Format), Size: stored.Size, Root: stored.Root,
		CreatedAt: stored.CreatedAt, Manifest: md, Warnings: warnings}, stored.New, nil
}

// RemoveUpload deletes a stored upload that no plugin uses.
func (h *Host) RemoveUpload(id string) error { return h.opts.Sources.RemoveUpload(id) }
