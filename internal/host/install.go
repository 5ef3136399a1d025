package host

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	apiv1 "github.com/kubestellar/ksplugins/api/v1"

	"github.com/kubestellar/ksplugins/internal/build"
	"github.com/kubestellar/ksplugins/internal/config"
	"github.com/kubestellar/ksplugins/internal/events"
	"github.com/kubestellar/ksplugins/internal/manifest"
	"github.com/kubestellar/ksplugins/internal/operation"
	"github.com/kubestellar/ksplugins/internal/policy"
	"github.com/kubestellar/ksplugins/internal/source"
	"github.com/kubestellar/ksplugins/sdk"
)

// LoadRequest asks for a plugin to be installed: what the caller asked
// for, and what the server adds to it.
type LoadRequest struct {
	apiv1.LoadRequest
	// DiscardUploadOnFailure removes the upload if the install fails: set
	// for an archive uploaded by the same request, so that a failed install
	// leaves no trace.
	DiscardUploadOnFailure bool
}

// Load installs a plugin and returns when it serves or has failed. An
// install either completes or leaves no trace.
func (h *Host) Load(ctx context.Context, req LoadRequest) (apiv1.Plugin, error) {
	op := h.newOp(ctx, "install", describe(req), "")
	return h.install(ctx, op, req)
}

// StartLoad installs a plugin in the background and returns its operation
// at once; follow it with Operation or on the event stream.
func (h *Host) StartLoad(ctx context.Context, req LoadRequest) apiv1.Operation {
	op := h.newOp(ctx, "install", describe(req), "")
	actor := actorOf(ctx)
	h.goBackground(func(bg context.Context) { _, _ = h.install(WithActor(bg, actor), op, req) })
	o, _ := h.Operation(op.ID())
	return o
}

func describe(req LoadRequest) string {
	if req.UploadID != "" {
		return "upload:" + req.UploadID
	}
	return req.Source
}

// fetched is a source brought to local disk, ready to validate and build.
type fetched struct {
	src      apiv1.Source
	dir      string // a plugin folder to build, or "" for a .so file
	file     string // the .so file
	evidence policy.Evidence
	warnings []string
	// discard removes what this install brought to disk, on failure.
	discard func()
}

// install runs an install operation through its steps. The operation is
// finished before its last event is published, so that a client reacting
// to that event reads the finished operation.
func (h *Host) install(ctx context.Context, op *operation.Op, req LoadRequest) (info apiv1.Plugin, err error) {
	var loaded events.Event
	defer func() {
		if err != nil {
			op.Finish(nil, err)
			h.publish(ctx, events.Event{Type: events.Error, PluginID: op.PluginID(), Message: "install failed: " + err.Error(),
				Details: map[string]any{"operation_id": op.ID(), "source": op.Source()}})
			return
		}
		op.Finish(&info, nil)
		h.publish(ctx, loaded)
	}()

	done := op.Step(ctx, apiv1.StepFetching, op.Source())
	f, err := h.fetch(ctx, req)
	done(err)
	if err != nil {
		return apiv1.Plugin{}, err
	}
	defer func() {
		if err != nil {
			f.discard()
		}
	}()
	op.Warn(f.warnings...)

	done = op.Step(ctx, apiv1.StepValidating, "")
	v, err := h.validate(ctx, op, f, req)
	done(err)
	if err != nil {
		return apiv1.Plugin{}, err
	}
	declared, warnings := v.md, v.warnings

	art := apiv1.Artifact{Tier: fileTier(f.file), Path: f.file, Digest: f.evidence.Digest}
	if f.dir != "" {
		tier := h.tierFor(declared, v.signedBy)
		done = op.Step(ctx, apiv1.StepBuilding, string(tier))
		var a *build.Artifact
		a, err = h.opts.Builder.Build(ctx, f.dir, tier, h.buildTrust(f.src.Kind))
		if err == nil {
			art, declared, warnings = artifactOf(a), a.Manifest, a.Warnings
			err = h.checkArtifactSize(op, art.Path)
		}
		done(err)
		if err != nil {
			return apiv1.Plugin{}, err
		}
	}

	done = op.Step(ctx, apiv1.StepLoading, "")
	in, err := h.open(ctx, f.src, art, declared, v.grants)
	if err == nil {
		op.SetPlugin(in.meta.ID)
		p := &Plugin{id: in.meta.ID, state: apiv1.StateLoading, tier: in.artifact.Tier, enabled: true, source: f.src, warnings: warnings, grants: v.grants}
		if err = h.register(ctx, p, in, true); err == nil {
			h.watch(p, req.Watch)
			info = p.info()
		}
	}
	done(err)
	if err != nil {
		return apiv1.Plugin{}, err
	}
	h.trimCache(ctx)
	loaded = events.Event{Type: events.Loaded, PluginID: info.ID, Message: fmt.Sprintf("plugin %s %s loaded", info.ID, info.Version),
		Details: map[string]any{"version": info.Version, "source": f.src.Location, "pin": f.src.Pin, "digest": in.artifact.Digest, "operation_id": op.ID()}}
	return info, nil
}

