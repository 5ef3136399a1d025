// Package wasm runs plugins in the sandboxed tier: the plugin's source built
// with GOOS=wasip1 GOARCH=wasm -buildmode=c-shared (with the generated file
// that hands NewPlugin to package sdk/wasmguest) and executed by wazero.
//
// What the sandbox guarantees, and why it is built this way:
//
//   - Memory: every instance has its own linear memory, capped by
//     Limits.Memory. A guest that passes it fails to grow, the Go runtime
//     inside aborts, and the instance is replaced; the host is untouched.
//     The memory is mapped outside the Go heap (linear.go), so a busy
//     instance costs the host its limit, not a multiple of it, and the
//     runtime's budget (SetMemoryBudget) bounds the sum of every
//     instance's limit.
//   - Time: every call into the guest carries a deadline (Limits.Timeout).
//     wazero's compiler inserts termination checks, so even a tight loop is
//     stopped; the instance is then discarded and replaced in the background.
//   - Concurrency: an instance is single-threaded, so a Plugin keeps a pool of
//     Limits.PoolSize instances and a bounded queue (Limits.QueueSize) of
//     requests waiting for one. A request that cannot even queue fails at
//     once with ErrBusy (503), rather than piling up goroutines.
//   - Background work: goroutines a call leaves running in the guest run
//     in turns of bounded length while the instance is idle (background.go),
//     each turn a call under the same deadline.
//   - Reach: no environment, no arguments, no file system unless
//     Grants.DataDir (mounted at /data), no network unless Grants.Network,
//     and then only to Grants.AllowedHosts, through the host's HTTP client.
//   - Unload: Plugin.Close closes every instance and the plugin's wazero
//     runtime, so its memory and compiled code are returned to the OS,
//     unlike a native plugin, which Go can never unload.
//
// Compiled code is cached on disk by the Runtime (wazero's compilation cache,
// keyed by the module's digest and wazero's version), so a second load of
// the same module skips the compiler.
package wasm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"runtime/debug"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"

	"github.com/kubestellar/ksplugins/internal/pluginlog"
	"github.com/kubestellar/ksplugins/sdk"
)

// Errors a caller can tell apart with errors.Is. Each is wrapped with the
// plugin's id and what was being done.
var (
	// ErrBusy means every instance was busy and the wait queue was full, or
	// no instance became free in time: the host answers 503 and the caller
	// may retry.
	ErrBusy = errors.New("sandbox busy")
	// ErrTimeout means the guest did not return within Limits.Timeout; the
	// instance was discarded and is being replaced.
	ErrTimeout = errors.New("plugin timed out")
	// ErrCrashed means the guest trapped, panicked, exited or ran out of
	// memory; the instance was discarded and is being replaced.
	ErrCrashed = errors.New("plugin crashed")
	// ErrClosed means the plugin (or its runtime) was closed.
	ErrClosed = errors.New("plugin closed")
	// ErrMemoryBudget means a load was refused because its instances'
	// maximum memory would take the runtime past its memory budget; the
	// error is a *BudgetError.
	ErrMemoryBudget = errors.New("sandbox memory budget exceeded")
)

// BudgetError is a load refused by the runtime's memory budget (see
// Runtime.SetMemoryBudget). errors.Is(err, ErrMemoryBudget) is true.
type BudgetError struct {
	// ID is the plugin refused.
	ID string
	// Instances and Memory are its pool size and its limit per instance,
	// in bytes: it needs Instances × Memory.
	Instances int
	Memory    int64
	// Reserved is what loaded plugins hold, and Budget the most they may,
	// in bytes.
	Reserved, Budget int64
}

// Error says what was needed and what was left, in MiB.
func (e *BudgetError) Error() string {
	const mib = 1 << 20
	return fmt.Sprintf("%s needs %d MiB for %d instance(s) of %d MiB, but loaded sandboxed plugins reserve %d MiB of the %d MiB budget (%d MiB free)",
		e.ID, int64(e.Instances)*e.Memory/mib, e.Instances, e.Memory/mib, e.Reserved/mib, e.Budget/mib, max(0, e.Budget-e.Reserved)/mib)
}

// Is makes errors.Is(err, ErrMemoryBudget) true.
func (e *BudgetError) Is(target error) bool { return target == ErrMemoryBudget }

