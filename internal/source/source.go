// Package source brings plugin sources to local folders the builder can
// read: repositories fetched at a version and pinned to a commit, and
// uploaded archives, extracted safely and kept for later reloads.
//
// Everything lands under one folder (the server's plugin folder):
//
//	repos/<host>/<owner>/<repo>/<commit>/   a repository at one commit
//	uploads/<id>/archive                    an uploaded archive, as sent
//	uploads/<id>/tree/                      its files
//	uploads/<id>/upload.json                what was learnt about it
//
// Each is written to a temporary name and renamed into place, so a reader
// never sees half of one, and a refused source leaves nothing behind.
package source

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/kubestellar/ksplugins/internal/policy"
	"github.com/kubestellar/ksplugins/internal/source/archive"
	"github.com/kubestellar/ksplugins/internal/source/git"
)

// Fetcher brings sources under its folder. It is safe for concurrent use.
type Fetcher struct {
	dir string
}

// New returns a Fetcher that keeps sources under dir.
func New(dir string) (*Fetcher, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	return &Fetcher{dir: abs}, nil
}

// GitRequest asks for a repository's plugin folder at a version.
type GitRequest struct {
	// URL is the repository as the operator wrote it, such as
	// https://github.com/owner/repo or .../repo/tree/<ref>/<path>.
	URL string
	// Version is a tag, branch or commit; it overrides a /tree/<ref> form.
	Version string
	// Path is the plugin's folder in the repository; it overrides the
	// /tree/<ref>/<path> form.
	Path string
	// BaseURL replaces the URL's host for fetching (a mirror, GitHub
	// Enterprise, a test server); empty fetches from the URL's own host.
	BaseURL string
	// Token authenticates to private repositories at BaseURL's origin; it
	// is never sent anywhere else.
	Token string
	// Policy decides whether the repository is allowed and how big it may be.
	Policy policy.Policy
}

// Checkout is a repository's plugin folder at one commit.
type Checkout struct {
	// Repo is the repository, parsed; Dir the plugin's folder on disk.
	Repo policy.Repo
	Dir  string
	// Version is what was asked for; Commit what it resolved to.
	Version, Commit string
	// Path is the plugin's folder inside the repository.
	Path string
	// Fetched is false when the commit was already on disk.
	Fetched bool
	// Warnings are the policy's, in permissive mode.
	Warnings []string
}

// Git resolves req's version to a commit and brings that commit to disk,
// unless it is there already.
func (f *Fetcher) Git(ctx context.Context, req GitRequest) (Checkout, error) {
	repo, err := policy.ParseRepo(req.URL)
	if err != nil {
		return Checkout{}, &Error{Field: "source", Err: err}
	}
	warnings, err := req.Policy.CheckRepo(repo)
	if err != nil {
		return Checkout{}, err
	}
	version, sub := repo.Ref, repo.Path
	if req.Version != "" {
		version = req.Version
	}
	if req.Path != "" {
		sub = req.Path
	}
	if sub, err = cleanSubdir(sub); err != nil {
		return Checkout{}, &Error{Field: "path", Err: err}
	}
	// The token is the base URL's: git sends it there and nowhere else.
	opts := git.FetchOptions{URL: cloneURL(repo, req.BaseURL), Ref: version, Token: req.Token, TokenBase: req.BaseURL, MaxBytes: req.Policy.MaxPluginSize}
	res, err := git.Resolve(ctx, opts)
	if err != nil {
		return Checkout{}, &FetchError{Repo: repo.String(), Version: version, Err: err}
	}
	co := Checkout{Repo: repo, Version: version, Commit: res.Commit, Path: sub, Warnings: warnings}
	root := f.repoDir(repo, res.Commit)
	if _, err := os.Stat(root); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(filepath.Dir(root), 0o755); err != nil {
			return Checkout{}, err
		}
		opts.Ref = res.Commit
		got, err := git.Fetch(ctx, root, opts)
		if err != nil && !exists(root) {
			return Checkout{}, &FetchError{Repo: repo.String(), Version: res.Commit, Err: err}
		}
		if err == nil && got.Commit != res.Commit {
			os.RemoveAll(root)
			return Checkout{}, fmt.Errorf("fetch %s: asked for %s, got %s", repo, res.Commit, got.Commit)
		}
		co.Fetched = err == nil
	}
	co.Dir = filepath.Join(root, sub)
	if _, err := os.Stat(filepath.Join(co.Dir, "plugin.yaml")); err != nil {
		if co.Fetched {
			os.RemoveAll(root)
		}
		where := "the repository root"
		if sub != "." {
			where = sub
		}
		return Checkout{}, &Error{Field: "path", Err: fmt.Errorf("%s at %s has no plugin.yaml in %s", repo, res.Commit[:12], where)}
	}
	return co, nil
}

