package httpwasm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
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
	"github.com/kubestellar/ksplugins/internal/runtime/wasm"
	"github.com/kubestellar/ksplugins/internal/runtime/wasm/interrupt"
	"github.com/kubestellar/ksplugins/sdk"
)

// The guest's exports this tier calls.
const (
	exportHandleRequest  = "handle_request"
	exportHandleResponse = "handle_response"
	exportInitialize     = "_initialize" // a reactor's start, as Go's c-shared builds have
)

// startTimeout bounds instantiating one instance, the guest's start
// function included.
const startTimeout = 10 * time.Second

// errNotAModule marks a module that does not compile or whose exports do
// not have the interface's signatures.
var errNotAModule = errors.New("not an http-wasm module")

// Options say what one plugin is and may use.
type Options struct {
	// ID names the plugin in logs and errors.
	ID string
	// Meta is the plugin's manifest: its endpoints are routed to the guest.
	Meta sdk.PluginMetadata
	// Limits bound the plugin's instances, as the sandboxed tier's do;
	// zero fields take wasm.DefaultLimits'.
	Limits wasm.Limits
	// Logger receives the guest's log calls and the runtime's reports, with
	// plugin_id. Nil means slog.Default().
	Logger *slog.Logger
	// Output bounds what of the guest's log calls reaches Logger; nil gives
	// the plugin a gate of its own.
	Output *pluginlog.Gate
	// Fault, when set, is told of each instance discarded and replaced
	// because a call into it hung or trapped. It must not block.
	Fault func(cause error)
}

// Plugin is a loaded http-wasm module. It presents the guest to the host
// as an sdk.KubestellarPlugin whose every endpoint is served by
// handle_request; it is safe for concurrent use.
type Plugin struct {
	id      string
	meta    sdk.PluginMetadata
	limits  wasm.Limits
	log     *slog.Logger
	output  *pluginlog.Gate
	fault   func(error)
	release func() // gives back the memory budget; nil: none held

	rt  wazero.Runtime
	mod wazero.CompiledModule

	ctx    context.Context // canceled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // replacements
	// calls is held for reading by every call into a guest, so that Close
	// can wait for those in progress, which its cancel ends within a
	// loop's fuel: wazero must not close a module under a call.
	calls sync.RWMutex

	free  chan *instance
	queue chan struct{}

	config atomic.Pointer[[]byte] // the plugin's configuration, JSON

	mu       sync.Mutex
	closed   bool
	stopping bool // OnUnload or Cleanup called: lost instances are not replaced
	live     map[*instance]struct{}

	requests, timeouts, crashes atomic.Int64
	started                     time.Time
}

// instance is one instantiation of the module, used by one call at a time.
type instance struct {
	mod            api.Module
	handleRequest  api.Function
	handleResponse api.Function
	callCtx        context.Context // the call in progress, for the yield check
	closeOnce      sync.Once
	// stdout and stderr log what a guest that imports WASI writes.
	stdout, stderr *pluginlog.Writer
}

// Load compiles the module and starts Limits.PoolSize instances of it, so
// that a module that cannot start fails here rather than on its first
// request.
func Load(ctx context.Context, code []byte, opts Options) (_ *Plugin, err error) {
	if opts.ID == "" {
		return nil, errors.New("an ID is required")
	}
	limits := opts.Limits.WithDefaults()
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("plugin_id", opts.ID, "tier", string(apiv1.TierHTTPWasm))
	p := &Plugin{
		id: opts.ID, meta: opts.Meta, limits: limits, log: log, fault: opts.Fault,
		output:  opts.Output,
		free:    make(chan *instance, limits.PoolSize),
		queue:   make(chan struct{}, limits.QueueSize),
		live:    map[*instance]struct{}{},
		started: time.Now(),
	}
	if p.output == nil {
		p.output = pluginlog.NewGate(pluginlog.DefaultLimits(), nil)
	}
	// Guests commonly read their configuration in their start function,
	// before the host's Initialize: they get the manifest's.
	if err := p.setConfig(opts.Meta.Configuration); err != nil {
		return nil, fmt.Errorf("load %s: %w", opts.ID, err)
	}
	// Calls are bounded by the fuel the rewrite adds, as the sandboxed
	// tier's are; a guest that does not import sched_yield, through
	// which the fuel yields, gets the import.
	code, err = interrupt.InstrumentAddingYield(code)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w: %w", opts.ID, errNotAModule, err)
	}
	p.ctx, p.cancel = context.WithCancel(context.WithoutCancel(ctx))
	pages := max(1, min(limits.Memory/65536, 65536))
	p.rt = wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().
		WithMemoryLimitPages(uint32(pages)).
		WithDebugInfoEnabled(false))
	defer func() {
		if err != nil {
			p.cancel()
			_ = p.rt.Close(context.WithoutCancel(ctx))
		}
	}()
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, p.rt); err != nil {
		return nil, fmt.Errorf("load %s: instantiating WASI: %w", opts.ID, err)
	}
	if err := p.instantiateHost(ctx); err != nil {
		return nil, fmt.Errorf("load %s: instantiating %s: %w", opts.ID, hostModule, err)
	}
	p.mod, err = wasm.Compile(ctx, p.rt, code)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w: compiling: %w", opts.ID, errNotAModule, err)
	}
	if err := checkSignatures(p.mod); err != nil {
		return nil, fmt.Errorf("load %s: %w: %w", opts.ID, errNotAModule, err)
	}
	for range limits.PoolSize {
		in, err := p.start(ctx)
		if err != nil {
			return nil, fmt.Errorf("load %s: %w", opts.ID, err)
		}
		p.live[in] = struct{}{}
		p.free <- in
	}
	return p, nil
}

