package wasm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	apiv1 "github.com/kubestellar/ksplugins/api/v1"

	"github.com/kubestellar/ksplugins/internal/pluginlog"
	"github.com/kubestellar/ksplugins/internal/runtime/wasm/interrupt"
	"github.com/kubestellar/ksplugins/sdk"
	"github.com/kubestellar/ksplugins/sdk/wasmguest/abi"
)

// startTimeout bounds instantiating one instance (the Go runtime's start and
// the plugin's package initialisation), which may take longer than a request.
const startTimeout = 30 * time.Second

// lifecycleWait is the least a lifecycle method waits for every instance to
// be free; it waits at least two request timeouts.
const lifecycleWait = 30 * time.Second

// Plugin is a loaded sandboxed plugin. It implements sdk.KubestellarPlugin by
// calling into its instances, so the host drives it exactly like a native
// plugin; it is safe for concurrent use.
//
// Lifecycle methods (Validate, Initialize, OnLoad, OnConfigChange, OnUnload,
// Cleanup) run on every instance. Instances started later, to replace one
// that crashed or timed out, are brought to the same point (validated,
// initialised with the latest configuration, loaded) before they serve.
// Health, GetStatus, GetMetrics and GetPermissions ask one instance.
type Plugin struct {
	id     string
	limits Limits
	grants Grants
	log    *slog.Logger
	output *pluginlog.Gate // what of the guest's output reaches log
	cache  wazero.CompilationCache
	rt     wazero.Runtime
	mod    wazero.CompiledModule
	fs     wazero.FSConfig // nil: no file system
	client *http.Client
	meta   sdk.PluginMetadata
	// routes are the host's endpoints, if it gave them (Options.Endpoints).
	routes []sdk.EndpointConfig
	fault  func(error) // Options.Fault; nil: none
	owner  *Runtime
	// reserved is what the plugin holds of its owner's memory budget;
	// written under the owner's lock before the plugin is shared.
	reserved int64

	ctx    context.Context // canceled by Close: stops replacements and waits
	cancel context.CancelFunc
	wg     sync.WaitGroup // replacement goroutines and the turn scheduler

	free  chan *instance // idle instances
	queue chan struct{}  // one token per waiting request
	bufs  sync.Pool      // *[]byte request/response frames
	seq   atomic.Uint64  // instance numbers
	cycle sync.Mutex     // serialises lifecycle broadcasts
	// turns: the module exports ksp_background, so instances with
	// background work get turns; wake tells the scheduler one was released.
	turns bool
	wake  chan struct{}

	mu     sync.Mutex
	closed bool
	life   life
	live   map[*instance]struct{}
	// kube is the host's Kubernetes access for the plugin
	// (SetKubernetes); nil until given. Guarded by mu.
	kube sdk.Kubernetes
	// caller serves the guest's calls to other plugins
	// (SetPluginCaller); nil until given. Guarded by mu.
	caller sdk.PluginCaller
}

// life is the lifecycle the host has driven the plugin through. Each
// counter says how many times a method was called; an instance that has seen
// fewer calls is brought up to date before it serves.
type life struct {
	version  uint64 // bumped by every change
	validate uint64
	init     uint64
	cfg      uint64 // bumped by Initialize and OnConfigChange
	load     uint64
	unload   uint64
	clean    uint64
	kube     uint64 // bumped by SetKubernetes
	config   []byte // JSON
	contexts []byte // JSON list of the Kubernetes contexts
	stopping bool   // OnUnload or Cleanup called: crashed instances are not replaced
}

