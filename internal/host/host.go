// Package host is the heart of the plugin system: it owns the installed
// plugins, drives each through its lifecycle, and routes requests to them.
//
// It leans on two packages below it. Package install runs the install
// pipeline: it fetches a source (package source), validates it against the
// install policy, builds it (package build) and opens the artifact in the
// runtime of its tier. Package runtime is the contract every tier
// implements (runtime/native, runtime/wasm); the host is given its
// runtimes in Options and never names one.
//
// # Lifecycle
//
// Loading a plugin, in order:
//
//  1. Resolve the source (package install): a plugin folder is built, a
//     .so or .wasm file is taken as it is.
//  2. Open the artifact in its tier's runtime (runtime.Runtime.Open), which
//     constructs the plugin (a native plugin's NewPlugin).
//  3. GetMetadata; check it against plugin.yaml and the manifest rules, and
//     reserve the id (a second plugin with the same id is refused). The
//     plugins it depends on must be installed, running and in range, and
//     must not depend on it in turn (a *DependencyError refuses it).
//  4. Record the desired state in the store.
//  5. Build the plugin's router from its endpoints and GetHandlers.
//  6. SetPublisher (plugins that publish events), SetKubernetes (plugins
//     that work on clusters), SetPluginCaller (plugins that call their
//     dependencies), Validate, Initialize(configuration), OnLoad.
//  7. Publish the instance: requests reach it from now on, and its health
//     checker starts.
//
// A failure in 1-3 leaves no trace; a failure in 4-6 removes the stored
// record and closes the instance in its runtime (after Cleanup, when one of
// the plugin's own step-6 calls failed), and leaves no trace. Unloading: a
// plugin others depend on is refused unless forced; the record is
// deleted, the plugin leaves the registry (new requests get 404), its
// health checker stops, its requests in flight finish (bounded by the
// drain timeout), then OnUnload, Cleanup, and the
// runtime closes the instance.
//
// Reload, update and a watched folder's change replace a running plugin's
// code the same way (swap, in load.go): steps 1-3 for a new instance beside
// the old one, then steps 5-6 for it (and, for an update, a passing health
// check), the new artifact is recorded, the instance is swapped in
// atomically, and the old one is retired as unloading does. If any step
// fails the old instance keeps serving, and new code that declares another
// id is refused. Enabling, disabling and configuring record the change
// first, then apply it; the instance stays loaded.
//
// Changes to one plugin (load, reload, update, unload, enable, disable,
// configure, a restore attempt) are serialized by the plugin's operation
// lock, and each re-checks under it that the plugin is still the one
// registered under its id: a change that lost a race with an unload fails
// with ErrNotFound and writes nothing. Each change writes the store in the
// same locked step as the in-memory change, before the change can be seen
// (and an unload deletes the record before the plugin leaves the
// registry), so what the API reports is what a restart brings back.
//
// At start, Restore rebuilds every stored plugin from the local artifact
// cache, without the network, each after the plugins it depends on. A
// plugin that fails to come back is marked failed and retried with
// exponential backoff; after MaxRestarts failures in a row it is marked
// crash_loop and left alone until an operator acts.
//
// Dependencies: a plugin's manifest may name plugins it depends on, with
// version ranges. Disabling a plugin others depend on is refused, like
// unloading it, unless forced; a forced change, a dependency that fails,
// or one replaced by a version out of range leaves its dependants running
// but degraded (their last error says why), and they are active again as
// soon as it is back. A plugin calls its dependencies' endpoints through
// sdk.PluginCaller, and only those.
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
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kubestellar/ksplugins/internal/auth"
	"github.com/kubestellar/ksplugins/internal/build"
	"github.com/kubestellar/ksplugins/internal/config"
	"github.com/kubestellar/ksplugins/internal/events"
	"github.com/kubestellar/ksplugins/internal/install"
	"github.com/kubestellar/ksplugins/internal/kubeaccess"
	"github.com/kubestellar/ksplugins/internal/operation"
	"github.com/kubestellar/ksplugins/internal/pluginlog"
	"github.com/kubestellar/ksplugins/internal/ratelimit"
	"github.com/kubestellar/ksplugins/internal/runtime"
	"github.com/kubestellar/ksplugins/internal/source"
	"github.com/kubestellar/ksplugins/internal/store"
)

// Errors a caller tells apart.
var (
	// ErrNotFound: no plugin has that id.
	ErrNotFound = errors.New("plugin not found")
	// ErrExists: a plugin with that id is already loaded.
	ErrExists = install.ErrExists
	// ErrBadSource: the source cannot be used (missing, wrong kind, ...).
	ErrBadSource = install.ErrBadSource
	// ErrBusy: the plugin is in a state that does not allow the operation.
	ErrBusy = errors.New("plugin busy")
	// ErrInvalidConfig: a plugin configuration was refused.
	ErrInvalidConfig = errors.New("invalid configuration")
	// ErrConflict: another server sharing the store changed the plugin
	// while this change was being made; nothing was changed here.
	ErrConflict = store.ErrConflict
)

