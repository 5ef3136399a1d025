package runtimes

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/kubestellar/ksplugins/sdk/wasmguest/abi"
)

// ErrTimeout is the error of a call the runtime interrupted because it ran
// past Options.Timeout.
var ErrTimeout = errors.New("call interrupted at its timeout")

// startTimeout bounds an instance's start (the Go runtime's and the
// plugin's initialisation), as the host does.
const startTimeout = 30 * time.Second

// Options are what an instance is allowed, as the host's Limits say it.
type Options struct {
	// Interrupt makes every call end with ErrTimeout once it has run for
	// Timeout: wazero closes the module when the call's context ends,
	// wasmtime traps at an epoch deadline. Without it nothing bounds a
	// call.
	Interrupt bool
	// Instrument, with Interrupt, interrupts wazero as the host does:
	// the module rewritten by the host's package interrupt, whose
	// sched_yield ends a call once its context has, and wazero's own
	// close on context done left off. wasmtime ignores it.
	Instrument bool
	// Timeout bounds one call when Interrupt is set. Interrupt with no
	// Timeout compiles the checks in but gives calls no deadline: what
	// the checks cost, apart from arming a deadline per call.
	Timeout time.Duration
	// Memory caps an instance's linear memory, in bytes.
	Memory int64
	// MaxResponseBytes is what OpSetup tells the guest.
	MaxResponseBytes uint32
}

// DefaultOptions are the host's default limits, with interruption.
func DefaultOptions() Options {
	return Options{Interrupt: true, Timeout: 5 * time.Second, Memory: 128 << 20, MaxResponseBytes: 4 << 20}
}

// module is one runtime's instance of the guest: the exports the host
// calls and the guest's memory. Calls are made by one goroutine at a time.
type module interface {
	alloc(size uint32) (uint32, error)
	call(op, ptr, size uint32) (uint64, error)
	// background is ksp_background; ok is false when the module does not
	// export it.
	background(budgetMS uint32) (more, ok bool, err error)
	write(ptr uint32, b []byte) bool
	read(ptr, size uint32) ([]byte, bool)
	close() error
}

// Guest is one started instance, ready to serve.
type Guest struct {
	m            module
	inPtr, inCap uint32 // the guest's input buffer, from ksp_alloc
	background   bool   // the guest was armed for background turns
}

// start brings a fresh instance (its _initialize already run) to the
// point where the host lets it serve: setup, the background baseline, then
// the lifecycle a plugin with no configuration goes through.
func start(m module, opts Options) (*Guest, error) {
	g := &Guest{m: m}
	if err := g.Envelope(abi.OpSetup, abi.AppendU32(nil, opts.MaxResponseBytes), nil); err != nil {
		return nil, fmt.Errorf("setup: %w", err)
	}
	_, ok, err := m.background(0)
	if err != nil {
		return nil, fmt.Errorf("arming background turns: %w", err)
	}
	g.background = ok
	steps := []struct {
		name  string
		op    uint32
		input []byte
	}{
		{"GetMetadata", abi.OpMetadata, nil},
		{"Validate", abi.OpValidate, nil},
		{"Initialize", abi.OpInitialize, []byte("null")},
		{"OnLoad", abi.OpOnLoad, nil},
	}
	for _, s := range steps {
		if err := g.Envelope(s.op, s.input, nil); err != nil {
			return nil, fmt.Errorf("%s: %w", s.name, err)
		}
	}
	return g, nil
}

// Invoke runs one operation and returns a view of its result in guest
// memory, valid until the next call.
func (g *Guest) Invoke(op uint32, input []byte) ([]byte, error) {
	var ptr uint32
	if len(input) > 0 {
		if uint64(len(input)) > uint64(g.inCap) {
			size := uint32(64 << 10)
			for uint64(size) < uint64(len(input)) {
				size *= 2
			}
			p, err := g.m.alloc(size)
			if err != nil {
				return nil, fmt.Errorf("ksp_alloc: %w", err)
			}
			g.inPtr, g.inCap = p, size
		}
		if !g.m.write(g.inPtr, input) {
			return nil, errors.New("the guest's input buffer is outside its memory")
		}
		ptr = g.inPtr
	}
	word, err := g.m.call(op, ptr, uint32(len(input)))
	if err != nil {
		return nil, err
	}
	if g.background {
		word &^= abi.ResultBackground
	}
	rp, rl := abi.Unpack(word)
	res, ok := g.m.read(rp, rl)
	if !ok {
		return nil, errors.New("the guest's result is outside its memory")
	}
	return res, nil
}

// Envelope runs an operation that answers a JSON envelope and decodes its
// data into out, when out is not nil.
func (g *Guest) Envelope(op uint32, input []byte, out any) error {
	res, err := g.Invoke(op, input)
	if err != nil {
		return err
	}
	var env abi.Result
	if err := json.Unmarshal(res, &env); err != nil {
		return fmt.Errorf("malformed envelope: %w", err)
	}
	if !env.OK {
		return fmt.Errorf("the plugin failed: %s", env.Error)
	}
	if out != nil && len(env.Data) > 0 {
		if err := json.Unmarshal(env.Data, out); err != nil {
			return fmt.Errorf("decoding the envelope's data: %w", err)
		}
	}
	return nil
}

// Close releases the instance.
func (g *Guest) Close() error { return g.m.close() }

// Response is the status and body of an OpHandle result.
type Response struct {
	Status int
	Body   []byte
}

// RequestFrame is the OpHandle input for a request without a body, as the
// host frames it; target is a path with an optional query.
func RequestFrame(method, target string) []byte {
	path, query, _ := strings.Cut(target, "?")
	frame := abi.AppendString(nil, method)
	frame = abi.AppendString(frame, path)
	frame = abi.AppendString(frame, query)
	frame = abi.AppendString(frame, "example.com")
	frame = abi.AppendString(frame, "192.0.2.1:1234")
	frame = abi.AppendHeader(frame, map[string][]string{"Accept": {"*/*"}})
	return abi.AppendBytes(frame, nil)
}

// DecodeResponse reads an OpHandle result; anything but a response frame
// is an error.
func DecodeResponse(res []byte) (Response, error) {
	if len(res) == 0 {
		return Response{}, errors.New("empty result")
	}
	d := abi.NewDecoder(res[1:])
	switch res[0] {
	case abi.KindResponse:
	case abi.KindError:
		return Response{}, fmt.Errorf("the guest failed: %s", d.String())
	default:
		return Response{}, fmt.Errorf("result of kind %d", res[0])
	}
	status := d.U32()
	d.Header(nil)
	body := d.Bytes()
	if err := d.Err(); err != nil {
		return Response{}, fmt.Errorf("decoding the response: %w", err)
	}
	return Response{Status: int(status), Body: body}, nil
}