// fetch brings the requested source to local disk.
func (h *Host) fetch(ctx context.Context, req LoadRequest) (fetched, error) {
	f := fetched{discard: func() {}}
	switch {
	case req.UploadID != "":
		up, err := h.opts.Sources.Upload(req.UploadID)
		if err != nil {
			return f, err
		}
		f.src = apiv1.Source{Kind: apiv1.SourceUpload, Location: up.ID, Pin: up.Digest}
		f.dir, f.evidence.Digest = up.Dir, up.Digest
		if req.DiscardUploadOnFailure {
			f.discard = func() { _ = h.opts.Sources.RemoveUpload(up.ID) }
		}
	case isRepository(req.Source):
		sys := h.system.Load()
		co, err := h.opts.Sources.Git(ctx, source.GitRequest{URL: req.Source, Version: req.Version, Path: req.Path,
			BaseURL: sys.RepositoryBaseURL, Token: sys.RepositoryToken, Policy: h.installPolicy()})
		if err != nil {
			return f, err
		}
		f.src = apiv1.Source{Kind: apiv1.SourceGit, Location: "https://" + co.Repo.String(), Version: co.Version, Path: co.Path, Pin: co.Commit}
		f.dir, f.warnings = co.Dir, co.Warnings
		f.discard = func() { _ = h.opts.Sources.Forget(co) }
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

// buildTrust is what a build of a source of kind may do beyond compiling
// the plugin's own Go files. A local folder was named by an admin, who may
// load native code anyway: its build may use cgo, reach outside its folder
// and, outside strict mode, run its build.sh. An upload or a repository is
// whoever wrote it: it may use cgo in permissive mode only, and nothing
// else.
func (h *Host) buildTrust(kind apiv1.SourceKind) build.Trust {
	mode := h.system.Load().SecurityMode
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

// isRepository tells a repository URL from a local path.
func isRepository(s string) bool {
	return strings.Contains(s, "://") || strings.HasPrefix(s, "github.com/")
}

// validated is what validation learnt of a source.
type validated struct {
	md       *sdk.PluginMetadata // nil for a prebuilt file
	warnings []manifest.Problem
	signedBy string   // the trusted key that signed it, if any
	grants   []string // the permissions it gets
}

// validate applies the integrity policy and reads the manifest early, so a
// bad plugin is refused before anything is built.
func (h *Host) validate(ctx context.Context, op *operation.Op, f fetched, req LoadRequest) (validated, error) {
	var v validated
	if req.Checksum != "" {
		sum, err := policy.ParseChecksum(req.Checksum)
		if err != nil {
			return v, &source.Error{Field: "checksum", Err: err}
		}
		f.evidence.Checksum = sum
	}
	signedBy, warnings, err := h.installPolicy().CheckIntegrity(f.evidence)
	op.Warn(warnings...)
	if err != nil {
		return v, err
	}
	v.signedBy = signedBy
	if signedBy != "" {
		h.log.Info("signature verified", "source", op.Source(), "key", signedBy, "digest", f.evidence.Digest)
	}
	if f.dir == "" {
		fi, err := os.Stat(f.file)
		if err != nil {
			return v, err
		}
		_, err = h.installPolicy().CheckSize("artifact", fi.Size())
		return v, err
	}
	md, problems, err := manifest.ParseFile(filepath.Join(f.dir, "plugin.yaml"))
	if err != nil {
		return v, err
	}
	op.SetPlugin(md.ID)
	if md.Security.Checksum != "" && f.src.Kind != apiv1.SourceFile {
		op.Warn("security.checksum in plugin.yaml cannot cover the files that contain it; pass checksum with the request instead")
	}
	if f.src.Kind == apiv1.SourceFolder && f.src.Version != "" && strings.TrimPrefix(f.src.Version, "v") != strings.TrimPrefix(md.Version, "v") {
		return v, fmt.Errorf("%w: version: %s is version %s, not %s", ErrBadSource, f.src.Location, md.Version, f.src.Version)
	}
	if h.lookup(md.ID) != nil {
		return v, fmt.Errorf("install %s: %w: unload it first, or update or reload it", md.ID, ErrExists)
	}
	grants, withheld := h.grant(md)
	op.Warn(withheld...)
	v.md, v.warnings, v.grants = md, problems, grants
	return v, nil
}

func (h *Host) checkArtifactSize(op *operation.Op, path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	ws, err := h.installPolicy().CheckSize("artifact", fi.Size())
	op.Warn(ws...)
	return err
}

// localSource checks a local source and says what kind it is.
func localSource(req LoadRequest) (apiv1.Source, error) {
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

// instantiate loads src's code again, for a reload: the same folder, file,
// upload, or repository commit, for the same tier.
func (h *Host) instantiate(ctx context.Context, src apiv1.Source, tier build.Tier, grants []string) (*instance, []manifest.Problem, error) {
	var dir string
	switch src.Kind {
	case apiv1.SourceFile:
		digest, err := build.FileDigest(src.Location)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: source: %v", ErrBadSource, err)
		}
		in, err := h.open(ctx, src, apiv1.Artifact{Tier: fileTier(src.Location), Path: src.Location, Digest: digest}, nil, grants)
		return in, nil, err
	case apiv1.SourceFolder:
		dir = src.Location
	case apiv1.SourceUpload:
		up, err := h.opts.Sources.Upload(src.Location)
		if err != nil {
			return nil, nil, err
		}
		dir = up.Dir
	case apiv1.SourceGit:
		co, err := h.checkout(ctx, src, src.Pin)
		if err != nil {
			return nil, nil, err
		}
		dir = co.Dir
	default:
		return nil, nil, fmt.Errorf("%w: unknown source kind %q", ErrBadSource, src.Kind)
	}
	a, err := h.opts.Builder.Build(ctx, dir, tier, h.buildTrust(src.Kind))
	if err != nil {
		return nil, nil, err
	}
	in, err := h.open(ctx, src, artifactOf(a), a.Manifest, grants)
	return in, a.Warnings, err
}

// checkout brings a repository source to disk at version.
func (h *Host) checkout(ctx context.Context, src apiv1.Source, version string) (source.Checkout, error) {
	sys := h.system.Load()
	return h.opts.Sources.Git(ctx, source.GitRequest{URL: src.Location, Version: version, Path: src.Path,
		BaseURL: sys.RepositoryBaseURL, Token: sys.RepositoryToken, Policy: h.installPolicy()})
}

// Update installs another version of a repository plugin beside the
// running one and switches to it only once it has started and passed a
// health check; otherwise the running version keeps serving.
func (h *Host) Update(ctx context.Context, id, version string) (apiv1.Plugin, error) {
	p, err := h.get(id)
	if err != nil {
		return apiv1.Plugin{}, err
	}
	p.mu.RLock()
	src := p.source
	p.mu.RUnlock()
	op := h.newOp(ctx, "update", src.Location+"@"+version, id)
	info, err := h.update(ctx, op, p, version)
	if err != nil {
		op.Finish(nil, err)
		h.publish(ctx, events.Event{Type: events.Error, PluginID: id, Message: "update failed; the running version keeps serving: " + err.Error(),
			Details: map[string]any{"operation_id": op.ID(), "version": version}})
		return info, err
	}
	op.Finish(&info, nil)
	return info, nil
}

// update is Update for the registration p. It reads p's source under p's
// lock, so that it builds on the version the previous change left.
func (h *Host) update(ctx context.Context, op *operation.Op, p *Plugin, version string) (apiv1.Plugin, error) {
	if strings.TrimSpace(version) == "" {
		return apiv1.Plugin{}, fmt.Errorf("%w: version: is required", ErrBadSource)
	}
	if err := h.lock(p); err != nil {
		return apiv1.Plugin{}, fmt.Errorf("update %s: %w", p.id, err)
	}
	defer p.op.Unlock()
	p.mu.RLock()
	src, tier := p.source, p.tier
	p.mu.RUnlock()
	if src.Kind != apiv1.SourceGit {
		return apiv1.Plugin{}, fmt.Errorf("%w: update %s: only repository plugins have versions to update to; reload a %s plugin instead", ErrBadSource, p.id, src.Kind)
	}

	done := op.Step(ctx, apiv1.StepFetching, src.Location+"@"+version)
	co, err := h.checkout(ctx, src, version)
	done(err)
	if err != nil {
		return p.info(), err
	}
	next := src
	next.Version, next.Pin = co.Version, co.Commit
	done = op.Step(ctx, apiv1.StepBuilding, string(tier))
	a, err := h.opts.Builder.Build(ctx, co.Dir, tier, h.buildTrust(src.Kind))
	done(err)
	if err != nil {
		_ = h.opts.Sources.Forget(co)
		return p.info(), err
	}
	done = op.Step(ctx, apiv1.StepLoading, "")
	start := time.Now()
	grants, _ := h.grant(a.Manifest)
	in, err := h.open(ctx, next, artifactOf(a), a.Manifest, grants)
	if err == nil && in.meta.ID != p.id {
		release(ctx, in.impl, h.log.With("plugin_id", p.id))
		err = fmt.Errorf("%w: version %s is plugin %s, not %s", ErrBadSource, version, in.meta.ID, p.id)
	}
	if err == nil {
		err = h.start(ctx, p, in)
		if err == nil {
			if herr := call(ctx, h.healthPolicy().Timeout, func() error { return probe(in) }); herr != nil {
				h.retire(ctx, p, in)
				err = &PluginError{ID: p.id, Step: "Health", Err: herr}
			}
		}
	}
	if err == nil {
		p.mu.Lock()
		prev, prevGrants := p.source, p.grants
		p.source, p.grants = next, grants
		p.mu.Unlock()
		if err = h.save(ctx, p, in); err != nil {
			p.mu.Lock()
			p.source, p.grants = prev, prevGrants
			p.mu.Unlock()
			h.retire(ctx, p, in)
		}
	}
	done(err)
	if err != nil {
		return p.info(), err
	}
	old := p.inst.Load()
	p.mu.Lock()
	p.warnings = a.Warnings
	p.mu.Unlock()
	h.run(p, in)
	if old != nil {
		h.retire(ctx, p, old)
	}
	h.publish(ctx, events.Event{Type: events.Reloaded, PluginID: p.id, Message: fmt.Sprintf("plugin %s updated to %s", p.id, version),
		Details: map[string]any{"version": version, "commit": co.Commit, "duration_ms": time.Since(start).Milliseconds(), "operation_id": op.ID()}})
	return p.info(), nil
}
