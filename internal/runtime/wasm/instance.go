package wasm

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/sys"

	"github.com/kubestellar/ksplugins/internal/runtime/wasm/interrupt"
	"github.com/kubestellar/ksplugins/sdk/wasmguest/abi"
)

// instance is one module instance: its own memory, its own copy of the
// plugin. It is used by one goroutine at a time, the one that took it from
// the pool; only version is read by others.
type instance struct {
	p     *Plugin
	n     uint64
	mod   api.Module
	alloc api.Function
	call  api.Function
	bg    api.Function // ksp_background; nil when the module has none
	mem   api.Memory
	stack [3]uint64

	inPtr, inCap uint32 // the guest's input buffer

	// calling is held while a call runs in the instance (enter to leave),
	// so that Close can wait for calls to end before closing the runtime
	// under them.
	calling sync.Mutex

	stdout, stderr *lineLog
	pending        []byte          // http_do's outcome, until http_result
	streams        streams         // response bodies open during a call
	callCtx        context.Context // the call in progress, for sleeps
	// streamCtx, during a background turn, ends with the turn's budget:
	// streams opened in the turn are read within it. Nil otherwise.
	streamCtx context.Context
	// serving is the request in progress, if any; requests numbers them.
	serving  serving
	requests uint32
	dead     bool
	// background: the last call left goroutines beyond the guest's
	// baseline, so the instance wants turns (see background.go).
	background bool

	// Lifecycle calls this instance has seen (see life).
	validate, init, cfg, load, unload, clean, kube uint64
	version                                        atomic.Uint64
}

// guestGOGC is the collector's target a guest starts with.
const guestGOGC = "400"

// instanceKey carries the instance into host functions through the call's
// context.
type instanceKey struct{}

func (p *Plugin) startInstance(ctx context.Context) (*instance, error) {
	in := &instance{p: p, n: p.seq.Add(1)}
	log := p.log.With("instance", in.n)
	in.stdout = newLineLog(p.output, log, "stdout")
	in.stderr = newLineLog(p.output, log, "stderr")
	cfg := wazero.NewModuleConfig().
		WithName(fmt.Sprintf("%s#%d", p.id, in.n)).
		// Go code may assume os.Args[0] exists (client-go's klog reads it
		// at init); the plugin's id is the only name the guest has.
		WithArgs(p.id).
		// The start function runs below, where it can be interrupted.
		WithStartFunctions().
		WithStdout(in.stdout).
		WithStderr(in.stderr).
		WithSysWalltime().
		WithSysNanotime().
		WithNanosleep(in.sleep).
		// An instrumented module yields every interrupt.Fuel loop
		// iterations: where a call past its time, or of a closed plugin, ends.
		WithOsyield(func() { interrupt.Check(in.callCtx) }).
		WithRandSource(rand.Reader).
		// A Go guest's collector marks only while the guest runs, and its
		// background workers rarely get to (the guest's goroutines run
		// within calls), so a cycle's write barriers stay on through many
		// requests. Collecting at five times the live heap rather than
		// twice makes cycles a quarter as frequent, which took about a
		// tenth off a small request (docs/performance.md); the memory limit
		// makes the collector work harder, not the guest fail, as the heap
		// nears the instance's memory.
		WithEnv("GOGC", guestGOGC).
		WithEnv("GOMEMLIMIT", strconv.FormatInt(instanceMemory(p.limits)*3/4, 10)+"B")
	if p.fs != nil {
		cfg = cfg.WithFSConfig(p.fs)
	}
	sctx, cancel := context.WithTimeout(ctx, max(startTimeout, p.limits.Timeout))
	defer cancel()
	in.callCtx = sctx
	ictx := experimental.WithMemoryAllocator(context.WithValue(sctx, instanceKey{}, in), linearMemory())
	mod, err := p.rt.InstantiateModule(ictx, p.mod, cfg)
	if err == nil {
		in.mod = mod
		if start := mod.ExportedFunction(abi.ExportInitialize); start != nil {
			_, err = start.Call(ictx) // host functions find in through ictx
		}
	}
	in.callCtx = nil
	if err != nil {
		in.close()
		return nil, in.failure("starting", err, sctx)
	}
	in.alloc = mod.ExportedFunction(abi.ExportAlloc)
	in.call = mod.ExportedFunction(abi.ExportCall)
	if p.turns {
		in.bg = mod.ExportedFunction(abi.ExportBackground)
	}
	in.mem = mod.ExportedMemory(abi.ExportMemory)
	setup := abi.AppendU32(nil, uint32(min(p.limits.MaxResponseBytes, 1<<32-1)))
	if len(p.routes) > 0 {
		routes, err := json.Marshal(p.routes)
		if err != nil {
			in.close()
			return nil, fmt.Errorf("encode endpoints: %w", err)
		}
		setup = append(setup, routes...)
	}
	if err := p.envelope(in, abi.OpSetup, setup, nil); err != nil {
		in.close()
		return nil, err
	}
	if err := in.arm(p.ctx); err != nil {
		return nil, err
	}
	return in, nil
}