// checkSignatures holds the guest's exports to the interface's types.
func checkSignatures(m wazero.CompiledModule) error {
	i32, i64 := api.ValueTypeI32, api.ValueTypeI64
	want := map[string][2][]api.ValueType{
		exportHandleRequest:  {nil, {i64}},
		exportHandleResponse: {{i32, i32}, nil},
	}
	fns := m.ExportedFunctions()
	for name, sig := range want {
		f, ok := fns[name]
		if !ok {
			return fmt.Errorf("the module does not export %s", name)
		}
		if !slices.Equal(f.ParamTypes(), sig[0]) || !slices.Equal(f.ResultTypes(), sig[1]) {
			return fmt.Errorf("the module's %s has the type (%v) -> (%v), not (%v) -> (%v)",
				name, f.ParamTypes(), f.ResultTypes(), sig[0], sig[1])
		}
	}
	if _, ok := m.ExportedMemories()["memory"]; !ok {
		return errors.New("the module does not export its memory")
	}
	return nil
}

// start instantiates the module once.
func (p *Plugin) start(ctx context.Context) (*instance, error) {
	in := &instance{stdout: p.output.Writer(p.log, "stdout", nil), stderr: p.output.Writer(p.log, "stderr", nil)}
	// The guest has no file system, environment or arguments; what it
	// writes to standard output and error is logged.
	cfg := wazero.NewModuleConfig().WithName("").WithStartFunctions().
		WithStdout(in.stdout).WithStderr(in.stderr).
		WithOsyield(func() { interrupt.Check(in.callCtx) })
	if _, ok := p.mod.ExportedFunctions()[exportInitialize]; ok {
		cfg = cfg.WithStartFunctions(exportInitialize)
	}
	sctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	in.callCtx = sctx
	mod, err := p.rt.InstantiateModule(sctx, p.mod, cfg)
	in.callCtx = nil
	if err != nil {
		return nil, fmt.Errorf("starting an instance: %w", err)
	}
	in.mod = mod
	in.handleRequest = mod.ExportedFunction(exportHandleRequest)
	in.handleResponse = mod.ExportedFunction(exportHandleResponse)
	return in, nil
}

func (in *instance) close() {
	in.closeOnce.Do(func() {
		_ = in.mod.Close(context.Background())
		in.stdout.Flush()
		in.stderr.Flush()
	})
}

// acquire takes an idle instance, waiting in the bounded queue.
func (p *Plugin) acquire(ctx context.Context) (*instance, error) {
	if p.ctx.Err() != nil {
		return nil, fmt.Errorf("plugin %s: %w", p.id, wasm.ErrClosed)
	}
	select {
	case in := <-p.free:
		return in, nil
	default:
	}
	select {
	case p.queue <- struct{}{}:
		defer func() { <-p.queue }()
	default:
		return nil, fmt.Errorf("plugin %s: %w: all %d instances are busy and %d requests are waiting", p.id, wasm.ErrBusy, p.limits.PoolSize, p.limits.QueueSize)
	}
	select {
	case in := <-p.free:
		return in, nil
	case <-p.ctx.Done():
		return nil, fmt.Errorf("plugin %s: %w", p.id, wasm.ErrClosed)
	case <-ctx.Done():
		return nil, fmt.Errorf("plugin %s: %w: no instance became free: %w", p.id, wasm.ErrBusy, ctx.Err())
	}
}

// put returns a healthy instance to the pool.
func (p *Plugin) put(in *instance) {
	p.mu.Lock()
	closed := p.closed
	p.mu.Unlock()
	if closed {
		in.close()
		return
	}
	p.free <- in
}

