package catalog

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"path/filepath"

	apiv1 "github.com/kubestellar/ksplugins/api/v1"
	"github.com/kubestellar/ksplugins/internal/build"
	"github.com/kubestellar/ksplugins/internal/policy"
	"github.com/kubestellar/ksplugins/internal/source"
)

// Fetch says where repositories and URLs are read from, and how much.
type Fetch struct {
	// BaseURL and Token are the system configuration's
	// repository_base_url and repository_token.
	BaseURL, Token string
	// MaxBytes bounds a checkout, an archive or a catalog file.
	MaxBytes int64
	// HTTP fetches https URLs; nil is http.DefaultClient.
	HTTP *http.Client
}

func (f Fetch) client() *http.Client {
	if f.HTTP == nil {
		return http.DefaultClient
	}
	return f.HTTP
}

// repository writes the repository url at ref to a new temporary folder
// and returns it with the commit; the caller removes the folder.
func (f Fetch) repository(ctx context.Context, url, ref string) (dir, commit string, err error) {
	tmp, err := os.MkdirTemp("", "ksplugins-catalog-")
	if err != nil {
		return "", "", err
	}
	dir = filepath.Join(tmp, "tree")
	commit, err = source.Tree(ctx, source.GitRequest{URL: url, Version: ref, BaseURL: f.BaseURL, Token: f.Token,
		Policy: policy.Policy{MaxPluginSize: f.MaxBytes}}, dir)
	if err != nil {
		os.RemoveAll(tmp)
		return "", "", err
	}
	return dir, commit, nil
}

// Get reads url's body, at most f.MaxBytes of it.
func (f Fetch) Get(ctx context.Context, url string, w io.Writer) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := f.client().Do(req)
	if err != nil {
		return 0, fmt.Errorf("get %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("get %s: %s", url, resp.Status)
	}
	limit := f.MaxBytes
	if limit <= 0 {
		limit = 100 << 20
	}
	n, err := io.Copy(w, io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return n, fmt.Errorf("get %s: %w", url, err)
	}
	if n > limit {
		return n, fmt.Errorf("get %s: larger than the %d bytes allowed", url, limit)
	}
	return n, nil
}

// Digest computes a version's digest from its source, as the server does
// when it installs it: for a repository, the digest of the plugin folder's
// files at the commit (build.TreeDigest); for an archive, the sha256 of
// its bytes.
func (f Fetch) Digest(ctx context.Context, s apiv1.CatalogSource) (string, error) {
	if s.Archive != "" {
		h := sha256.New()
		if _, err := f.Get(ctx, s.Archive, h); err != nil {
			return "", err
		}
		return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
	}
	if s.Repository == "" {
		return "", errors.New("source: names no repository nor archive")
	}
	dir, commit, err := f.repository(ctx, s.Repository, s.Commit)
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(filepath.Dir(dir))
	if commit != s.Commit {
		return "", fmt.Errorf("%s: commit %s resolved to %s", s.Repository, s.Commit, commit)
	}
	folder := filepath.Join(dir, filepath.FromSlash(path.Clean("/"+s.Path)))
	if _, err := os.Stat(filepath.Join(folder, "plugin.yaml")); err != nil {
		return "", fmt.Errorf("%s at %s: no plugin.yaml in %q", s.Repository, s.Commit[:12], s.Path)
	}
	return build.TreeDigest(folder)
}