// PluginError is a failure of the plugin's own code during a lifecycle
// step; runtimes report a failed constructor with it too.
type PluginError = runtime.PluginError

// Options configures a Host.
type Options struct {
	// Store keeps the desired state. Required.
	Store store.Store
	// Events receives every lifecycle and health event. Required.
	Events *events.Bus
	// Builder builds plugin folders.
	Builder *build.Builder
	// Sources fetches repositories and keeps uploads.
	Sources *source.Fetcher
	// Runtimes run plugin code, one per tier; a tier without one is not
	// available in this server.
	Runtimes []runtime.Runtime
	// DataDir holds the private folders of plugins granted storage.
	DataDir string
	// FetchDir keeps the artifacts other servers sharing the store built
	// (see Reconcile).
	FetchDir string
	// Replica names this server among those sharing the store (see
	// Report).
	Replica string
	// Authenticate checks the credentials of calls to plugin endpoints that
	// require them; nil refuses every such call.
	Authenticate func(ctx context.Context, bearer string) (auth.Identity, error)
	// Limiter enforces endpoints' rate limits; nil makes one.
	Limiter *ratelimit.Limiter
	// Watch rebuilds and swaps every plugin loaded from a local folder when
	// its files change (PLUGIN_WATCH).
	Watch bool
	// CallTimeout bounds each call into plugin code; default 30s.
	CallTimeout time.Duration
	// DrainTimeout bounds how long an old instance's requests may run after
	// it is replaced or unloaded; default 10s.
	DrainTimeout time.Duration
	// RestartBackoff is the first wait before retrying a plugin that failed
	// to start; it doubles up to a minute. Default 1s.
	RestartBackoff time.Duration
	// MaxRestarts is how many failed starts in a row mark a plugin
	// crash_loop; default 5.
	MaxRestarts int
	// SampleInterval is how often each plugin's traffic is sampled for
	// MetricsHistory; default 5s.
	SampleInterval time.Duration
	// SampleHistory is how many samples each plugin keeps; default 120.
	SampleHistory int
	// Logger is the host's logger; every plugin line carries plugin_id.
	Logger *slog.Logger
	// Kubernetes are the API servers of the host's kubeconfig, one per
	// context, through which plugins reach the contexts they were
	// granted; none when the host has no kubeconfig. The host closes them
	// on Close.
	Kubernetes []*kubeaccess.Upstream
}

// Host owns the installed plugins. It is safe for concurrent use.
type Host struct {
	opts   Options
	log    *slog.Logger
	store  store.Store
	events *events.Bus
	policy atomic.Pointer[HealthPolicy]
	system atomic.Pointer[config.System]
	output pluginlog.Gates // each plugin's log gate
	ops    operation.Registry
	// installer brings plugin code from a source to an opened instance.
	installer *install.Installer

	// ctx bounds every background goroutine (health checkers, restarts);
	// Close cancels it and waits for them.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// restoring counts the plugins Restore found that are not back or
	// failed yet; restored is closed when none is left.
	restoring atomic.Int64
	restored  chan struct{}
	// warmUpOn is set by WarmUp; warmUp is its operation, once the
	// restore is over and it began.
	warmUpOn atomic.Bool
	warmUp   atomic.Pointer[operation.Op]

	// audits are entries waiting for writeAudits.
	audits chan store.AuditEntry
	// changed is poked at every event, so that a report to a shared
	// store (Report) follows changes closely; reportEvery is Report's
	// interval, zero until it runs.
	changed     chan struct{}
	reportEvery atomic.Int64

	// upstreams are Options.Kubernetes by context.
	upstreams map[string]*kubeaccess.Upstream

	// graph is held while a change checks the dependency graph and
	// makes the change that check allowed (a plugin enters the registry,
	// or leaves it), so that no plugin leaves while one that depends on
	// it is let in. It is never held while taking a plugin's lock.
	graph sync.Mutex

	mu      sync.RWMutex
	plugins map[string]*Plugin
}