func newPlugin(ctx context.Context, r *Runtime, wasmBytes []byte, opts Options) (_ *Plugin, err error) {
	if opts.ID == "" {
		return nil, errors.New("an ID is required")
	}
	// Calls are bounded by the fuel the rewrite adds (package interrupt),
	// which also reads the module whole before wazero does; a module it
	// refuses leaves nothing behind, not even the data directory.
	wasmBytes, err = interrupt.Instrument(wasmBytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errNotAPlugin, err)
	}
	limits := opts.Limits.WithDefaults()
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("plugin_id", opts.ID, "tier", "sandboxed")
	p := &Plugin{
		id:     opts.ID,
		limits: limits,
		grants: opts.Grants,
		routes: opts.Endpoints,
		fault:  opts.Fault,
		log:    log,
		output: outputGate(opts.Output, log),
		owner:  r,
		free:   make(chan *instance, limits.PoolSize),
		queue:  make(chan struct{}, limits.QueueSize),
		wake:   make(chan struct{}, 1),
		live:   map[*instance]struct{}{},
	}
	p.grants.AllowedHosts = append([]string(nil), opts.Grants.AllowedHosts...)
	p.bufs.New = func() any { b := make([]byte, 0, 4096); return &b }
	p.client = p.guardedClient(opts.Grants.HTTPClient)
	if dir := opts.Grants.DataDir; dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("creating the data directory: %w", err)
		}
		p.fs = wazero.NewFSConfig().WithDirMount(dir, "/data")
	}
	p.ctx, p.cancel = context.WithCancel(context.WithoutCancel(ctx))

	p.cache, err = wazero.NewCompilationCacheWithDir(r.dir)
	if err != nil {
		p.cancel()
		return nil, fmt.Errorf("opening the compilation cache: %w", err)
	}
	pages := memoryPages(limits.Memory)
	cfg := wazero.NewRuntimeConfig().
		WithCompilationCache(p.cache).
		WithMemoryLimitPages(uint32(pages)).
		WithDebugInfoEnabled(false)
	p.rt = wazero.NewRuntimeWithConfig(ctx, cfg)
	defer func() {
		if err != nil {
			p.cancel()
			p.wg.Wait()
			_ = p.rt.Close(context.WithoutCancel(ctx))
			if p.mod != nil {
				_ = p.mod.Close(context.WithoutCancel(ctx))
			}
			_ = p.cache.Close(context.WithoutCancel(ctx))
		}
	}()
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, p.rt); err != nil {
		return nil, fmt.Errorf("instantiating WASI: %w", err)
	}
	if err := p.instantiateHostModule(ctx); err != nil {
		return nil, fmt.Errorf("instantiating the host module: %w", err)
	}
	p.mod, err = Compile(ctx, p.rt, wasmBytes)
	if err != nil {
		return nil, fmt.Errorf("%w: compiling: %w", errNotAPlugin, err)
	}
	if err := checkExports(p.mod); err != nil {
		return nil, fmt.Errorf("%w: %w", errNotAPlugin, err)
	}
	p.turns = hasBackground(p.mod.ExportedFunctions())
	for range limits.PoolSize {
		in, err := p.startInstance(ctx)
		if err != nil {
			return nil, err
		}
		p.mu.Lock()
		p.live[in] = struct{}{}
		p.mu.Unlock()
		p.free <- in
	}
	in := <-p.free
	err = p.envelope(in, abi.OpMetadata, nil, &p.meta)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errGuestMetadata, err)
	}
	if len(p.routes) > 0 {
		p.meta.Endpoints = p.routes
	}
	p.free <- in
	if p.turns {
		p.wg.Add(1)
		go p.schedule()
	}
	// What the load churned through goes back to the OS once loads are
	// over (Runtime.endLoad).
	return p, nil
}

// wasmPageSize is the WebAssembly page size.
const wasmPageSize = 65536

// errNotAPlugin marks a module that does not compile or lacks the guest
// adapter's exports: an artifact the tier cannot open, whatever it holds.
var errNotAPlugin = errors.New("not a sandboxed plugin")

// errGuestMetadata marks a guest whose GetMetadata failed: the plugin's own
// code failed, not the file.
var errGuestMetadata = errors.New("GetMetadata")