// Runtime owns what sandboxed plugins share: the on-disk compilation cache.
//
// Each loaded Plugin gets its own wazero runtime, because the memory limit is
// a property of a wazero runtime and limits are per plugin, and its own
// in-memory compilation cache over the shared directory. Sharing one
// in-memory cache would let two loads of identical bytes share compiled code,
// but wazero v1.12's cache keeps a stale reference to a deleted module in
// its sorted list of modules, so an unloaded plugin's code and memory could
// stay reachable until the cache itself is closed; a cache per plugin is
// closed with the plugin and unload is then complete.
//
// The runtime also keeps the host's memory budget: the sum of the maximum
// memory of every instance of every loaded plugin may not pass it (see
// SetMemoryBudget).
type Runtime struct {
	dir string

	mu       sync.Mutex
	closed   bool
	plugins  map[*Plugin]struct{}
	budget   int64 // bytes; 0: none
	reserved int64 // bytes held by loaded plugins and loads in progress
	loading  int   // loads in progress
	// settle calls giveBack (debug.FreeOSMemory) once settleAfter
	// (settleDelay) has passed without a load; nil until the first load.
	settle      *time.Timer
	settleAfter time.Duration
	giveBack    func()
}

// settleDelay is how long after the last load the runtime waits before it
// gives the heap the loads churned through back to the OS. A load reads,
// rewrites and decodes its module (several times the module's size on the
// heap; hundreds of MiB when the cache misses and wazero compiles), which
// the Go runtime would otherwise keep resident long after. Giving it back
// costs a full collection, and a restart loads every sandboxed plugin in
// a row: once after the last of them, not after each, took 0.2-0.5 s of
// CPU off a restart with ten (docs/performance.md, "A restart"). The gaps
// between the loads of a restart are tens of milliseconds.
const settleDelay = time.Second

// NewRuntime returns a runtime whose compiled modules are cached under
// cacheDir (created 0o700 if missing), so a restart or a reload of an
// unchanged plugin costs a file read rather than a compilation.
func NewRuntime(ctx context.Context, cacheDir string) (*Runtime, error) {
	if cacheDir == "" {
		return nil, errors.New("wasm: a compilation cache directory is required")
	}
	if err := os.MkdirAll(cacheDir, 0o700); err != nil {
		return nil, fmt.Errorf("wasm: creating the compilation cache: %w", err)
	}
	// Opening a cache checks that the directory is usable (wazero keeps a
	// subdirectory per wazero version and platform in it).
	cache, err := wazero.NewCompilationCacheWithDir(cacheDir)
	if err != nil {
		return nil, fmt.Errorf("wasm: opening the compilation cache: %w", err)
	}
	if err := cache.Close(ctx); err != nil {
		return nil, fmt.Errorf("wasm: opening the compilation cache: %w", err)
	}
	return &Runtime{dir: cacheDir, plugins: map[*Plugin]struct{}{}, settleAfter: settleDelay, giveBack: debug.FreeOSMemory}, nil
}

// Close closes every plugin still loaded. The files of the on-disk cache
// stay for the next Runtime.
func (r *Runtime) Close(ctx context.Context) error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	if r.settle != nil {
		r.settle.Stop()
	}
	plugins := make([]*Plugin, 0, len(r.plugins))
	for p := range r.plugins {
		plugins = append(plugins, p)
	}
	r.mu.Unlock()
	var errs []error
	for _, p := range plugins {
		errs = append(errs, p.Close(ctx))
	}
	return errors.Join(errs...)
}

// forget drops a closed plugin and gives back its memory reservation.
func (r *Runtime) forget(p *Plugin) {
	r.mu.Lock()
	if _, ok := r.plugins[p]; ok {
		delete(r.plugins, p)
		r.reserved -= p.reserved
	}
	r.mu.Unlock()
}

// SetMemoryBudget sets the most memory, in bytes, that the instances of all
// loaded plugins may have together: each plugin holds PoolSize × Memory of
// it (its instances' maximum, which they may all reach at once) from Load
// to Close, and a Load that would pass the budget is refused with a
// *BudgetError. Zero or less means no budget. Lowering the budget below
// what is held closes nothing; it refuses loads until enough plugins close.
//
// A plugin whose instance crashes keeps its reservation: the replacement
// starts after the failed instance's memory is released, so a plugin never
// has more than PoolSize instances.
func (r *Runtime) SetMemoryBudget(bytes int64) {
	r.mu.Lock()
	r.budget = max(0, bytes)
	r.mu.Unlock()
}

