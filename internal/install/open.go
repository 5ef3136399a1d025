package install

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	apiv1 "github.com/kubestellar/ksplugins/api/v1"

	"github.com/kubestellar/ksplugins/internal/build"
	"github.com/kubestellar/ksplugins/internal/extension"
	"github.com/kubestellar/ksplugins/internal/manifest"
	"github.com/kubestellar/ksplugins/internal/pluginlog"
	"github.com/kubestellar/ksplugins/internal/runtime"
	"github.com/kubestellar/ksplugins/internal/store"
	"github.com/kubestellar/ksplugins/sdk"
)

// open runs lifecycle steps 2-3 for a built artifact: the runtime of its
// tier opens it, and what the code reports is checked against declared
// (the plugin.yaml it was built from, when known) or the manifest rules.
func (i *Installer) open(ctx context.Context, src apiv1.Source, art apiv1.Artifact, declared *sdk.PluginMetadata, grants []string) (*Opened, error) {
	rt, ok := i.runtimes[art.Tier]
	if !ok {
		return nil, fmt.Errorf("%w: load %s: the %s tier is not available in this server", ErrBadSource, src.Location, art.Tier)
	}
	spec := runtime.Spec{ID: filepath.Base(src.Location), Declared: declared, Granted: grants, Sandbox: i.opts.System().Sandbox,
		CallTimeout: i.opts.CallTimeout, Logger: i.opts.Logger}
	if declared != nil {
		spec.ID = declared.ID
	}
	spec.Output = func() *pluginlog.Gate { return i.opts.Output(spec.ID) }
	if i.opts.Fault != nil {
		spec.Fault = func(cause error) { i.opts.Fault(spec.ID, cause) }
	}
	if i.opts.DataDir != "" {
		spec.DataDir = filepath.Join(i.opts.DataDir, "plugin-data", spec.ID)
	}
	inst, err := rt.Open(ctx, art, spec)
	if err != nil {
		if _, own := errors.AsType[*runtime.PluginError](err); own {
			return nil, err
		}
		return nil, fmt.Errorf("load %s: %w", src.Location, err)
	}
	o := &Opened{Instance: inst, Artifact: art, Source: src, Grants: grants, OpenedAt: time.Now().UTC()}
	o.Meta, err = i.check(ctx, inst.Plugin(), spec.ID, src, declared)
	if err == nil {
		o.UI, err = uiFiles(art)
	}
	if err != nil {
		o.Close(ctx, i.opts.Logger)
		return nil, err
	}
	return o, nil
}

// uiFiles reads the UI files stored beside art in its build cache entry,
// holding them to the digest recorded when it was built.
func uiFiles(art apiv1.Artifact) (*extension.Files, error) {
	if art.UIDigest == "" {
		return nil, nil
	}
	ui, err := extension.Load(filepath.Join(filepath.Dir(art.Path), extension.Folder))
	if err != nil {
		return nil, fmt.Errorf("load UI files of artifact %s: %w", art.Digest, err)
	}
	if ui == nil || ui.Digest != art.UIDigest {
		return nil, fmt.Errorf("UI files of artifact %s are not those it was built with (digest %s): the cache was modified", art.Digest, art.UIDigest)
	}
	return ui, nil
}

// check asks the plugin what it is and holds that to its manifest.
func (i *Installer) check(ctx context.Context, impl sdk.KubestellarPlugin, id string, src apiv1.Source, declared *sdk.PluginMetadata) (sdk.PluginMetadata, error) {
	meta, err := runtime.Contain(ctx, i.opts.CallTimeout, impl.GetMetadata)
	if err != nil {
		return meta, &runtime.PluginError{ID: id, Step: "GetMetadata", Err: err}
	}
	if declared != nil {
		if meta.ID != declared.ID || meta.Version != declared.Version {
			return meta, &manifest.Error{File: "plugin.yaml", Problems: []manifest.Problem{{
				Field:   "id",
				Message: fmt.Sprintf("plugin.yaml declares %s %s but GetMetadata returns %s %s", declared.ID, declared.Version, meta.ID, meta.Version),
			}}}
		}
		meta = mergeDeclared(meta, declared)
	} else if problems := manifest.Validate(&meta); len(problems) > 0 {
		return meta, &manifest.Error{File: "GetMetadata", Problems: problems}
	}
	return meta, checkVersion(src, meta.Version)
}