func checkExports(m wazero.CompiledModule) error {
	fns := m.ExportedFunctions()
	want := []struct {
		name    string
		params  []api.ValueType
		results []api.ValueType
	}{
		{abi.ExportInitialize, nil, nil},
		{abi.ExportAlloc, []api.ValueType{api.ValueTypeI32}, []api.ValueType{api.ValueTypeI32}},
		{abi.ExportCall, []api.ValueType{api.ValueTypeI32, api.ValueTypeI32, api.ValueTypeI32}, []api.ValueType{api.ValueTypeI64}},
	}
	for _, w := range want {
		f, ok := fns[w.name]
		if !ok {
			return fmt.Errorf("the module does not export %s: it is not a plugin built for the sandboxed tier (GOOS=wasip1 -buildmode=c-shared with sdk/wasmguest)", w.name)
		}
		if !slices.Equal(f.ParamTypes(), w.params) || !slices.Equal(f.ResultTypes(), w.results) {
			return fmt.Errorf("the module's %s has the wrong signature: its sdk/wasmguest does not match this host", w.name)
		}
	}
	if _, ok := m.ExportedMemories()[abi.ExportMemory]; !ok {
		return errors.New("the module does not export its memory")
	}
	return nil
}

// ID is the plugin's id, as given to Load.
func (p *Plugin) ID() string { return p.id }

// Limits are the limits in force, defaults filled in, for the host to show.
func (p *Plugin) Limits() Limits { return p.limits }

// Grants are the grants in force, for the host to show.
func (p *Plugin) Grants() Grants {
	g := p.grants
	g.AllowedHosts = append([]string(nil), g.AllowedHosts...)
	return g
}

// Close stops the plugin for good: requests waiting for an instance fail
// with ErrClosed, calls in progress (a background turn too) are
// interrupted, replacement goroutines and the turn scheduler end, and
// every instance and the compiled module are released with the plugin's
// wazero runtime. Call OnUnload and Cleanup first for an orderly unload;
// Close works without them.
func (p *Plugin) Close(ctx context.Context) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	live := make([]*instance, 0, len(p.live))
	for in := range p.live {
		live = append(live, in)
	}
	clear(p.live)
	p.mu.Unlock()
	p.cancel()
	p.wg.Wait()
	// Calls in progress end within interrupt.Fuel loop iterations of the
	// cancel; wazero must not close a module under one.
	for _, in := range live {
		in.awaitCall()
	}
	// The runtime closes the instances and host modules; the compiled module
	// lives in the cache's engine until it is closed itself.
	err := errors.Join(p.rt.Close(ctx), p.mod.Close(ctx), p.cache.Close(ctx))
	for _, in := range live {
		in.flushLogs()
	}
	// The instances' linear memory was unmapped as they closed, but wazero
	// unmaps compiled code (about 150 MiB for a gin plugin) only in a
	// finalizer, once nothing reaches it, which includes a closed wazero
	// runtime or cache. The host keeps the Plugin itself for a while (its
	// handlers are in routers, and its caller is on the stack), so the
	// Plugin lets go of everything wazero's, and a collection runs the
	// finalizer now rather than when the heap next doubles or at the Go
	// runtime's two-minute forced collection (BenchmarkRSS, closed-MiB).
	p.rt, p.mod, p.cache = nil, nil, nil
	for drained := false; !drained; {
		select {
		case <-p.free:
		default:
			drained = true
		}
	}
	runtime.GC()
	debug.FreeOSMemory()
	if p.owner != nil {
		p.owner.forget(p)
	}
	return err
}

// acquire takes an idle instance. With queued, the caller counts against
// QueueSize while it waits and fails at once with ErrBusy when the queue is
// full; lifecycle calls wait outside the queue.
func (p *Plugin) acquire(ctx context.Context, queued bool) (*instance, error) {
	if p.ctx.Err() != nil {
		return nil, fmt.Errorf("plugin %s: %w", p.id, ErrClosed)
	}
	select {
	case in := <-p.free:
		return in, nil
	default:
	}
	if queued {
		select {
		case p.queue <- struct{}{}:
			defer func() { <-p.queue }()
		default:
			return nil, fmt.Errorf("plugin %s: %w: all %d instances are busy and %d requests are waiting", p.id, ErrBusy, p.limits.PoolSize, p.limits.QueueSize)
		}
	}
	select {
	case in := <-p.free:
		return in, nil
	case <-p.ctx.Done():
		return nil, fmt.Errorf("plugin %s: %w", p.id, ErrClosed)
	case <-ctx.Done():
		return nil, fmt.Errorf("plugin %s: %w: no instance became free: %w", p.id, ErrBusy, ctx.Err())
	}
}