// Memory reports the bytes held by loaded plugins (and loads in progress)
// and the budget (0: none).
func (r *Runtime) Memory() (reserved, budget int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reserved, r.budget
}

// reserve holds the maximum memory of a plugin's instances, or refuses.
// It refuses at once rather than waiting: what it waits for is an unload,
// which only an operator decides, so a wait would hold the load's caller
// with no prospect of success.
func (r *Runtime) reserve(id string, limits Limits) (int64, error) {
	need := int64(limits.PoolSize) * instanceMemory(limits)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return 0, ErrClosed
	}
	if r.budget > 0 && r.reserved+need > r.budget {
		return 0, &BudgetError{ID: id, Instances: limits.PoolSize, Memory: instanceMemory(limits), Reserved: r.reserved, Budget: r.budget}
	}
	r.reserved += need
	return need, nil
}

// startLoad counts a load in progress and holds off the heap's return
// until it ends.
func (r *Runtime) startLoad() {
	r.mu.Lock()
	r.loading++
	if r.settle != nil {
		r.settle.Stop()
	}
	r.mu.Unlock()
}

// endLoad counts a load finished, successful or not; after the last one
// in progress the heap goes back to the OS settleDelay later, unless
// another load starts first.
func (r *Runtime) endLoad() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.loading--
	if r.loading > 0 || r.closed {
		return
	}
	if r.settle == nil {
		r.settle = time.AfterFunc(r.settleAfter, r.giveBack)
		return
	}
	r.settle.Reset(r.settleAfter)
}

// unreserve gives back a reservation whose load failed.
func (r *Runtime) unreserve(n int64) {
	r.mu.Lock()
	r.reserved -= n
	r.mu.Unlock()
}

// instanceMemory is the most linear memory one instance may have: the
// limit in whole pages, as the wazero runtime is configured.
func instanceMemory(l Limits) int64 {
	return memoryPages(l.Memory) * wasmPageSize
}

// memoryPages is the Memory limit in WebAssembly pages: rounded down, at
// least one, at most the 4 GiB a 32-bit memory can address.
func memoryPages(memory int64) int64 {
	return max(1, min(memory/wasmPageSize, 65536))
}

// Options say what one plugin may use.
type Options struct {
	// ID names the plugin in logs and errors.
	ID string
	// Limits bound the plugin's instances; zero fields take DefaultLimits'.
	Limits Limits
	// Grants are what the operator allowed the plugin to reach.
	Grants Grants
	// Endpoints, when set, are what the host routes by (a plugin folder's
	// plugin.yaml); they replace those of the plugin's GetMetadata, on
	// both sides of the boundary.
	Endpoints []sdk.EndpointConfig
	// Logger receives the plugin's standard output and error, a line at a
	// time, and the runtime's own reports about the plugin, all with
	// plugin_id. Nil means slog.Default().
	Logger *slog.Logger
	// Output bounds what of the plugin's output (standard output and
	// error, and the error messages it returns) reaches Logger. The host
	// keeps one per plugin id, so its limits and counters outlive reloads.
	// Nil gives the plugin a gate of its own with pluginlog.DefaultLimits.
	Output *pluginlog.Gate
	// Fault, when set, is told of each instance discarded and replaced
	// because a call into it (a request, a lifecycle call or a background
	// turn) hung, crashed or answered nonsense; not of those a closing or
	// unloading plugin loses. It is called on the failed call's goroutine
	// and must not block.
	Fault func(cause error)
}

// Limits bound what a plugin's instances may consume. They are enforced by
// the runtime, not requested from the plugin.
type Limits struct {
	// PoolSize is how many instances serve at once. Each has its own memory
	// and its own copy of the plugin's state, so more than one is only right
	// for a stateless plugin.
	PoolSize int
	// QueueSize is how many requests may wait for a free instance; beyond
	// it a request fails at once with ErrBusy.
	QueueSize int
	// Memory caps one instance's linear memory, in bytes (rounded down to
	// 64 KiB pages).
	Memory int64
	// Timeout caps one call into the guest: a request, or one lifecycle
	// method on one instance.
	Timeout time.Duration
	// MaxRequestBytes caps a request body sent to the plugin, and the body
	// of an outbound request the plugin makes.
	MaxRequestBytes int64
	// MaxResponseBytes caps a response body the plugin returns, and the
	// body of a response to an outbound request.
	MaxResponseBytes int64
}

