package install

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	apiv1 "github.com/kubestellar/ksplugins/api/v1"

	"github.com/kubestellar/ksplugins/internal/build"
	"github.com/kubestellar/ksplugins/internal/config"
	"github.com/kubestellar/ksplugins/internal/policy"
	"github.com/kubestellar/ksplugins/internal/source"
	"github.com/kubestellar/ksplugins/sdk"
)

// Instantiate opens src's code again, for a reload: the same folder, file,
// upload, or repository commit, built for (or, a prebuilt file, opened in)
// the same tier, with the same grants.
func (i *Installer) Instantiate(ctx context.Context, src apiv1.Source, tier apiv1.Tier, grants []string) (*Opened, error) {
	if src.Kind == apiv1.SourceFile {
		digest, err := build.FileDigest(src.Location)
		if err != nil {
			return nil, fmt.Errorf("%w: source: %v", ErrBadSource, err)
		}
		return i.open(ctx, src, apiv1.Artifact{Tier: tier, Path: src.Location, Digest: digest}, nil, grants)
	}
	a, err := i.buildSource(ctx, src, tier)
	if err != nil {
		return nil, err
	}
	o, err := i.open(ctx, src, artifactOf(a), a.Manifest, grants)
	if err != nil {
		return nil, err
	}
	o.Warnings = a.Warnings
	return o, nil
}

// buildSource builds the code of src, which is not a prebuilt file: a
// folder, an upload, or a repository at its pin.
func (i *Installer) buildSource(ctx context.Context, src apiv1.Source, tier apiv1.Tier) (*build.Artifact, error) {
	var dir string
	switch src.Kind {
	case apiv1.SourceFolder:
		dir = src.Location
	case apiv1.SourceUpload:
		up, err := i.opts.Sources.Upload(src.Location)
		if err != nil {
			return nil, err
		}
		dir = up.Dir
	case apiv1.SourceGit:
		co, err := i.checkout(ctx, src, src.Pin)
		if err != nil {
			return nil, err
		}
		dir = co.Dir
	default:
		return nil, fmt.Errorf("%w: unknown source kind %q", ErrBadSource, src.Kind)
	}
	return i.build(ctx, dir, tier, i.buildTrust(src.Kind))
}

// Update checks out another version of a repository source and builds it
// for tier, each a step of pr, then opens it with the permissions and
// Kubernetes access its manifest is granted now and hands it to admit
// within the loading step.
// admit owns the instance it was handed. A pin, when not nil, refuses a
// source whose digest differs from the catalog's.
func (i *Installer) Update(ctx context.Context, pr Progress, src apiv1.Source, tier apiv1.Tier, version string, pin *Pin, admit func(context.Context, *Opened) error) (*Opened, error) {
	if src.Kind != apiv1.SourceGit {
		return nil, fmt.Errorf("%w: only repository plugins have versions to update to; reload a %s plugin instead", ErrBadSource, src.Kind)
	}
	done := pr.Step(ctx, apiv1.StepFetching, src.Location+"@"+version)
	co, err := i.checkout(ctx, src, version)
	done(err)
	if err != nil {
		return nil, err
	}
	next := src
	next.Version, next.Pin = co.Version, co.Commit
	if pin != nil {
		done = pr.Step(ctx, apiv1.StepValidating, "")
		err = i.checkPin(pr, co.Dir, pin)
		done(err)
		if err != nil {
			_ = i.opts.Sources.Forget(co)
			return nil, err
		}
	}
	done = pr.Step(ctx, apiv1.StepBuilding, string(tier))
	a, err := i.opts.Builder.Build(ctx, co.Dir, tier, i.buildTrust(src.Kind))
	done(err)
	if err != nil {
		_ = i.opts.Sources.Forget(co)
		return nil, err
	}
	done = pr.Step(ctx, apiv1.StepLoading, "")
	grants, _ := i.opts.Grant(a.Manifest)
	o, err := i.open(ctx, next, artifactOf(a), a.Manifest, grants)
	if err == nil {
		// The new version's manifest may ask for other access: it is
		// decided again, as its permissions are.
		o.Warnings, o.Kubernetes = a.Warnings, i.opts.GrantKubernetes(a.Manifest)
		if o.Kubernetes != nil {
			pr.Warn(o.Kubernetes.Withheld...)
		}
		err = admit(ctx, o)
	}
	done(err)
	if err != nil {
		return nil, err
	}
	return o, nil
}

