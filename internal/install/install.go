// Package install turns a plugin source into opened plugin code: it
// fetches the source (a local folder or file, an uploaded archive, a
// repository), validates it against the install policy (checksum,
// signature, size, the manifest, the permissions it asks for), builds it
// for its tier and opens the artifact in that tier's runtime. It also keeps
// the uploads and the build cache those steps use.
//
// The host calls it and owns what comes after: an opened plugin is handed
// to the host (the admit function of Install and Update), which reserves
// its id, records it and starts it. This package never imports the host.
package install

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	apiv1 "github.com/kubestellar/ksplugins/api/v1"

	"github.com/kubestellar/ksplugins/internal/build"
	"github.com/kubestellar/ksplugins/internal/config"
	"github.com/kubestellar/ksplugins/internal/extension"
	"github.com/kubestellar/ksplugins/internal/manifest"
	"github.com/kubestellar/ksplugins/internal/pluginlog"
	"github.com/kubestellar/ksplugins/internal/policy"
	"github.com/kubestellar/ksplugins/internal/runtime"
	"github.com/kubestellar/ksplugins/internal/source"
	"github.com/kubestellar/ksplugins/internal/store"
	"github.com/kubestellar/ksplugins/sdk"
)

// Errors a caller tells apart.
var (
	// ErrBadSource: the source cannot be used (missing, wrong kind, ...).
	ErrBadSource = errors.New("bad source")
	// ErrExists: a plugin with that id is already loaded.
	ErrExists = errors.New("plugin already loaded")
)

// Progress receives an operation's steps and warnings as an install or
// update goes through them.
type Progress interface {
	// Step starts a step and returns the function that ends it with its
	// error.
	Step(ctx context.Context, name, message string) func(error)
	// Warn adds warnings to the operation.
	Warn(warnings ...string)
	// SetPlugin records which plugin the operation is about, once known.
	SetPlugin(id string)
}

// Options configures an Installer.
type Options struct {
	// Builder builds plugin folders.
	Builder *build.Builder
	// Sources fetches repositories and keeps uploads.
	Sources *source.Fetcher
	// Runtimes open artifacts, one per tier; a tier without one is not
	// available.
	Runtimes []runtime.Runtime
	// Store holds the installed plugins, whose builds the cache keeps.
	Store store.Store
	// System is the live system configuration. Required.
	System func() *config.System
	// Grant decides which permissions a manifest gets; it returns the
	// grant and a warning per permission withheld.
	Grant func(md *sdk.PluginMetadata) (granted, warnings []string)
	// GrantKubernetes decides the access to clusters a manifest gets; nil
	// when it asks for none.
	GrantKubernetes func(md *sdk.PluginMetadata) *apiv1.KubernetesGrant
	// Taken reports whether a plugin id is already loaded, so that an
	// install is refused before anything is built.
	Taken func(id string) bool
	// Output is the output gate of a plugin id.
	Output func(id string) *pluginlog.Gate
	// Fault, when set, is each opened plugin's runtime.Spec.Fault.
	Fault func(id string, cause error)
	// DataDir holds the private folders of plugins granted storage.
	DataDir string
	// FetchDir keeps the artifacts fetched from a store shared with other
	// servers (store.Artifacts); none are fetched without it.
	FetchDir string
	// CallTimeout bounds each call into plugin code while opening.
	CallTimeout time.Duration
	// Logger is the server's logger.
	Logger *slog.Logger
}

// Installer runs the install pipeline. It is safe for concurrent use.
type Installer struct {
	opts     Options
	runtimes map[apiv1.Tier]runtime.Runtime
}

// New returns an Installer.
func New(opts Options) *Installer {
	i := &Installer{opts: opts, runtimes: map[apiv1.Tier]runtime.Runtime{}}
	for _, rt := range opts.Runtimes {
		i.runtimes[rt.Tier()] = rt
	}
	if i.opts.Grant == nil {
		i.opts.Grant = func(*sdk.PluginMetadata) ([]string, []string) { return nil, nil }
	}
	if i.opts.GrantKubernetes == nil {
		i.opts.GrantKubernetes = func(*sdk.PluginMetadata) *apiv1.KubernetesGrant { return nil }
	}
	if i.opts.Taken == nil {
		i.opts.Taken = func(string) bool { return false }
	}
	if i.opts.Output == nil {
		i.opts.Output = func(string) *pluginlog.Gate { return nil }
	}
	if i.opts.Logger == nil {
		i.opts.Logger = slog.Default()
	}
	return i
}

// Request asks for a plugin to be installed: what the caller asked for,
// and what the server adds to it.
type Request struct {
	apiv1.LoadRequest
	// DiscardUploadOnFailure removes the upload if the install fails: set
	// for an archive uploaded by the same request, so that a failed install
	// leaves no trace.
	DiscardUploadOnFailure bool
	// Pin, when set, is the catalog's record of the version: a source
	// whose digest differs is refused.
	Pin *Pin
}

