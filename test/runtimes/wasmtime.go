package runtimes

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/bytecodealliance/wasmtime-go/v39"

	"github.com/kubestellar/ksplugins/sdk/wasmguest/abi"
)

// epochSteps is how many epoch ticks make a timeout: a call is interrupted
// between Timeout and Timeout + Timeout/epochSteps after it began.
const epochSteps = 10

// noDeadline is an epoch deadline no ticker reaches.
const noDeadline = 1 << 62

// Wasmtime is a guest module compiled by wasmtime (Cranelift). With
// Options.Interrupt, the engine's code checks an epoch counter at function
// entries and loop headers; a ticker advances the counter every
// Timeout/epochSteps, and each call's deadline is set that many ticks (plus
// one for the tick already under way) ahead, so one shared ticker serves
// every call instead of a timer per call.
type Wasmtime struct {
	engine   *wasmtime.Engine
	linker   *wasmtime.Linker
	module   *wasmtime.Module
	opts     Options
	deadline uint64 // in ticks

	stop chan struct{} // closed by Close: ends the ticker
	done sync.WaitGroup
	once sync.Once
}

// WasmtimeConfig is the engine configuration for opts.
func WasmtimeConfig(opts Options) *wasmtime.Config {
	cfg := wasmtime.NewConfig()
	cfg.SetEpochInterruption(opts.Interrupt)
	cfg.SetDebugInfo(false)
	return cfg
}

// NewWasmtime compiles wasm with an engine of its own.
func NewWasmtime(wasm []byte, opts Options) (*Wasmtime, error) {
	engine := wasmtime.NewEngineWithConfig(WasmtimeConfig(opts))
	module, err := wasmtime.NewModule(engine, wasm)
	if err != nil {
		engine.Close()
		return nil, fmt.Errorf("compiling: %w", err)
	}
	return newWasmtime(engine, module, opts)
}

// NewWasmtimeDeserialize loads a module Serialize produced under the same
// Options, which skips compilation.
func NewWasmtimeDeserialize(serialized []byte, opts Options) (*Wasmtime, error) {
	engine := wasmtime.NewEngineWithConfig(WasmtimeConfig(opts))
	module, err := wasmtime.NewModuleDeserialize(engine, serialized)
	if err != nil {
		engine.Close()
		return nil, fmt.Errorf("deserializing: %w", err)
	}
	return newWasmtime(engine, module, opts)
}

func newWasmtime(engine *wasmtime.Engine, module *wasmtime.Module, opts Options) (*Wasmtime, error) {
	w := &Wasmtime{engine: engine, module: module, opts: opts, linker: wasmtime.NewLinker(engine), stop: make(chan struct{})}
	if err := w.link(); err != nil {
		w.linker.Close()
		module.Close()
		engine.Close()
		return nil, err
	}
	switch {
	case opts.Interrupt && opts.Timeout > 0:
		tick := max(opts.Timeout/epochSteps, time.Millisecond)
		w.deadline = uint64((opts.Timeout+tick-1)/tick) + 1
		w.done.Add(1)
		go w.tick(tick)
	case opts.Interrupt:
		// The checks without a ticker: the epoch never moves, so no
		// deadline is ever reached.
		w.deadline = noDeadline
	}
	return w, nil
}

// link defines WASI and, for every function the module imports from the
// host module, a stub that traps.
func (w *Wasmtime) link() error {
	if err := w.linker.DefineWasi(); err != nil {
		return fmt.Errorf("defining WASI: %w", err)
	}
	for _, imp := range w.module.Imports() {
		name := imp.Name()
		fn := imp.Type().FuncType()
		if imp.Module() != abi.ImportModule || name == nil || fn == nil {
			continue
		}
		msg := abi.ImportModule + "." + *name + " is not provided here"
		err := w.linker.FuncNew(abi.ImportModule, *name, fn, func(*wasmtime.Caller, []wasmtime.Val) ([]wasmtime.Val, *wasmtime.Trap) {
			return nil, wasmtime.NewTrap(msg)
		})
		if err != nil {
			return fmt.Errorf("defining %s: %w", *name, err)
		}
	}
	return nil
}

// tick advances the engine's epoch until Close.
func (w *Wasmtime) tick(every time.Duration) {
	defer w.done.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
			w.engine.IncrementEpoch()
		}
	}
}

// Serialize is the compiled module, for NewWasmtimeDeserialize.
func (w *Wasmtime) Serialize() ([]byte, error) { return w.module.Serialize() }

// Close stops the ticker and releases the engine and its module. Guests
// started from it must be closed first.
func (w *Wasmtime) Close() {
	w.once.Do(func() {
		close(w.stop)
		w.done.Wait()
		w.linker.Close()
		w.module.Close()
		w.engine.Close()
	})
}

