package runtimes

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"

	"github.com/kubestellar/ksplugins/internal/runtime/wasm/interrupt"
	"github.com/kubestellar/ksplugins/sdk/wasmguest/abi"
)

// Wazero is a guest module compiled by wazero, configured as the host
// configures it (internal/runtime/wasm newPlugin), with interruption
// (WithCloseOnContextDone) as Options say.
type Wazero struct {
	rt   wazero.Runtime
	mod  wazero.CompiledModule
	opts Options
	seq  atomic.Uint64
}

// NewWazero compiles wasm in a runtime of its own.
func NewWazero(ctx context.Context, wasm []byte, opts Options) (_ *Wazero, err error) {
	if opts.Instrument {
		if wasm, err = interrupt.Instrument(wasm); err != nil {
			return nil, err
		}
	}
	cfg := wazero.NewRuntimeConfig().
		WithMemoryLimitPages(uint32(max(1, min(opts.Memory/65536, 65536)))).
		WithCloseOnContextDone(opts.Interrupt && !opts.Instrument).
		WithDebugInfoEnabled(false)
	w := &Wazero{rt: wazero.NewRuntimeWithConfig(ctx, cfg), opts: opts}
	defer func() {
		if err != nil {
			_ = w.rt.Close(ctx)
		}
	}()
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, w.rt); err != nil {
		return nil, fmt.Errorf("instantiating WASI: %w", err)
	}
	w.mod, err = w.rt.CompileModule(ctx, wasm)
	if err != nil {
		return nil, fmt.Errorf("compiling: %w", err)
	}
	if err := w.stubHostModule(ctx); err != nil {
		return nil, fmt.Errorf("instantiating the host module: %w", err)
	}
	return w, nil
}

// stubHostModule provides every function the guest imports from the host
// module as one that traps when called.
func (w *Wazero) stubHostModule(ctx context.Context) error {
	b := w.rt.NewHostModuleBuilder(abi.ImportModule)
	for _, f := range w.mod.ImportedFunctions() {
		mod, name, _ := f.Import()
		if mod != abi.ImportModule {
			continue
		}
		b = b.NewFunctionBuilder().
			WithGoModuleFunction(api.GoModuleFunc(func(context.Context, api.Module, []uint64) {
				panic(abi.ImportModule + "." + name + " is not provided here")
			}), f.ParamTypes(), f.ResultTypes()).
			Export(name)
	}
	_, err := b.Instantiate(ctx)
	return err
}

// Close releases the runtime, its compiled module and every instance.
func (w *Wazero) Close(ctx context.Context) error { return w.rt.Close(ctx) }

// Start instantiates the module and starts the guest as the host does.
func (w *Wazero) Start(ctx context.Context) (*Guest, error) {
	calling := new(context.Context) // the call in progress, for sched_yield
	cfg := wazero.NewModuleConfig().
		WithName(fmt.Sprintf("guest#%d", w.seq.Add(1))).
		WithArgs("guest").
		WithStartFunctions().
		WithSysWalltime().
		WithSysNanotime().
		WithNanosleep(func(ns int64) { time.Sleep(time.Duration(ns)) }).
		// With Options.Instrument the module yields every interrupt.Fuel
		// loop iterations, where the call in progress ends once its
		// context is done, as in the host.
		WithOsyield(func() { interrupt.Check(*calling) }).
		WithRandSource(rand.Reader)
	sctx, cancel := context.WithTimeout(ctx, max(startTimeout, w.opts.Timeout))
	defer cancel()
	mod, err := w.rt.InstantiateModule(sctx, w.mod, cfg)
	if err != nil {
		return nil, fmt.Errorf("instantiating: %w", classifyWazero(err))
	}
	m := &wazeroModule{
		ctx:     ctx,
		opts:    w.opts,
		mod:     mod,
		allocFn: mod.ExportedFunction(abi.ExportAlloc),
		callFn:  mod.ExportedFunction(abi.ExportCall),
		bgFn:    mod.ExportedFunction(abi.ExportBackground),
		mem:     mod.ExportedMemory(abi.ExportMemory),
	}
	m.calling = calling
	startFn := mod.ExportedFunction(abi.ExportInitialize)
	if m.allocFn == nil || m.callFn == nil || m.mem == nil || startFn == nil {
		_ = mod.Close(ctx)
		return nil, errors.New("the module lacks the guest adapter's exports")
	}
	// The start function runs as a call, so that it is bounded the same way.
	if err := m.invoke(startFn, 0); err != nil {
		_ = mod.Close(ctx)
		return nil, fmt.Errorf("starting: %w", err)
	}
	g, err := start(m, w.opts)
	if err != nil {
		_ = mod.Close(ctx)
		return nil, err
	}
	return g, nil
}

type wazeroModule struct {
	ctx                   context.Context // the instance's, which calls derive from
	opts                  Options
	mod                   api.Module
	allocFn, callFn, bgFn api.Function
	mem                   api.Memory
	stack                 [3]uint64
	calling               *context.Context // the call in progress
}

// invoke calls f with the values on m.stack. With interruption, each call
// gets a context that ends at the timeout, as the host's calls do; without
// it, or without a timeout, the instance's context, which has no deadline
// (wazero then watches no context during the call).
func (m *wazeroModule) invoke(f api.Function, n int) error {
	ctx := m.ctx
	if m.opts.Interrupt && m.opts.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, m.opts.Timeout)
		defer cancel()
	}
	*m.calling = ctx
	defer func() { *m.calling = nil }()
	if err := f.CallWithStack(ctx, m.stack[:n]); err != nil {
		if errors.Is(err, interrupt.ErrInterrupted) {
			return fmt.Errorf("%w: %w", ErrTimeout, err)
		}
		return classifyWazero(err)
	}
	return nil
}

// classifyWazero marks the exit of a module closed at its deadline as
// ErrTimeout.
func classifyWazero(err error) error {
	var exit *sys.ExitError
	if errors.As(err, &exit) && exit.ExitCode() == sys.ExitCodeDeadlineExceeded {
		return fmt.Errorf("%w: %w", ErrTimeout, err)
	}
	return err
}

func (m *wazeroModule) alloc(size uint32) (uint32, error) {
	m.stack[0] = uint64(size)
	if err := m.invoke(m.allocFn, 1); err != nil {
		return 0, err
	}
	return uint32(m.stack[0]), nil
}

func (m *wazeroModule) call(op, ptr, size uint32) (uint64, error) {
	m.stack[0], m.stack[1], m.stack[2] = uint64(op), uint64(ptr), uint64(size)
	if err := m.invoke(m.callFn, 3); err != nil {
		return 0, err
	}
	return m.stack[0], nil
}

func (m *wazeroModule) background(budgetMS uint32) (more, ok bool, err error) {
	if m.bgFn == nil {
		return false, false, nil
	}
	m.stack[0] = uint64(budgetMS)
	if err := m.invoke(m.bgFn, 1); err != nil {
		return false, true, err
	}
	return api.DecodeI32(m.stack[0]) != 0, true, nil
}

func (m *wazeroModule) write(ptr uint32, b []byte) bool { return m.mem.Write(ptr, b) }

func (m *wazeroModule) read(ptr, size uint32) ([]byte, bool) { return m.mem.Read(ptr, size) }

func (m *wazeroModule) close() error { return m.mod.Close(context.WithoutCancel(m.ctx)) }