// GitAt returns the plugin folder of repo at commit, fetching the commit
// again only if it is no longer on disk.
func (f *Fetcher) GitAt(ctx context.Context, req GitRequest, commit string) (Checkout, error) {
	req.Version = commit
	return f.Git(ctx, req)
}

// Forget removes a checkout that an install fetched and then abandoned.
func (f *Fetcher) Forget(co Checkout) error {
	if !co.Fetched {
		return nil
	}
	return os.RemoveAll(f.repoDir(co.Repo, co.Commit))
}

func (f *Fetcher) repoDir(r policy.Repo, commit string) string {
	host := strings.ReplaceAll(r.Host, ":", "_")
	return filepath.Join(f.dir, "repos", host, strings.ToLower(r.Owner), strings.ToLower(r.Name), commit)
}

// cloneURL is where repo is fetched from: base for GitHub repositories
// (a mirror or GitHub Enterprise may stand in for github.com), else the
// repository's own host with the scheme it was given.
func cloneURL(r policy.Repo, base string) string {
	if r.Host != "github.com" || base == "" {
		base = r.Scheme + "://" + r.Host
	}
	return strings.TrimSuffix(base, "/") + "/" + r.Owner + "/" + r.Name + ".git"
}

func cleanSubdir(p string) (string, error) {
	if p == "" {
		return ".", nil
	}
	c := filepath.Clean(strings.Trim(p, "/"))
	if filepath.IsAbs(p) || c == ".." || strings.HasPrefix(c, "../") || strings.Contains(p, "\\") {
		return "", fmt.Errorf("%q must be a folder inside the repository", p)
	}
	return c, nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// FetchError is a repository that could not be read: unreachable, refused
// credentials, or no such version (see the wrapped error).
type FetchError struct {
	Repo, Version string
	Err           error
}

func (e *FetchError) Error() string {
	return fmt.Sprintf("fetch %s at %q: %v", e.Repo, e.Version, e.Err)
}

func (e *FetchError) Unwrap() error { return e.Err }

// Error is a source request with a wrong field.
type Error struct {
	Field string
	Err   error
}

func (e *Error) Error() string { return e.Field + ": " + e.Err.Error() }

func (e *Error) Unwrap() error { return e.Err }

// Upload is an archive received from an operator and extracted.
type Upload struct {
	// ID names the upload: the first 16 hex digits of its digest, so the
	// same archive uploaded twice is one upload.
	ID string `json:"id"`
	// Digest is "sha256:<hex>" of the archive as sent.
	Digest string         `json:"digest"`
	Format archive.Format `json:"format"`
	Size   int64          `json:"size"`
	// Root is the plugin's folder inside the archive ("." for the top).
	Root      string    `json:"root"`
	CreatedAt time.Time `json:"created_at"`
	// Dir is the plugin's folder on disk.
	Dir string `json:"-"`
	// New is false when the same archive was already stored.
	New bool `json:"-"`
}

// SaveUpload reads an archive of at most maxBytes from r, checks and
// extracts it, and keeps both. A refused archive leaves nothing on disk.
func (f *Fetcher) SaveUpload(ctx context.Context, r io.Reader, maxBytes int64) (Upload, error) {
	// Stage beside uploads/, not in it: a refused archive must not even
	// leave an empty uploads folder behind.
	base := filepath.Join(f.dir, "uploads")
	if err := os.MkdirAll(f.dir, 0o755); err != nil {
		return Upload{}, err
	}
	stage, err := os.MkdirTemp(f.dir, ".incoming-")
	if err != nil {
		return Upload{}, err
	}
	defer os.RemoveAll(stage)

	archivePath := filepath.Join(stage, "archive")
	file, err := os.OpenFile(archivePath, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return Upload{}, err
	}
	defer file.Close()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(file, h), io.LimitReader(r, maxBytes+1))
	if err != nil {
		return Upload{}, fmt.Errorf("receive archive: %w", err)
	}
	if n > maxBytes {
		return Upload{}, &policy.Refusal{Rule: "max_plugin_size", Message: fmt.Sprintf("the archive is larger than the %d bytes allowed", maxBytes)}
	}
	head := make([]byte, 8)
	k, _ := file.ReadAt(head, 0)
	format, err := archive.Detect(head[:k])
	if err != nil {
		return Upload{}, &archive.Error{Rule: archive.RuleCorrupt, Message: err.Error()}
	}
	digest := hex.EncodeToString(h.Sum(nil))
	up := Upload{ID: digest[:16], Digest: "sha256:" + digest, Format: format, Size: n, CreatedAt: time.Now().UTC(), New: true}
	final := filepath.Join(base, up.ID)
	if existing, err := f.Upload(up.ID); err == nil && existing.Digest == up.Digest {
		existing.New = false
		return existing, nil
	}
	lim := archive.DefaultLimits()
	lim.MaxTotalBytes, lim.MaxFileBytes = maxBytes, maxBytes
	root, err := archive.Extract(ctx, file, n, format, filepath.Join(stage, "tree"), lim)
	if err != nil {
		return Upload{}, err
	}
	up.Root = root
	meta, err := json.MarshalIndent(up, "", "  ")
	if err != nil {
		return Upload{}, err
	}
	if err := os.WriteFile(filepath.Join(stage, "upload.json"), meta, 0o644); err != nil {
		return Upload{}, err
	}
	if err := file.Close(); err != nil {
		return Upload{}, err
	}
	if err := os.MkdirAll(base, 0o755); err != nil {
		return Upload{}, err
	}
	if err := os.Rename(stage, final); err != nil {
		if existing, lerr := f.Upload(up.ID); lerr == nil {
			return existing, nil // a concurrent upload of the same archive won
		}
		return Upload{}, fmt.Errorf("store upload: %w", err)
	}
	up.Dir = filepath.Join(final, "tree", root)
	return up, nil
}

