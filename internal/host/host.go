// Package host is the heart of the plugin system: it owns the installed
// plugins, drives each through its lifecycle, and routes requests to them.
//
// # Lifecycle
//
// Loading a plugin, in order:
//
//  1. Resolve the source: a plugin folder is built (package build), a .so
//     file is taken as it is.
//  2. Open the code (package runtime/native) and call NewPlugin.
//  3. GetMetadata; check it against plugin.yaml and the manifest rules, and
//     reserve the id (a second plugin with the same id is refused).
//  4. Build the plugin's router from its endpoints and GetHandlers.
//  5. Validate, Initialize(configuration), OnLoad.
//  6. Publish the instance: requests reach it from now on.
//
// A failure in 1-4 leaves no trace; a failure in 5 calls Cleanup, then
// leaves no trace. Unloading: the plugin leaves the registry (new requests
// get 404), its requests in flight finish (bounded by the drain timeout),
// then OnUnload and Cleanup. Reloading runs steps 1-5 for a new instance
// beside the old one, swaps it in atomically, then retires the old one as
// unloading does; if any step fails the old instance keeps serving.
// Enabling and disabling only gate requests; the instance stays loaded.
//
// Every call into plugin code recovers panics and is bounded by a timeout,
// so a plugin cannot take the host down or hang a management request. Go
// cannot stop a goroutine, so a plugin call that hangs past its timeout is
// abandoned, not killed; the sandboxed tier exists for code like that.
package host

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/kubestellar/ksplugins/internal/build"
	"github.com/kubestellar/ksplugins/internal/manifest"
	"github.com/kubestellar/ksplugins/internal/runtime/native"
	"github.com/kubestellar/ksplugins/sdk"
)

// Errors a caller tells apart.
var (
	// ErrNotFound: no plugin has that id.
	ErrNotFound = errors.New("plugin not found")
	// ErrExists: a plugin with that id is already loaded.
	ErrExists = errors.New("plugin already loaded")
	// ErrBadSource: the source cannot be used (missing, wrong kind, ...).
	ErrBadSource = errors.New("bad source")
	// ErrBusy: another operation on the same plugin is running.
	ErrBusy = errors.New("plugin busy")
)

// PluginError is a failure of the plugin's own code during a lifecycle step.
type PluginError struct {
	ID   string // the plugin
	Step string // "Validate", "Initialize", "OnLoad", "NewPlugin", ...
	Err  error
}

func (e *PluginError) Error() string { return fmt.Sprintf("plugin %s: %s: %v", e.ID, e.Step, e.Err) }

func (e *PluginError) Unwrap() error { return e.Err }

// Options configures a Host.
type Options struct {
	// Builder builds plugin folders.
	Builder *build.Builder
	// Loader opens native plugin files.
	Loader *native.Loader
	// CallTimeout bounds each call into plugin code; default 30s.
	CallTimeout time.Duration
	// DrainTimeout bounds how long an old instance's requests may run after
	// it is replaced or unloaded; default 10s.
	DrainTimeout time.Duration
	// Logger is the host's logger; every plugin line carries plugin_id.
	Logger *slog.Logger
}

// Host owns the installed plugins. It is safe for concurrent use.
type Host struct {
	opts Options
	log  *slog.Logger

	mu      sync.RWMutex
	plugins map[string]*Plugin
}