// checkPin checks the plugin folder dir against a catalog's pin: its
// digest, and the signature of it.
func (i *Installer) checkPin(pr Progress, dir string, pin *Pin) error {
	digest, err := build.TreeDigest(dir)
	if err != nil {
		return err
	}
	ev, pol, err := pin.check(policy.Evidence{Digest: digest}, i.policy())
	if err != nil {
		return err
	}
	_, warnings, err := pol.CheckIntegrity(ev)
	pr.Warn(warnings...)
	return err
}

// checkout brings a repository source to disk at version.
func (i *Installer) checkout(ctx context.Context, src apiv1.Source, version string) (source.Checkout, error) {
	sys := i.opts.System()
	return i.opts.Sources.Git(ctx, source.GitRequest{URL: src.Location, Version: version, Path: src.Path,
		BaseURL: sys.RepositoryBaseURL, Token: sys.RepositoryToken, Policy: i.policy()})
}

// localSource checks a local source and says what kind it is.
func localSource(req Request) (apiv1.Source, error) {
	loc := strings.TrimSpace(req.Source)
	if loc == "" {
		return apiv1.Source{}, fmt.Errorf("%w: source: is required (a plugin folder, a .so file, a repository URL, or upload_id)", ErrBadSource)
	}
	abs, err := filepath.Abs(loc)
	if err != nil {
		return apiv1.Source{}, fmt.Errorf("%w: source: %v", ErrBadSource, err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return apiv1.Source{}, fmt.Errorf("%w: source: %v", ErrBadSource, err)
	}
	switch {
	case fi.IsDir():
		if _, err := os.Stat(filepath.Join(abs, "plugin.yaml")); err != nil {
			return apiv1.Source{}, fmt.Errorf("%w: source: folder %s has no plugin.yaml", ErrBadSource, loc)
		}
		return apiv1.Source{Kind: apiv1.SourceFolder, Location: abs, Version: req.Version}, nil
	case (strings.HasSuffix(abs, ".so") || strings.HasSuffix(abs, ".wasm")) && fi.Mode().IsRegular():
		return apiv1.Source{Kind: apiv1.SourceFile, Location: abs, Version: req.Version}, nil
	}
	return apiv1.Source{}, fmt.Errorf("%w: source: %s is neither a plugin folder nor a .so or .wasm file", ErrBadSource, loc)
}

// isRepository tells a repository URL from a local path.
func isRepository(s string) bool {
	return strings.Contains(s, "://") || strings.HasPrefix(s, "github.com/")
}

// buildTrust is what a build of a source of kind may do beyond compiling
// the plugin's own Go files. A local folder was named by an admin, who may
// load native code anyway: its build may use cgo, reach outside its folder
// and, outside strict mode, run its build.sh. An upload or a repository is
// whoever wrote it: it may use cgo in permissive mode only, and nothing
// else.
func buildTrust(mode string, kind apiv1.SourceKind) build.Trust {
	if kind == apiv1.SourceFolder {
		if mode == config.ModeStrict {
			return build.AllowCgo | build.AllowOutside
		}
		return build.FullTrust
	}
	if mode == config.ModePermissive {
		return build.AllowCgo
	}
	return 0
}

func (i *Installer) buildTrust(kind apiv1.SourceKind) build.Trust {
	return buildTrust(i.opts.System().SecurityMode, kind)
}

// tierFor decides where a plugin runs: sandboxed when its manifest asks,
// when the configuration sandboxes everything, and in strict mode unless a
// trusted key signed it; natively otherwise.
func tierFor(sys *config.System, md *sdk.PluginMetadata, signedBy string) apiv1.Tier {
	switch {
	case md != nil && md.Security.Sandboxed, sys.EnableSandboxing:
		return apiv1.TierSandboxed
	case sys.SecurityMode == config.ModeStrict && signedBy == "":
		return apiv1.TierSandboxed
	}
	return apiv1.TierNative
}

func (i *Installer) tierFor(md *sdk.PluginMetadata, signedBy string) apiv1.Tier {
	return tierFor(i.opts.System(), md, signedBy)
}

func artifactOf(a *build.Artifact) apiv1.Artifact {
	return apiv1.Artifact{Tier: a.Tier, Path: a.Path, Digest: a.Digest, BuildKey: a.Key, UIDigest: a.UIDigest, Cached: a.Cached, BuildDuration: a.Duration}
}