// Start instantiates the module in a store of its own and starts the guest
// as the host does.
func (w *Wasmtime) Start() (*Guest, error) {
	store := wasmtime.NewStore(w.engine)
	store.Limiter(w.opts.Memory, -1, -1, -1, -1)
	wasi := wasmtime.NewWasiConfig()
	wasi.SetArgv([]string{"guest"})
	store.SetWasi(wasi)
	m := &wasmtimeModule{store: store, opts: w.opts, deadline: w.deadline}
	fail := func(err error) (*Guest, error) {
		store.Close()
		return nil, err
	}
	if w.opts.Interrupt {
		d := uint64(noDeadline)
		if w.opts.Timeout > 0 {
			tick := max(w.opts.Timeout/epochSteps, time.Millisecond)
			d = uint64(max(startTimeout, w.opts.Timeout)/tick) + 1
		}
		store.SetEpochDeadline(d)
	}
	inst, err := w.linker.Instantiate(store, w.module)
	if err != nil {
		return fail(fmt.Errorf("instantiating: %w", classifyWasmtime(err)))
	}
	m.allocFn = inst.GetFunc(store, abi.ExportAlloc)
	m.callFn = inst.GetFunc(store, abi.ExportCall)
	m.bgFn = inst.GetFunc(store, abi.ExportBackground)
	initFn := inst.GetFunc(store, abi.ExportInitialize)
	if ext := inst.GetExport(store, abi.ExportMemory); ext != nil {
		m.mem = ext.Memory()
	}
	if m.allocFn == nil || m.callFn == nil || initFn == nil || m.mem == nil {
		return fail(errors.New("the module lacks the guest adapter's exports"))
	}
	// Linker.Instantiate runs a start section, which a reactor has not:
	// its _initialize is the host's to call, as wazero's start functions.
	if _, err := initFn.Call(store); err != nil {
		return fail(fmt.Errorf("%s: %w", abi.ExportInitialize, classifyWasmtime(err)))
	}
	g, err := start(m, w.opts)
	if err != nil {
		return fail(err)
	}
	return g, nil
}

type wasmtimeModule struct {
	store                 *wasmtime.Store
	opts                  Options
	deadline              uint64
	allocFn, callFn, bgFn *wasmtime.Func
	mem                   *wasmtime.Memory
}

// invoke calls f, with a fresh epoch deadline when interruption is on.
func (m *wasmtimeModule) invoke(f *wasmtime.Func, args ...any) (any, error) {
	if m.opts.Interrupt {
		m.store.SetEpochDeadline(m.deadline)
	}
	v, err := f.Call(m.store, args...)
	if err != nil {
		return nil, classifyWasmtime(err)
	}
	return v, nil
}

// classifyWasmtime marks an epoch interruption as ErrTimeout.
func classifyWasmtime(err error) error {
	var trap *wasmtime.Trap
	if errors.As(err, &trap) {
		if code := trap.Code(); code != nil && *code == wasmtime.Interrupt {
			return fmt.Errorf("%w: %w", ErrTimeout, err)
		}
	}
	return err
}

func (m *wasmtimeModule) alloc(size uint32) (uint32, error) {
	v, err := m.invoke(m.allocFn, int32(size))
	if err != nil {
		return 0, err
	}
	return uint32(v.(int32)), nil
}

func (m *wasmtimeModule) call(op, ptr, size uint32) (uint64, error) {
	v, err := m.invoke(m.callFn, int32(op), int32(ptr), int32(size))
	if err != nil {
		return 0, err
	}
	return uint64(v.(int64)), nil
}

func (m *wasmtimeModule) background(budgetMS uint32) (more, ok bool, err error) {
	if m.bgFn == nil {
		return false, false, nil
	}
	v, err := m.invoke(m.bgFn, int32(budgetMS))
	if err != nil {
		return false, true, err
	}
	return v.(int32) != 0, true, nil
}

func (m *wasmtimeModule) write(ptr uint32, b []byte) bool {
	data := m.mem.UnsafeData(m.store)
	if uint64(ptr)+uint64(len(b)) > uint64(len(data)) {
		return false
	}
	copy(data[ptr:], b)
	return true
}

// read returns a view of guest memory, valid until the next call (which
// may grow and so move the memory).
func (m *wasmtimeModule) read(ptr, size uint32) ([]byte, bool) {
	data := m.mem.UnsafeData(m.store)
	if uint64(ptr)+uint64(size) > uint64(len(data)) {
		return nil, false
	}
	return data[ptr : ptr+size : ptr+size], true
}

func (m *wasmtimeModule) close() error {
	m.store.Close()
	return nil
}