// New returns an empty Host.
func New(opts Options) *Host {
	if opts.CallTimeout <= 0 {
		opts.CallTimeout = 30 * time.Second
	}
	if opts.DrainTimeout <= 0 {
		opts.DrainTimeout = 10 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Host{opts: opts, log: opts.Logger, plugins: map[string]*Plugin{}}
}

// LoadRequest asks for a plugin to be loaded.
type LoadRequest struct {
	// Source is a plugin folder or a native .so file.
	Source string `json:"source"`
	// Version, when set, must equal the plugin's version.
	Version string `json:"version,omitempty"`
}

func (h *Host) lookup(id string) *Plugin {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.plugins[id]
}

func (h *Host) get(id string) (*Plugin, error) {
	if p := h.lookup(id); p != nil {
		return p, nil
	}
	return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
}

// Load loads a new plugin and starts serving it.
func (h *Host) Load(ctx context.Context, req LoadRequest) (Info, error) {
	src, err := resolveSource(req)
	if err != nil {
		return Info{}, err
	}
	in, warnings, err := h.instantiate(ctx, src)
	if err != nil {
		return Info{}, err
	}
	return h.register(ctx, src, in, warnings)
}

// register runs lifecycle steps 5-6 for a new plugin: it reserves the id,
// starts the instance and publishes it, or leaves no trace.
func (h *Host) register(ctx context.Context, src Source, in *instance, warnings []manifest.Problem) (Info, error) {
	id := in.meta.ID
	p := &Plugin{id: id, state: StateLoading, source: src, warnings: warnings}
	h.mu.Lock()
	if _, taken := h.plugins[id]; taken {
		h.mu.Unlock()
		return Info{}, fmt.Errorf("load %s: %w: unload it first, or reload it", id, ErrExists)
	}
	h.plugins[id] = p
	h.mu.Unlock()

	p.op.Lock()
	defer p.op.Unlock()
	if err := h.start(ctx, p, in); err != nil {
		h.mu.Lock()
		delete(h.plugins, id)
		h.mu.Unlock()
		return Info{}, err
	}
	p.inst.Store(in)
	p.setState(StateActive)
	h.log.Info("plugin loaded", "plugin_id", id, "version", in.meta.Version, "source", src.Location, "digest", in.artifact.Digest)
	return p.info(), nil
}

// resolveSource checks a load request's source and says what kind it is.
func resolveSource(req LoadRequest) (Source, error) {
	loc := strings.TrimSpace(req.Source)
	if loc == "" {
		return Source{}, fmt.Errorf("%w: source: is required (a plugin folder or a .so file)", ErrBadSource)
	}
	if strings.Contains(loc, "://") {
		return Source{}, fmt.Errorf("%w: source: %q: only local folders and .so files can be loaded by this version", ErrBadSource, loc)
	}
	abs, err := filepath.Abs(loc)
	if err != nil {
		return Source{}, fmt.Errorf("%w: source: %v", ErrBadSource, err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return Source{}, fmt.Errorf("%w: source: %v", ErrBadSource, err)
	}
	switch {
	case fi.IsDir():
		if _, err := os.Stat(filepath.Join(abs, "plugin.yaml")); err != nil {
			return Source{}, fmt.Errorf("%w: source: folder %s has no plugin.yaml", ErrBadSource, loc)
		}
		return Source{Kind: SourceFolder, Location: abs, Version: req.Version}, nil
	case strings.HasSuffix(abs, ".so") && fi.Mode().IsRegular():
		return Source{Kind: SourceFile, Location: abs, Version: req.Version}, nil
	}
	return Source{}, fmt.Errorf("%w: source: %s is neither a plugin folder nor a .so file", ErrBadSource, loc)
}

// instantiate runs lifecycle steps 1-4 for src: the new instance is ready to
// start but nothing knows of it.
func (h *Host) instantiate(ctx context.Context, src Source) (*instance, []manifest.Problem, error) {
	var (
		art      Artifact
		declared *sdk.PluginMetadata
		warnings []manifest.Problem
	)
	switch src.Kind {
	case SourceFolder:
		a, err := h.opts.Builder.Build(ctx, src.Location)
		if err != nil {
			return nil, nil, err
		}
		art = Artifact{Path: a.Path, Digest: a.Digest, BuildKey: a.Key, Cached: a.Cached, BuildDuration: a.Duration}
		declared, warnings = a.Manifest, a.Warnings
	case SourceFile:
		digest, err := build.FileDigest(src.Location)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: source: %v", ErrBadSource, err)
		}
		art = Artifact{Path: src.Location, Digest: digest}
	}

	newPlugin, err := h.opts.Loader.Open(art.Path, art.Digest)
	if err != nil {
		return nil, nil, fmt.Errorf("load %s: %w", src.Location, err)
	}
	impl, err := callValue(ctx, h.opts.CallTimeout, (func() sdk.KubestellarPlugin)(newPlugin))
	if err == nil && impl == nil {
		err = errors.New("returned nil")
	}
	if err != nil {
		return nil, nil, &PluginError{ID: filepath.Base(src.Location), Step: sdk.PluginSymbol, Err: err}
	}
	meta, err := callValue(ctx, h.opts.CallTimeout, impl.GetMetadata)
	if err != nil {
		return nil, nil, &PluginError{ID: filepath.Base(src.Location), Step: "GetMetadata", Err: err}
	}
	if declared != nil {
		if meta.ID != declared.ID || meta.Version != declared.Version {
			return nil, nil, &manifest.Error{File: "plugin.yaml", Problems: []manifest.Problem{{
				Field:   "id",
				Message: fmt.Sprintf("plugin.yaml declares %s %s but GetMetadata returns %s %s", declared.ID, declared.Version, meta.ID, meta.Version),
			}}}
		}
		meta = mergeDeclared(meta, declared)
	} else if problems := manifest.Validate(&meta); len(problems) > 0 {
		return nil, nil, &manifest.Error{File: "GetMetadata", Problems: problems}
	}
	if src.Version != "" && strings.TrimPrefix(src.Version, "v") != strings.TrimPrefix(meta.Version, "v") {
		return nil, nil, fmt.Errorf("%w: version: %s is version %s, not %s", ErrBadSource, src.Location, meta.Version, src.Version)
	}

	in := &instance{impl: impl, meta: meta, artifact: art, loadedAt: time.Now().UTC()}
	return in, warnings, nil
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

// start runs lifecycle step 4-5 for an instance of p.
func (h *Host) start(ctx context.Context, p *Plugin, in *instance) error {
	log := h.log.With("plugin_id", p.id)
	engine, err := newRouter(p, in.impl, in.meta.Endpoints, log)
	if err != nil {
		return &PluginError{ID: p.id, Step: "GetHandlers", Err: err}
	}
	in.engine = engine
	config := maps.Clone(in.meta.Configuration)
	if config == nil {
		config = map[string]interface{}{}
	}
	steps := []struct {
		name string
		fn   func() error
	}{
		{"Validate", in.impl.Validate},
		{"Initialize", func() error { return in.impl.Initialize(config) }},
		{"OnLoad", in.impl.OnLoad},
	}
	for _, s := range steps {
		if err := call(ctx, h.opts.CallTimeout, s.fn); err != nil {
			if cerr := call(ctx, h.opts.CallTimeout, in.impl.Cleanup); cerr != nil {
				log.Warn("cleanup after failed start", "err", cerr)
			}
			return &PluginError{ID: p.id, Step: s.name, Err: err}
		}
	}
	return nil
}

// retire stops an instance that no longer receives new requests: drain,
// OnUnload, Cleanup.
func (h *Host) retire(ctx context.Context, p *Plugin, in *instance) {
	log := h.log.With("plugin_id", p.id)
	if n := in.drain(h.opts.DrainTimeout); n > 0 {
		log.Warn("requests still running after drain timeout", "requests", n, "timeout", h.opts.DrainTimeout)
	}
	if err := call(ctx, h.opts.CallTimeout, in.impl.OnUnload); err != nil {
		log.Warn("OnUnload failed", "err", err)
	}
	if err := call(ctx, h.opts.CallTimeout, in.impl.Cleanup); err != nil {
		log.Warn("Cleanup failed", "err", err)
	}
}

// Unload stops a plugin and forgets it.
func (h *Host) Unload(ctx context.Context, id string) error {
	p, err := h.get(id)
	if err != nil {
		return err
	}
	p.op.Lock()
	defer p.op.Unlock()
	h.mu.Lock()
	if h.plugins[id] != p {
		h.mu.Unlock()
		return fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	delete(h.plugins, id)
	h.mu.Unlock()
	p.setState(StateUnloading)
	if in := p.inst.Swap(nil); in != nil {
		h.retire(ctx, p, in)
	}
	h.log.Info("plugin unloaded", "plugin_id", id)
	return nil
}

// Reload loads the plugin's source again and swaps the new instance in; on
// any failure the old instance keeps serving and the error is returned.
func (h *Host) Reload(ctx context.Context, id string) (Info, error) {
	p, err := h.get(id)
	if err != nil {
		return Info{}, err
	}
	p.op.Lock()
	defer p.op.Unlock()
	p.mu.RLock()
	src := p.source
	p.mu.RUnlock()

	start := time.Now()
	in, warnings, err := h.instantiate(ctx, src)
	if err == nil {
		err = h.replace(ctx, p, in, warnings)
	}
	if err != nil {
		p.mu.Lock()
		p.lastErr = err.Error()
		p.mu.Unlock()
		h.log.Warn("reload failed; previous version keeps serving", "plugin_id", id, "err", err)
		return p.info(), fmt.Errorf("reload %s: %w", id, err)
	}
	h.log.Info("plugin reloaded", "plugin_id", id, "version", in.meta.Version, "digest", in.artifact.Digest, "duration", time.Since(start).Round(time.Millisecond))
	return p.info(), nil
}

// replace starts a new instance of p, swaps it in and retires the old one.
// The caller holds p.op. On error the old instance is untouched.
func (h *Host) replace(ctx context.Context, p *Plugin, in *instance, warnings []manifest.Problem) error {
	if in.meta.ID != p.id {
		return &manifest.Error{File: "plugin.yaml", Problems: []manifest.Problem{{Field: "id", Message: fmt.Sprintf("changed from %s to %s; load it as a new plugin instead", p.id, in.meta.ID)}}}
	}
	if err := h.start(ctx, p, in); err != nil {
		return err
	}
	old := p.inst.Swap(in)
	p.mu.Lock()
	p.warnings, p.lastErr = warnings, ""
	if p.state == StateFailed || p.state == StateLoading {
		p.state = StateActive
	}
	p.mu.Unlock()
	if old != nil {
		h.retire(ctx, p, old)
	}
	return nil
}

// SetEnabled enables or disables a plugin. A disabled plugin stays loaded
// and answers 503.
func (h *Host) SetEnabled(id string, enabled bool) (Info, error) {
	p, err := h.get(id)
	if err != nil {
		return Info{}, err
	}
	p.op.Lock()
	defer p.op.Unlock()
	p.mu.Lock()
	switch {
	case p.state != StateActive && p.state != StateDisabled:
		state := p.state
		p.mu.Unlock()
		return Info{}, fmt.Errorf("%w: plugin %s is %s", ErrBusy, id, state)
	case enabled:
		p.state = StateActive
	default:
		p.state = StateDisabled
	}
	p.mu.Unlock()
	h.log.Info("plugin "+map[bool]string{true: "enabled", false: "disabled"}[enabled], "plugin_id", id)
	return p.info(), nil
}

// List returns every plugin, sorted by id.
func (h *Host) List() []Info {
	h.mu.RLock()
	ps := slices.Collect(maps.Values(h.plugins))
	h.mu.RUnlock()
	out := make([]Info, 0, len(ps))
	for _, p := range ps {
		out = append(out, p.info())
	}
	slices.SortFunc(out, func(a, b Info) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// Get returns one plugin.
func (h *Host) Get(id string) (Info, error) {
	p, err := h.get(id)
	if err != nil {
		return Info{}, err
	}
	return p.info(), nil
}

// Status returns the plugin's own report of its status, with the host's
// state and counters filled in.
func (h *Host) Status(ctx context.Context, id string) (sdk.PluginStatus, error) {
	p, err := h.get(id)
	if err != nil {
		return sdk.PluginStatus{}, err
	}
	st := sdk.PluginStatus{State: sdk.StateUnloaded, Health: sdk.HealthUnknown}
	if in := p.inst.Load(); in != nil {
		if st, err = callValue(ctx, h.opts.CallTimeout, in.impl.GetStatus); err != nil {
			st = sdk.PluginStatus{State: sdk.StateError, Health: sdk.HealthUnknown,
				Errors: []sdk.PluginError{{Code: sdk.ErrorCodeRuntime, Message: "GetStatus: " + err.Error(), Timestamp: time.Now().UTC().Format(time.RFC3339)}}}
		}
		if st.Uptime == "" {
			st.Uptime = time.Since(in.loadedAt).Round(time.Second).String()
		}
	}
	st.RequestCount = p.stats.snapshot().Requests
	return st, nil
}

// Metrics returns each plugin's own GetMetrics, by id; a plugin whose call
// fails reports the error instead.
func (h *Host) Metrics(ctx context.Context) map[string]map[string]interface{} {
	h.mu.RLock()
	ps := slices.Collect(maps.Values(h.plugins))
	h.mu.RUnlock()
	out := make(map[string]map[string]interface{}, len(ps))
	for _, p := range ps {
		in := p.inst.Load()
		if in == nil {
			continue
		}
		m, err := callValue(ctx, h.opts.CallTimeout, in.impl.GetMetrics)
		if err != nil {
			m = map[string]interface{}{"error": err.Error()}
		}
		out[p.id] = m
	}
	return out
}

// Close unloads every plugin.
func (h *Host) Close(ctx context.Context) {
	for _, info := range h.List() {
		if err := h.Unload(ctx, info.ID); err != nil && !errors.Is(err, ErrNotFound) {
			h.log.Warn("unload at shutdown", "plugin_id", info.ID, "err", err)
		}
	}
}