// DefaultLimits are the limits of a plugin whose manifest and policy set
// none: one instance, 64 waiting requests, 128 MiB, 5 s, 1 MiB in, 4 MiB out.
func DefaultLimits() Limits {
	return Limits{
		PoolSize:         1,
		QueueSize:        64,
		Memory:           128 << 20,
		Timeout:          5 * time.Second,
		MaxRequestBytes:  1 << 20,
		MaxResponseBytes: 4 << 20,
	}
}

// WithDefaults is l with DefaultLimits' values in its zero fields.
func (l Limits) WithDefaults() Limits {
	d := DefaultLimits()
	if l.PoolSize <= 0 {
		l.PoolSize = d.PoolSize
	}
	if l.QueueSize <= 0 {
		l.QueueSize = d.QueueSize
	}
	if l.Memory <= 0 {
		l.Memory = d.Memory
	}
	if l.Timeout <= 0 {
		l.Timeout = d.Timeout
	}
	if l.MaxRequestBytes <= 0 {
		l.MaxRequestBytes = d.MaxRequestBytes
	}
	if l.MaxResponseBytes <= 0 {
		l.MaxResponseBytes = d.MaxResponseBytes
	}
	return l
}

// Grants are what a plugin may reach outside its sandbox. The zero value
// grants nothing.
type Grants struct {
	// DataDir, when set, is created (0o700) and mounted read-write at /data;
	// nothing else of the host's file system is visible. Empty means no file
	// system at all.
	DataDir string
	// Network allows outbound HTTP requests, to AllowedHosts only.
	Network bool
	// AllowedHosts are "host" (any port) or "host:port" entries, matched
	// exactly, host names case-insensitively. Redirects are checked too.
	AllowedHosts []string
	// HTTPClient performs granted requests; nil means a client with a 10 s
	// timeout. Its redirect policy is wrapped so a redirect cannot leave
	// AllowedHosts.
	HTTPClient *http.Client
}

// Load compiles the module (or reads it from the cache), instantiates all
// Limits.PoolSize instances eagerly and asks one of them for the plugin's
// metadata. Eager start makes a module that cannot start fail here, at load,
// rather than on its first request, and keeps instantiation (tens of
// milliseconds) off the request path. The plugin is then driven through
// sdk.KubestellarPlugin like a native one: Validate, Initialize, OnLoad.
//
// Before anything is compiled, the plugin's instances' maximum memory
// (PoolSize × Memory) is reserved against the runtime's budget; a load that
// would pass it fails with a *BudgetError (ErrMemoryBudget).
func (r *Runtime) Load(ctx context.Context, wasm []byte, opts Options) (*Plugin, error) {
	held, err := r.reserve(opts.ID, opts.Limits.WithDefaults())
	if err != nil {
		return nil, fmt.Errorf("wasm: load %s: %w", opts.ID, err)
	}
	r.startLoad()
	defer r.endLoad()
	p, err := newPlugin(ctx, r, wasm, opts)
	if err != nil {
		r.unreserve(held)
		return nil, fmt.Errorf("wasm: load %s: %w", opts.ID, err)
	}
	r.mu.Lock()
	if r.closed {
		r.reserved -= held
		r.mu.Unlock()
		_ = p.Close(ctx)
		return nil, fmt.Errorf("wasm: load %s: %w", opts.ID, ErrClosed)
	}
	p.reserved = held
	r.plugins[p] = struct{}{}
	r.mu.Unlock()
	return p, nil
}

// Reserve holds the most memory a plugin of another WebAssembly tier (the
// http-wasm tier) may take, PoolSize × Memory of limits, against the same
// budget as the sandboxed plugins, so that one setting bounds every
// instance the server runs. The returned function gives it back; a
// reservation the budget refuses is a *BudgetError.
func (r *Runtime) Reserve(id string, limits Limits) (release func(), err error) {
	held, err := r.reserve(id, limits.WithDefaults())
	if err != nil {
		return nil, err
	}
	var once sync.Once
	return func() { once.Do(func() { r.unreserve(held) }) }, nil
}