// enter starts a call on in, a request's or a background turn's: bounded
// by the plugin's call timeout, it is the call host functions find (ctx).
// Streams the guest opens in it can be read until streamBudget has passed,
// or for the whole call when streamBudget < 0. leave ends the call: a
// stream's request ends with the call that opened it, so what the guest
// left open is closed, and it cannot read them in a later call.
func (in *instance) enter(parent context.Context, streamBudget time.Duration) (ctx context.Context, leave func()) {
	in.calling.Lock()
	ctx, cancel := context.WithTimeout(parent, in.p.limits.Timeout)
	in.callCtx = ctx
	scancel := context.CancelFunc(func() {})
	if streamBudget >= 0 {
		in.streamCtx, scancel = context.WithTimeout(ctx, streamBudget)
	}
	return ctx, func() {
		in.streams.closeAll()
		in.callCtx, in.streamCtx = nil, nil
		scancel()
		cancel()
		in.calling.Unlock()
	}
}

// awaitCall returns once no call runs in the instance.
func (in *instance) awaitCall() {
	in.calling.Lock()
	//lint:ignore SA2001 the lock is taken to wait for a call to end; it guards nothing here
	in.calling.Unlock()
}

// invoke runs one operation and returns a view of its result in guest
// memory, valid until the next call on in. On any error the instance is
// closed (in.dead): its state can no longer be trusted.
func (in *instance) invoke(parent context.Context, op uint32, input []byte) (res []byte, err error) {
	defer func() {
		if err != nil {
			in.close()
		}
	}()
	p := in.p
	ctx, leave := in.enter(parent, -1)
	defer leave()
	cctx := context.WithValue(ctx, instanceKey{}, in)
	var ptr uint32
	if len(input) > 0 {
		if uint64(len(input)) > uint64(in.inCap) {
			size := uint32(64 << 10)
			for uint64(size) < uint64(len(input)) {
				size *= 2
			}
			in.stack[0] = uint64(size)
			if err := in.alloc.CallWithStack(cctx, in.stack[:1]); err != nil {
				return nil, in.failure(opName(op), err, ctx)
			}
			in.inPtr, in.inCap = uint32(in.stack[0]), size
		}
		if !in.mem.Write(in.inPtr, input) {
			return nil, fmt.Errorf("plugin %s: %w: its input buffer is outside its memory", p.id, ErrCrashed)
		}
		ptr = in.inPtr
	}
	in.stack[0], in.stack[1], in.stack[2] = uint64(op), uint64(ptr), uint64(len(input))
	if err := in.call.CallWithStack(cctx, in.stack[:]); err != nil {
		return nil, in.failure(opName(op), err, ctx)
	}
	word := in.stack[0]
	if in.bg != nil {
		in.background = word&abi.ResultBackground != 0
		word &^= abi.ResultBackground
	}
	rp, rl := abi.Unpack(word)
	res, ok := in.mem.Read(rp, rl)
	if !ok {
		return nil, fmt.Errorf("plugin %s: %w: its result is outside its memory", p.id, ErrCrashed)
	}
	return res, nil
}

// failure turns a failed call into ErrTimeout, ErrClosed or ErrCrashed,
// with what the guest last said on standard error.
func (in *instance) failure(what string, err error, ctx context.Context) error {
	p := in.p
	if p.ctx.Err() != nil {
		return fmt.Errorf("plugin %s: %w", p.id, ErrClosed)
	}
	if errors.Is(err, interrupt.ErrInterrupted) {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return fmt.Errorf("plugin %s: %w: %s did not return within %s", p.id, ErrTimeout, what, p.limits.Timeout)
		}
		return fmt.Errorf("plugin %s: %w", p.id, ErrClosed)
	}
	var exit *sys.ExitError
	if errors.As(err, &exit) {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return fmt.Errorf("plugin %s: %w: %s did not return within %s", p.id, ErrTimeout, what, p.limits.Timeout)
		}
		return fmt.Errorf("plugin %s: %w: %s: exit code %d%s", p.id, ErrCrashed, what, exit.ExitCode(), in.stderr.lastWords())
	}
	return fmt.Errorf("plugin %s: %w: %s: %v%s", p.id, ErrCrashed, what, err, in.stderr.lastWords())
}

func opName(op uint32) string {
	names := [...]string{"setup", "GetMetadata", "Validate", "Initialize", "OnLoad", "a request", "Health",
		"GetStatus", "GetMetrics", "OnConfigChange", "GetPermissions", "OnUnload", "Cleanup", "SetKubernetes"}
	if int(op) < len(names) {
		return names[op]
	}
	return fmt.Sprintf("operation %d", op)
}

// close releases the instance's memory. It is idempotent.
func (in *instance) close() {
	if in.dead {
		return
	}
	in.dead = true
	if in.mod != nil {
		_ = in.mod.Close(context.Background())
	}
	in.pending = nil
	in.flushLogs()
}

func (in *instance) flushLogs() {
	in.stdout.flush()
	in.stderr.flush()
}

// sleep is the guest's nanosleep: a real sleep that ends early when the call
// in progress is interrupted, so a sleeping guest cannot outlive its timeout.
func (in *instance) sleep(ns int64) {
	if ns <= 0 {
		return
	}
	ctx := in.callCtx
	if ctx == nil {
		time.Sleep(time.Duration(ns))
		return
	}
	t := time.NewTimer(time.Duration(ns))
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
