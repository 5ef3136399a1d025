package host

import (
	"context"
	"io"
	"path/filepath"

	"github.com/kubestellar/ksplugins/internal/manifest"
	"github.com/kubestellar/ksplugins/internal/source"
	"github.com/kubestellar/ksplugins/sdk"
)

// Upload is an archive an operator sent, stored and checked, ready to
// install.
type Upload struct {
	source.Upload
	// Manifest is the archive's plugin.yaml; Warnings its warnings.
	Manifest *sdk.PluginMetadata `json:"manifest"`
	Warnings []manifest.Problem  `json:"warnings,omitempty"`
}

// SaveUpload receives an archive within the policy's size limit, extracts
// it safely and reads its manifest. A refused archive, or one whose
// manifest is invalid, leaves nothing behind.
func (h *Host) SaveUpload(ctx context.Context, r io.Reader) (Upload, error) {
	up, err := h.opts.Sources.SaveUpload(ctx, r, h.system.Load().MaxPluginSize)
	if err != nil {
		return Upload{}, err
	}
	md, warnings, err := manifest.ParseFile(filepath.Join(up.Dir, "plugin.yaml"))
	if err != nil {
		if up.New {
			_ = h.opts.Sources.RemoveUpload(up.ID)
		}
		return Upload{}, err
	}
	return Upload{Upload: up, Manifest: md, Warnings: warnings}, nil
}

// RemoveUpload deletes a stored upload that no plugin uses.
func (h *Host) RemoveUpload(id string) error { return h.opts.Sources.RemoveUpload(id) }