// Upload returns a stored upload.
func (f *Fetcher) Upload(id string) (Upload, error) {
	if len(id) != 16 || strings.Trim(id, "0123456789abcdef") != "" {
		return Upload{}, &Error{Field: "upload_id", Err: fmt.Errorf("%q is not an upload id", id)}
	}
	dir := filepath.Join(f.dir, "uploads", id)
	data, err := os.ReadFile(filepath.Join(dir, "upload.json"))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return Upload{}, &Error{Field: "upload_id", Err: fmt.Errorf("no upload %s", id)}
		}
		return Upload{}, err
	}
	var up Upload
	if err := json.Unmarshal(data, &up); err != nil {
		return Upload{}, fmt.Errorf("read upload %s: %w", id, err)
	}
	up.Dir = filepath.Join(dir, "tree", up.Root)
	return up, nil
}

// RemoveUpload deletes a stored upload.
func (f *Fetcher) RemoveUpload(id string) error {
	if _, err := f.Upload(id); err != nil {
		return err
	}
	if err := os.RemoveAll(filepath.Join(f.dir, "uploads", id)); err != nil {
		return err
	}
	_ = os.Remove(filepath.Join(f.dir, "uploads")) // only if now empty
	return nil
}

// Tree writes the files of the repository req.URL at req.Version to dest,
// which must not exist, and returns the commit it resolved to. Unlike Git
// it keeps nothing under a Fetcher and applies no allowed_repos policy: it
// reads what an admin configured (a catalog) or what a publisher names.
// req.Policy.MaxPluginSize, when positive, bounds the checkout.
func Tree(ctx context.Context, req GitRequest, dest string) (string, error) {
	repo, err := policy.ParseRepo(req.URL)
	if err != nil {
		return "", &Error{Field: "source", Err: err}
	}
	version := repo.Ref
	if req.Version != "" {
		version = req.Version
	}
	opts := git.FetchOptions{URL: cloneURL(repo, req.BaseURL), Ref: version, Token: req.Token, TokenBase: req.BaseURL, MaxBytes: req.Policy.MaxPluginSize}
	res, err := git.Fetch(ctx, dest, opts)
	if err != nil {
		return "", &FetchError{Repo: repo.String(), Version: version, Err: err}
	}
	return res.Commit, nil
}