// release returns a healthy instance to the pool and, when its last call
// left background work, tells the scheduler.
func (p *Plugin) release(in *instance) { p.put(in, true) }

// put returns a healthy instance to the pool; with wake, an instance with
// background work wakes the scheduler. The scheduler itself puts back
// without waking.
func (p *Plugin) put(in *instance, wake bool) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		in.close()
		return
	}
	p.mu.Unlock()
	// Read before the instance is shared again: its next holder's call
	// writes it.
	wake = wake && in.background
	p.free <- in
	if wake {
		select {
		case p.wake <- struct{}{}:
		default: // a wake-up is pending already
		}
	}
}

// lost forgets a pool instance that failed (timed out, crashed, or answered
// nonsense; it is closed by then) and starts its replacement in the
// background unless the plugin is closing or unloading.
func (p *Plugin) lost(in *instance, cause error) {
	in.close()
	p.mu.Lock()
	delete(p.live, in)
	replace := !p.closed && !p.life.stopping
	if replace {
		p.wg.Add(1)
	}
	p.mu.Unlock()
	p.log.Warn("sandboxed instance discarded", "instance", in.n, "replaced", replace, "err", cause)
	if replace && p.fault != nil && cause != nil && !errors.Is(cause, ErrClosed) {
		p.fault(cause)
	}
	if replace {
		go p.replace()
	}
}

// replace starts an instance, brings it up to date and adds it to the pool,
// retrying with backoff until it succeeds or the plugin closes or unloads.
func (p *Plugin) replace() {
	defer p.wg.Done()
	Retry(p.ctx, p.log, "sandboxed instance failed to start; retrying", func() error {
		in, err := p.startInstance(p.ctx)
		if err == nil {
			err = p.admit(in)
			if err == nil {
				return nil
			}
		}
		if p.ctx.Err() != nil || errors.Is(err, errStopping) {
			return nil
		}
		return err
	})
}

var errStopping = errors.New("plugin is unloading")

// admit brings a fresh instance up to date and adds it to the pool. A
// lifecycle change racing with the start is caught by checking the version
// under the lock and catching up again.
func (p *Plugin) admit(in *instance) error {
	for {
		if err := p.catchUp(in); err != nil {
			in.close()
			return err
		}
		p.mu.Lock()
		if p.closed || p.life.stopping {
			p.mu.Unlock()
			in.close()
			return errStopping
		}
		if in.version.Load() >= p.life.version {
			p.live[in] = struct{}{}
			p.mu.Unlock()
			p.put(in, true)
			return nil
		}
		p.mu.Unlock()
	}
}

// catchUp runs on in, which the caller holds, every lifecycle method the
// host called that in has not seen, in lifecycle order. It returns the first
// error, and stops early when the instance dies (in.dead).
func (p *Plugin) catchUp(in *instance) error {
	p.mu.Lock()
	l := p.life
	p.mu.Unlock()
	var first error
	if in.kube < l.kube {
		in.kube = l.kube
		// A guest built before OpKubernetes refuses it; it did not ask for
		// Kubernetes, so it still starts.
		if err := p.envelope(in, abi.OpKubernetes, l.contexts, nil); err != nil {
			p.log.Warn("the guest did not take its Kubernetes access", "instance", in.n, "err", err)
		}
		if in.dead {
			return fmt.Errorf("SetKubernetes: plugin %s: %w", p.id, ErrCrashed)
		}
	}
	step := func(op uint32, name string, input []byte) bool {
		err := p.envelope(in, op, input, nil)
		if err != nil {
			err = fmt.Errorf("%s: %w", name, err)
			if first == nil {
				first = err
			}
		}
		return !in.dead
	}
	if in.validate < l.validate {
		in.validate = l.validate
		if !step(abi.OpValidate, "Validate", nil) {
			return first
		}
	}
	if in.init < l.init {
		in.init, in.cfg = l.init, l.cfg
		if !step(abi.OpInitialize, "Initialize", l.config) {
			return first
		}
	} else if in.cfg < l.cfg {
		in.cfg = l.cfg
		if !step(abi.OpConfigChange, "OnConfigChange", l.config) {
			return first
		}
	}
	if in.load < l.load {
		in.load = l.load
		if !step(abi.OpOnLoad, "OnLoad", nil) {
			return first
		}
	}
	if in.unload < l.unload {
		in.unload = l.unload
		if !step(abi.OpOnUnload, "OnUnload", nil) {
			return first
		}
	}
	if in.clean < l.clean {
		in.clean = l.clean
		if !step(abi.OpCleanup, "Cleanup", nil) {
			return first
		}
	}
	in.version.Store(l.version)
	return first
}