// Describe names what req installs, for an operation's record.
func (req Request) Describe() string {
	if req.UploadID != "" {
		return "upload:" + req.UploadID
	}
	return req.Source
}

// Opened is a plugin's code opened in its runtime and checked against its
// manifest, not started yet.
type Opened struct {
	Instance runtime.Instance
	// Meta is what the plugin is: plugin.yaml where there is one, over
	// what the code reports.
	Meta     sdk.PluginMetadata
	Artifact apiv1.Artifact
	// Source is where it came from, pinned.
	Source apiv1.Source
	// Grants are the permissions it was granted.
	Grants []string
	// Kubernetes is the access to clusters it was granted, if it asked.
	Kubernetes *apiv1.KubernetesGrant
	// Warnings are its manifest's problems that do not refuse it.
	Warnings []manifest.Problem
	// UI are its UI files, nil if it has none (or its code did not come
	// from a build cache entry, which holds them).
	UI *extension.Files
	// OpenedAt is when Open returned.
	OpenedAt time.Time
}

// Close releases o's instance, for a caller that will not start it.
func (o *Opened) Close(ctx context.Context, log *slog.Logger) {
	if err := o.Instance.Close(context.WithoutCancel(ctx)); err != nil {
		log.Warn("release plugin code", "plugin_id", o.Meta.ID, "err", err)
	}
}

// Install fetches, validates and builds what req names and opens it, each
// a step of pr, then hands it to admit within the loading step. Whatever
// fails, nothing this install brought to disk stays, and admit owns the
// instance it was handed (it must close it on failure).
func (i *Installer) Install(ctx context.Context, pr Progress, req Request, admit func(context.Context, *Opened) error) (_ *Opened, err error) {
	done := pr.Step(ctx, apiv1.StepFetching, req.Describe())
	f, err := i.fetch(ctx, req)
	done(err)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			f.discard()
		}
	}()
	pr.Warn(f.warnings...)

	done = pr.Step(ctx, apiv1.StepValidating, "")
	v, err := i.validate(pr, f, req)
	done(err)
	if err != nil {
		return nil, err
	}
	declared, warnings := v.md, v.warnings

	var art apiv1.Artifact
	if f.dir == "" {
		tier, err := fileTier(f.file)
		if err != nil {
			return nil, err
		}
		art = apiv1.Artifact{Tier: tier, Path: f.file, Digest: f.evidence.Digest}
	} else {
		tier := i.tierFor(declared, v.signedBy)
		if t, ok := prebuiltTier(f.dir); ok {
			tier = t
		}
		done = pr.Step(ctx, apiv1.StepBuilding, string(tier))
		var a *build.Artifact
		a, err = i.build(ctx, f.dir, tier, i.buildTrust(f.src.Kind))
		if err == nil {
			art, declared, warnings = artifactOf(a), a.Manifest, a.Warnings
			err = i.checkArtifactSize(pr, art.Path)
		}
		done(err)
		if err != nil {
			return nil, err
		}
	}

	done = pr.Step(ctx, apiv1.StepLoading, "")
	o, err := i.open(ctx, f.src, art, declared, v.grants)
	if err == nil {
		o.Warnings, o.Kubernetes = warnings, v.kube
		pr.SetPlugin(o.Meta.ID)
		err = admit(ctx, o)
	}
	done(err)
	if err != nil {
		return nil, err
	}
	i.TrimCache(ctx)
	return o, nil
}

// fetched is a source brought to local disk, ready to validate and build.
type fetched struct {
	src      apiv1.Source
	dir      string // a plugin folder to build, or "" for a prebuilt file
	file     string // the prebuilt file
	evidence policy.Evidence
	warnings []string
	// discard removes what this install brought to disk, on failure.
	discard func()
}