// New returns an empty Host. Call Restore to bring back stored plugins and
// Close to stop it.
func New(opts Options) *Host {
	if opts.CallTimeout <= 0 {
		opts.CallTimeout = 30 * time.Second
	}
	if opts.DrainTimeout <= 0 {
		opts.DrainTimeout = 10 * time.Second
	}
	if opts.RestartBackoff <= 0 {
		opts.RestartBackoff = time.Second
	}
	if opts.MaxRestarts <= 0 {
		opts.MaxRestarts = 5
	}
	if opts.SampleInterval <= 0 {
		opts.SampleInterval = defaultSampleInterval
	}
	if opts.SampleHistory <= 0 {
		opts.SampleHistory = defaultSampleHistory
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Limiter == nil {
		opts.Limiter = ratelimit.New(nil)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &Host{opts: opts, log: opts.Logger, store: opts.Store, events: opts.Events, ctx: ctx, cancel: cancel, plugins: map[string]*Plugin{},
		audits: make(chan store.AuditEntry, auditQueueSize), restored: make(chan struct{}), changed: make(chan struct{}, 1)}
	h.upstreams = make(map[string]*kubeaccess.Upstream, len(opts.Kubernetes))
	for _, up := range opts.Kubernetes {
		h.upstreams[up.Context()] = up
	}
	h.installer = install.New(install.Options{
		Builder: opts.Builder, Sources: opts.Sources, Runtimes: opts.Runtimes, Store: opts.Store,
		System: h.system.Load, Grant: h.grant, GrantKubernetes: h.grantKubernetes, Taken: func(id string) bool { return h.lookup(id) != nil },
		Output: h.outputGate, Fault: h.instanceFault, DataDir: opts.DataDir, FetchDir: opts.FetchDir, CallTimeout: opts.CallTimeout, Logger: opts.Logger,
	})
	h.SetSystem(config.DefaultSystem())
	h.goBackground(h.sampleTraffic)
	h.goBackground(h.writeAudits)
	return h
}

// SetSystem applies a new live configuration: health defaults, log limits,
// the runtimes' settings (the sandbox's memory budget) and the install
// policy of every later operation.
func (h *Host) SetSystem(sys config.System) {
	h.system.Store(&sys)
	h.output.SetLimits(sys.PluginLogs)
	for _, rt := range h.opts.Runtimes {
		if c, ok := rt.(runtime.Configurable); ok {
			c.Configure(sys)
		}
	}
	h.SetHealthPolicy(HealthPolicy{
		Interval:          time.Duration(sys.Health.IntervalSeconds) * time.Second,
		Timeout:           time.Duration(sys.Health.TimeoutSeconds) * time.Second,
		FailureThreshold:  sys.Health.FailureThreshold,
		RecoveryThreshold: sys.Health.RecoveryThreshold,
		OnUnhealthy:       sys.Health.OnUnhealthy,
	})
}

type actorKey struct{}

// WithActor returns a context that attributes the host's actions, in events
// and logs, to actor (a user or token name).
func WithActor(ctx context.Context, actor string) context.Context {
	return context.WithValue(ctx, actorKey{}, actor)
}

func actorOf(ctx context.Context) string {
	if a, ok := ctx.Value(actorKey{}).(string); ok && a != "" {
		return a
	}
	return "system"
}

// publish sends an event, attributed to the context's actor unless it names
// one.
func (h *Host) publish(ctx context.Context, e events.Event) {
	if e.Actor == "" {
		e.Actor = actorOf(ctx)
	}
	h.events.Publish(e)
	select {
	case h.changed <- struct{}{}:
	default: // a report is due already
	}
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

// lock takes p's operation lock for a change to p and checks, under it,
// that p is still the plugin registered under its id. A change that waited
// for the lock while the plugin was unloaded (or unloaded and loaded again,
// which is another registration) fails with ErrNotFound and touches
// nothing: without this check it would write a store record, or publish an
// instance, that no registry entry owns. On success the caller must unlock
// p.op.
//
// A registration only leaves the registry with its lock held (Unload, a
// failed load), so the check stays true for as long as the lock is held.
func (h *Host) lock(p *Plugin) error {
	p.op.Lock()
	if h.lookup(p.id) != p {
		p.op.Unlock()
		return fmt.Errorf("%w: %s was unloaded while this change waited for it", ErrNotFound, p.id)
	}
	return nil
}

// all returns every plugin, sorted by id.
func (h *Host) all() []*Plugin {
	h.mu.RLock()
	ps := slices.Collect(maps.Values(h.plugins))
	h.mu.RUnlock()
	slices.SortFunc(ps, func(a, b *Plugin) int { return strings.Compare(a.id, b.id) })
	return ps
}

// goBackground runs fn on a goroutine that Close waits for.
func (h *Host) goBackground(fn func(ctx context.Context)) {
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		fn(h.ctx)
	}()
}

// Close stops every background goroutine and retires every instance. The
// stored desired state is kept: the next start restores it.
func (h *Host) Close(ctx context.Context) {
	h.cancel()
	h.wg.Wait()
	for _, p := range h.all() {
		p.op.Lock()
		if in := p.inst.Swap(nil); in != nil {
			h.retire(ctx, p, in)
		}
		p.op.Unlock()
	}
	for _, up := range h.upstreams {
		up.Close()
	}
}