// broadcast records a lifecycle call and runs it on every instance, holding
// each one it has brought up to date so that none is visited twice, until
// no live instance is behind.
func (p *Plugin) broadcast(change func(*life)) error {
	p.cycle.Lock()
	defer p.cycle.Unlock()
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return fmt.Errorf("plugin %s: %w", p.id, ErrClosed)
	}
	change(&p.life)
	p.life.version++
	target := p.life.version
	p.mu.Unlock()

	ctx, cancel := context.WithTimeout(p.ctx, max(lifecycleWait, 2*p.limits.Timeout))
	defer cancel()
	held := map[*instance]bool{}
	defer func() {
		for in := range held {
			p.release(in)
		}
	}()
	var first error
	for {
		p.mu.Lock()
		behind := 0
		for in := range p.live {
			if !held[in] && in.version.Load() < target {
				behind++
			}
		}
		p.mu.Unlock()
		if behind == 0 {
			return first
		}
		in, err := p.acquire(ctx, false)
		if err != nil {
			return errors.Join(first, err)
		}
		if in.version.Load() < target {
			if err := p.catchUp(in); err != nil && first == nil {
				first = err
			}
		}
		if in.dead {
			p.lost(in, first)
			continue
		}
		held[in] = true
	}
}

// one runs an operation on one instance.
func (p *Plugin) one(op uint32, out any) error {
	ctx, cancel := context.WithTimeout(p.ctx, p.limits.Timeout)
	defer cancel()
	in, err := p.acquire(ctx, false)
	if err != nil {
		return err
	}
	err = p.envelope(in, op, nil, out)
	if in.dead {
		p.lost(in, err)
	} else {
		p.release(in)
	}
	return err
}

// guestError is an error the plugin itself returned.
type guestError struct{ msg string }

func (e *guestError) Error() string { return e.msg }

// envelope calls op on in and decodes the JSON envelope's data into out. An
// instance that fails is closed (in.dead); the caller decides whether it
// is lost from the pool.
func (p *Plugin) envelope(in *instance, op uint32, input []byte, out any) error {
	res, err := in.invoke(p.ctx, op, input)
	if err != nil {
		return err
	}
	var env abi.Result
	if err := json.Unmarshal(res, &env); err != nil {
		in.close()
		return fmt.Errorf("plugin %s: %w: malformed result of %s: %v", p.id, ErrCrashed, opName(op), err)
	}
	if !env.OK {
		return &guestError{msg: env.Error}
	}
	if out != nil && len(env.Data) > 0 {
		if err := json.Unmarshal(env.Data, out); err != nil {
			return fmt.Errorf("plugin %s: decoding the result of %s: %w", p.id, opName(op), err)
		}
	}
	return nil
}

var _ sdk.KubernetesUser = (*Plugin)(nil)

// SetKubernetes implements sdk.KubernetesUser: the host's requests to
// sdk.KubernetesHost are served through k, and every instance's plugin
// receives an sdk.Kubernetes over k's contexts before its next lifecycle
// call.
func (p *Plugin) SetKubernetes(k sdk.Kubernetes) {
	var contexts []string
	if k != nil {
		contexts = k.Contexts()
	}
	b, _ := json.Marshal(contexts) // a []string always encodes
	err := p.broadcast(func(l *life) {
		p.kube = k
		l.kube++
		l.contexts = b
	})
	if err != nil {
		p.log.Warn("SetKubernetes", "err", err)
	}
}