// fetch brings the requested source to local disk.
func (i *Installer) fetch(ctx context.Context, req Request) (fetched, error) {
	f := fetched{discard: func() {}}
	switch {
	case req.UploadID != "":
		up, err := i.opts.Sources.Upload(req.UploadID)
		if err != nil {
			return f, err
		}
		f.src = apiv1.Source{Kind: apiv1.SourceUpload, Location: up.ID, Pin: up.Digest}
		f.dir, f.evidence.Digest = up.Dir, up.Digest
		if req.DiscardUploadOnFailure {
			f.discard = func() { _ = i.opts.Sources.RemoveUpload(up.ID) }
		}
	case isRepository(req.Source):
		co, err := i.checkout(ctx, apiv1.Source{Location: req.Source, Path: req.Path}, req.Version)
		if err != nil {
			return f, err
		}
		f.src = apiv1.Source{Kind: apiv1.SourceGit, Location: "https://" + co.Repo.String(), Version: co.Version, Path: co.Path, Pin: co.Commit}
		f.dir, f.warnings = co.Dir, co.Warnings
		f.discard = func() { _ = i.opts.Sources.Forget(co) }
		if req.Source != f.src.Location && !strings.HasPrefix(req.Source, "https://github.com/") {
			f.src.Location = strings.TrimSuffix(req.Source, "/") // a non-GitHub host: keep the URL as given
		}
	default:
		src, err := localSource(req)
		if err != nil {
			return f, err
		}
		f.src = src
		if src.Kind == apiv1.SourceFolder {
			f.dir = src.Location
		} else {
			f.file = src.Location
		}
	}
	if f.evidence.Digest == "" {
		var err error
		if f.dir != "" {
			f.evidence.Digest, err = build.TreeDigest(f.dir)
		} else {
			f.evidence.Digest, err = build.FileDigest(f.file)
		}
		if err != nil {
			f.discard()
			return f, err
		}
	}
	f.evidence.Checksum, f.evidence.Signature = req.Checksum, req.Signature
	return f, nil
}

// validated is what validation learnt of a source.
type validated struct {
	md       *sdk.PluginMetadata // nil for a prebuilt file
	warnings []manifest.Problem
	signedBy string   // the trusted key that signed it, if any
	grants   []string // the permissions it gets
	kube     *apiv1.KubernetesGrant
}

// validate applies the integrity policy and reads the manifest early, so a
// bad plugin is refused before anything is built.
func (i *Installer) validate(pr Progress, f fetched, req Request) (validated, error) {
	var v validated
	if req.Checksum != "" {
		sum, err := policy.ParseChecksum(req.Checksum)
		if err != nil {
			return v, &source.Error{Field: "checksum", Err: err}
		}
		f.evidence.Checksum = sum
	}
	evidence, pol, err := req.Pin.check(f.evidence, i.policy())
	if err != nil {
		return v, err
	}
	signedBy, warnings, err := pol.CheckIntegrity(evidence)
	pr.Warn(warnings...)
	if err != nil {
		return v, err
	}
	v.signedBy = signedBy
	if signedBy != "" {
		i.opts.Logger.Info("signature verified", "source", req.Describe(), "key", signedBy, "digest", f.evidence.Digest)
	}
	if f.dir == "" {
		fi, err := os.Stat(f.file)
		if err != nil {
			return v, err
		}
		_, err = i.policy().CheckSize("artifact", fi.Size())
		return v, err
	}
	md, problems, err := manifest.ParseFile(filepath.Join(f.dir, "plugin.yaml"))
	if err != nil {
		return v, err
	}
	pr.SetPlugin(md.ID)
	if req.Pin != nil && req.Pin.ID != "" && md.ID != req.Pin.ID {
		return v, fmt.Errorf("%w: catalog %s lists this source as %s, but its plugin.yaml says %s", ErrBadSource, req.Pin.Catalog, req.Pin.ID, md.ID)
	}
	if md.Security.Checksum != "" && f.src.Kind != apiv1.SourceFile {
		pr.Warn("security.checksum in plugin.yaml cannot cover the files that contain it; pass checksum with the request instead")
	}
	if err := checkVersion(f.src, md.Version); err != nil {
		return v, err
	}
	if i.opts.Taken(md.ID) {
		return v, fmt.Errorf("install %s: %w: unload it first, or update or reload it", md.ID, ErrExists)
	}
	grants, withheld := i.opts.Grant(md)
	pr.Warn(withheld...)
	v.md, v.warnings, v.grants = md, problems, grants
	if v.kube = i.opts.GrantKubernetes(md); v.kube != nil {
		pr.Warn(v.kube.Withheld...)
	}
	return v, nil
}

// checkVersion refuses a local source whose code is not the version the
// request named.
func checkVersion(src apiv1.Source, version string) error {
	if (src.Kind == apiv1.SourceFolder || src.Kind == apiv1.SourceFile) && src.Version != "" &&
		strings.TrimPrefix(src.Version, "v") != strings.TrimPrefix(version, "v") {
		return fmt.Errorf("%w: version: %s is version %s, not %s", ErrBadSource, src.Location, version, src.Version)
	}
	return nil
}

// checkArtifactSize applies the policy's size limit to a built or prebuilt
// artifact.
func (i *Installer) checkArtifactSize(pr Progress, path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	ws, err := i.policy().CheckSize("artifact", fi.Size())
	pr.Warn(ws...)
	return err
}

// policy is the security policy that decides installs now.
func (i *Installer) policy() policy.Policy {
	sys := i.opts.System()
	return policy.Policy{
		Mode:              sys.SecurityMode,
		AllowedRepos:      sys.AllowedRepos,
		MaxPluginSize:     sys.MaxPluginSize,
		ValidateChecksums: sys.ValidateChecksums,
		TrustedKeys:       sys.TrustedKeys,
	}
}
