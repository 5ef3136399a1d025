package install

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strings"

	apiv1 "github.com/kubestellar/ksplugins/api/v1"

	"github.com/kubestellar/ksplugins/internal/build"
	"github.com/kubestellar/ksplugins/internal/fsatomic"
	"github.com/kubestellar/ksplugins/internal/manifest"
	"github.com/kubestellar/ksplugins/internal/store"
)

// Publish keeps the artifact a on the store, when the store is shared with
// other servers (store.Artifacts) and does not have it yet, so that they
// run the same code without building it. It is called before the record
// that pins a is written: a server told of the record finds its artifact.
func (i *Installer) Publish(ctx context.Context, a apiv1.Artifact) error {
	shared, ok := i.opts.Store.(store.Artifacts)
	if !ok || a.Path == "" {
		return nil
	}
	has, err := shared.HasArtifact(ctx, a.Digest)
	if err != nil || has {
		return err
	}
	f, err := os.Open(a.Path)
	if err != nil {
		return fmt.Errorf("publish artifact %s: %w", a.Digest, err)
	}
	defer f.Close()
	return shared.PutArtifact(ctx, a.Digest, f)
}

// fetchArtifact brings the artifact rec pins from the shared store into
// FetchDir and returns its path there. Its digest is checked as it is
// written, and a file whose digest does not match never takes the
// artifact's name.
func (i *Installer) fetchArtifact(ctx context.Context, rec store.Plugin) (string, error) {
	shared, ok := i.opts.Store.(store.Artifacts)
	if !ok || i.opts.FetchDir == "" {
		return "", errors.New("no shared store to fetch it from")
	}
	if !manifest.IsChecksum(rec.ArtifactDigest) {
		return "", fmt.Errorf("the recorded digest %q is not a sha256 digest", rec.ArtifactDigest)
	}
	hexDigest := strings.TrimPrefix(rec.ArtifactDigest, "sha256:")
	path := filepath.Join(i.opts.FetchDir, hexDigest[:2], hexDigest, build.ArtifactFile(StoredTier(rec)))
	if digest, err := build.FileDigest(path); err == nil && digest == rec.ArtifactDigest {
		return path, nil
	}
	r, err := shared.OpenArtifact(ctx, rec.ArtifactDigest)
	if err != nil {
		return "", err
	}
	defer r.Close()
	if err := fsatomic.Write(path, &digestReader{r: r, h: sha256.New(), want: rec.ArtifactDigest}); err != nil {
		return "", err
	}
	i.opts.Logger.Info("fetched an artifact another server built", "plugin_id", rec.ID, "digest", rec.ArtifactDigest)
	return path, nil
}

// digestReader passes r through and fails at its end unless what passed
// has the digest want.
type digestReader struct {
	r    io.Reader
	h    hash.Hash
	want string
}

func (d *digestReader) Read(p []byte) (int, error) {
	n, err := d.r.Read(p)
	d.h.Write(p[:n])
	if err == io.EOF {
		if got := "sha256:" + hex.EncodeToString(d.h.Sum(nil)); got != d.want {
			return n, fmt.Errorf("the shared store's artifact has digest %s, not %s", got, d.want)
		}
	}
	return n, err
}