// kubernetes is the Kubernetes access in force, or nil.
func (p *Plugin) kubernetes() sdk.Kubernetes {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.kube
}

// The sdk.KubestellarPlugin methods.

// GetMetadata returns the metadata read once at Load.
func (p *Plugin) GetMetadata() sdk.PluginMetadata { return p.meta }

// Validate runs the plugin's Validate on every instance.
func (p *Plugin) Validate() error {
	return p.broadcast(func(l *life) { l.validate++ })
}

// Initialize runs the plugin's Initialize on every instance and keeps config
// for instances started later.
func (p *Plugin) Initialize(config map[string]interface{}) error {
	b, err := json.Marshal(config)
	if err != nil {
		return fmt.Errorf("encoding the configuration: %w", err)
	}
	return p.broadcast(func(l *life) { l.init++; l.cfg++; l.config = b })
}

// OnLoad runs the plugin's OnLoad on every instance.
func (p *Plugin) OnLoad() error {
	return p.broadcast(func(l *life) { l.load++ })
}

// OnConfigChange runs the plugin's OnConfigChange on every instance and
// keeps config for instances started later.
func (p *Plugin) OnConfigChange(config map[string]interface{}) error {
	b, err := json.Marshal(config)
	if err != nil {
		return fmt.Errorf("encoding the configuration: %w", err)
	}
	return p.broadcast(func(l *life) { l.cfg++; l.config = b })
}

// OnUnload runs the plugin's OnUnload on every instance; from then on a
// crashed instance is not replaced.
func (p *Plugin) OnUnload() error {
	return p.broadcast(func(l *life) { l.unload++; l.stopping = true })
}

// Cleanup runs the plugin's Cleanup on every instance. It does not free the
// instances: Close does.
func (p *Plugin) Cleanup() error {
	return p.broadcast(func(l *life) { l.clean++; l.stopping = true })
}

// Health asks one instance; a busy pool, a timeout or a crash is unhealthy.
func (p *Plugin) Health() error { return p.one(abi.OpHealth, nil) }

// GetStatus asks one instance; when it cannot answer, the status says why.
func (p *Plugin) GetStatus() sdk.PluginStatus {
	var s sdk.PluginStatus
	if err := p.one(abi.OpStatus, &s); err != nil {
		return sdk.PluginStatus{
			State:     sdk.StateError,
			Health:    sdk.HealthUnknown,
			LastCheck: time.Now().UTC().Format(time.RFC3339),
			Errors:    []sdk.PluginError{p.HandleError(err)},
		}
	}
	return s
}

// GetMetrics asks one instance; it is empty when the instance cannot answer.
func (p *Plugin) GetMetrics() map[string]interface{} {
	m := map[string]interface{}{}
	if err := p.one(abi.OpMetrics, &m); err != nil {
		p.log.Warn("GetMetrics failed", "err", err)
		return map[string]interface{}{}
	}
	return m
}

// GetPermissions asks one instance; it is nil when the instance cannot answer.
func (p *Plugin) GetPermissions() []string {
	var perms []string
	if err := p.one(abi.OpPermissions, &perms); err != nil {
		p.log.Warn("GetPermissions failed", "err", err)
		return nil
	}
	return perms
}

// HandleError is answered by the host (see PluginError).
func (p *Plugin) HandleError(err error) sdk.PluginError {
	return PluginError(p.id, apiv1.TierSandboxed, err)
}

// ValidateRequest accepts: the guest runs the plugin's own ValidateRequest
// on the request it receives, where the plugin's state is.
func (p *Plugin) ValidateRequest(*gin.Context) error { return nil }

// GetHandlers maps every endpoint's handler name to the function that
// forwards a request to the sandbox; the guest routes it to the plugin's
// handler by method and path.
func (p *Plugin) GetHandlers() map[string]gin.HandlerFunc {
	return Handlers(p.meta.Endpoints, p.serveHTTP)
}