// mergeDeclared takes what plugin.yaml declares over what the code reports:
// the manifest is what the operator reviewed.
func mergeDeclared(reported sdk.PluginMetadata, declared *sdk.PluginMetadata) sdk.PluginMetadata {
	m := *declared
	if len(m.Configuration) == 0 {
		m.Configuration = reported.Configuration
	}
	return m
}

// Restore opens the exact code rec pins, from the local caches only, with
// the plugin's recorded grants (permissions and Kubernetes): no source and no network is needed.
func (i *Installer) Restore(ctx context.Context, rec store.Plugin, src apiv1.Source) (*Opened, error) {
	art, declared, err := i.storedArtifact(ctx, rec)
	if err != nil {
		a, rerr := i.rebuild(ctx, rec, src)
		if rerr != nil {
			return nil, fmt.Errorf("%w; nor could it be built again from its source: %v", err, rerr)
		}
		art, declared = artifactOf(a), a.Manifest
	}
	o, err := i.open(ctx, src, art, declared, rec.Grants)
	if err != nil {
		return nil, err
	}
	if o.Meta.ID != rec.ID {
		o.Close(ctx, i.opts.Logger)
		return nil, fmt.Errorf("stored artifact %s is plugin %s, not %s", art.Digest, o.Meta.ID, rec.ID)
	}
	o.Kubernetes = rec.Kubernetes
	return o, nil
}

// storedArtifact finds the exact code rec pins, the first of these that
// holds its digest: the build cache entry (with its plugin.yaml), the
// runtime's own copy, the copy another server published when the store is
// shared (fetched into FetchDir), the recorded file.
func (i *Installer) storedArtifact(ctx context.Context, rec store.Plugin) (apiv1.Artifact, *sdk.PluginMetadata, error) {
	if rec.BuildKey != "" {
		a, err := i.opts.Builder.Lookup(rec.BuildKey)
		if err == nil && a.Digest == rec.ArtifactDigest {
			return artifactOf(a), a.Manifest, nil
		}
	}
	tier := StoredTier(rec)
	found := func(path string) (apiv1.Artifact, *sdk.PluginMetadata, error) {
		return apiv1.Artifact{Tier: tier, Path: path, Digest: rec.ArtifactDigest, BuildKey: rec.BuildKey, Cached: true}, nil, nil
	}
	has := func(path string) bool {
		digest, err := build.FileDigest(path)
		return err == nil && digest == rec.ArtifactDigest
	}
	if p, ok := i.runtimes[tier].(runtime.Pinner); ok {
		if path, ok := p.Pinned(rec.ArtifactDigest); ok && has(path) {
			return found(path)
		}
	}
	// The recorded path is where the server that built the artifact kept
	// it: with a shared store, another server's, and only by chance on
	// this machine; the shared copy comes first.
	path, fetchErr := i.fetchArtifact(ctx, rec)
	if fetchErr == nil {
		return found(path)
	}
	if has(rec.ArtifactPath) {
		return found(rec.ArtifactPath)
	}
	return apiv1.Artifact{}, nil, fmt.Errorf("artifact %s of plugin %s is not in the local cache (nor shared: %v): reload it from its source", rec.ArtifactDigest, rec.ID, fetchErr)
}

// rebuild builds rec's code again from its recorded source (a repository
// at its pinned commit, a folder, an upload this server keeps), for a
// server whose caches, and shared store, lack the artifact. The build must
// yield the recorded digest, which Go's reproducible builds do with the
// same toolchain and inputs: anything else is not the code that was
// installed, and is refused before any of it runs.
func (i *Installer) rebuild(ctx context.Context, rec store.Plugin, src apiv1.Source) (*build.Artifact, error) {
	if src.Kind == apiv1.SourceFile || src.Kind == "" {
		return nil, errors.New("it was installed as a prebuilt file")
	}
	if i.opts.Builder == nil {
		return nil, errors.New("this server does not build plugins")
	}
	a, err := i.buildSource(ctx, src, StoredTier(rec))
	if err != nil {
		return nil, err
	}
	if a.Digest != rec.ArtifactDigest {
		return nil, fmt.Errorf("the build's digest is %s, not the recorded %s: this server's toolchain, or the source, differs", a.Digest, rec.ArtifactDigest)
	}
	i.opts.Logger.Info("built a plugin again from its source", "plugin_id", rec.ID, "digest", a.Digest, "source", src.Location)
	return a, nil
}

// StoredTier is the tier rec runs in; records from before there were tiers
// are native.
func StoredTier(rec store.Plugin) apiv1.Tier {
	return cmp.Or(apiv1.Tier(rec.Tier), apiv1.TierNative)
}