// lost discards an instance whose call failed and starts its replacement,
// unless the plugin is closing or unloading.
func (p *Plugin) lost(in *instance, cause error) {
	in.close()
	p.mu.Lock()
	delete(p.live, in)
	replace := !p.closed && !p.stopping
	if replace {
		p.wg.Add(1)
	}
	p.mu.Unlock()
	p.log.Warn("http-wasm instance discarded", "replaced", replace, "err", cause)
	if !replace {
		return
	}
	if p.fault != nil {
		p.fault(cause)
	}
	go p.replace()
}

// replace starts an instance and adds it to the pool, retrying with
// backoff until it succeeds or the plugin closes.
func (p *Plugin) replace() {
	defer p.wg.Done()
	wasm.Retry(p.ctx, p.log, "http-wasm instance failed to start; retrying", func() error {
		in, err := p.start(p.ctx)
		if err != nil {
			return err
		}
		p.mu.Lock()
		if p.closed || p.stopping {
			p.mu.Unlock()
			in.close()
			return nil
		}
		p.live[in] = struct{}{}
		p.mu.Unlock()
		p.put(in)
		return nil
	})
}

// Close stops the plugin: waiting requests fail, calls in progress are
// interrupted, and the instances and compiled code are released with the
// plugin's wazero runtime and its share of the memory budget.
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
	p.mu.Unlock()
	p.cancel()
	p.wg.Wait()
	p.calls.Lock()
	defer p.calls.Unlock()
	err := p.rt.Close(ctx)
	for _, in := range live {
		in.stdout.Flush()
		in.stderr.Flush()
	}
	if p.release != nil {
		p.release()
	}
	return err
}

// Plugin is p itself.
func (p *Plugin) Plugin() sdk.KubestellarPlugin { return p }

// Describe reports the limits p runs with; the tier grants nothing.
func (p *Plugin) Describe() *apiv1.Sandbox {
	return &apiv1.Sandbox{Limits: p.limits.SandboxLimits()}
}

// The sdk.KubestellarPlugin methods. The http-wasm interface has no
// lifecycle beyond the module's start, so these are answered by the host.

// GetMetadata is the plugin's manifest.
func (p *Plugin) GetMetadata() sdk.PluginMetadata { return p.meta }

// Validate accepts: the module was checked at Load.
func (p *Plugin) Validate() error { return nil }

// Initialize keeps config, which the guest reads with get_config.
func (p *Plugin) Initialize(config map[string]interface{}) error { return p.setConfig(config) }

// OnConfigChange keeps config for the guest's next get_config.
func (p *Plugin) OnConfigChange(config map[string]interface{}) error { return p.setConfig(config) }

func (p *Plugin) setConfig(config map[string]interface{}) error {
	b, err := json.Marshal(config)
	if err != nil {
		return fmt.Errorf("encoding the configuration: %w", err)
	}
	p.config.Store(&b)
	return nil
}

// OnLoad accepts.
func (p *Plugin) OnLoad() error { return nil }

// OnUnload stops replacing instances that fail.
func (p *Plugin) OnUnload() error {
	p.mu.Lock()
	p.stopping = true
	p.mu.Unlock()
	return nil
}

// Cleanup accepts: Close frees the instances.
func (p *Plugin) Cleanup() error { return nil }

// Health fails once no instance is left to serve.
func (p *Plugin) Health() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return fmt.Errorf("plugin %s: %w", p.id, wasm.ErrClosed)
	}
	return nil
}

// GetStatus reports the requests served.
func (p *Plugin) GetStatus() sdk.PluginStatus {
	s := sdk.PluginStatus{State: sdk.StateLoaded, Health: sdk.HealthHealthy, LastCheck: time.Now().UTC().Format(time.RFC3339),
		Uptime: time.Since(p.started).Round(time.Second).String(), RequestCount: p.requests.Load()}
	if err := p.Health(); err != nil {
		s.Health, s.Errors = sdk.HealthUnhealthy, []sdk.PluginError{p.HandleError(err)}
	}
	return s
}

// GetMetrics counts requests, and the instances lost to timeouts and
// traps.
func (p *Plugin) GetMetrics() map[string]interface{} {
	return map[string]interface{}{"requests": p.requests.Load(), "timeouts": p.timeouts.Load(), "crashes": p.crashes.Load()}
}

// GetPermissions are the manifest's.
func (p *Plugin) GetPermissions() []string { return append([]string(nil), p.meta.Permissions...) }

// HandleError is answered by the host (see wasm.PluginError).
func (p *Plugin) HandleError(err error) sdk.PluginError {
	return wasm.PluginError(p.id, apiv1.TierHTTPWasm, err)
}

// ValidateRequest accepts: the guest sees every request.
func (p *Plugin) ValidateRequest(*gin.Context) error { return nil }

// GetHandlers maps every endpoint's handler name to the guest.
func (p *Plugin) GetHandlers() map[string]gin.HandlerFunc {
	return wasm.Handlers(p.meta.Endpoints, p.serveHTTP)
}
