package interrupt

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/kubestellar/ksplugins/internal/leb128"
)

// module assembles a module from sections, each an id and its contents.
func module(sections ...[]byte) []byte {
	m := []byte{0x00, 'a', 's', 'm', 0x01, 0x00, 0x00, 0x00}
	for _, s := range sections {
		m = appendSection(m, s[0], s[1:])
	}
	return m
}

func sec(id byte, parts ...[]byte) []byte {
	s := []byte{id}
	for _, p := range parts {
		s = append(s, p...)
	}
	return s
}

func vec(items ...[]byte) []byte {
	v := leb128.AppendU32(nil, uint32(len(items)))
	for _, it := range items {
		v = append(v, it...)
	}
	return v
}

func name(s string) []byte { return append(leb128.AppendU32(nil, uint32(len(s))), s...) }

func body(locals []byte, code ...byte) []byte {
	b := append(append([]byte(nil), locals...), code...)
	return append(leb128.AppendU32(nil, uint32(len(b))), b...)
}

// Function types: 0 is () -> (), 1 is (i32) -> (i32), 2 is () -> (i32).
var types = sec(secType, vec(
	[]byte{0x60, 0x00, 0x00},
	[]byte{0x60, 0x01, valI32, 0x01, valI32},
	[]byte{0x60, 0x00, 0x01, valI32},
))

// yieldImport imports WASI's sched_yield as function 0.
var yieldImport = append(append(name(yieldModule), name(yieldName)...), 0x00, 2)

// loops is a module with:
//   - spin: loop br 0 end, forever;
//   - sum(n): n + (n-1) + ... + 1, in a loop inside a block;
//   - answer(): global 1 (42), with an imported global 0 and an unrelated
//     export, so that the rewrite's indices can be checked.
func loops() []byte {
	return module(
		types,
		sec(secImport, vec(
			append(append(name("env"), name("base")...), kindGlobal, valI32, 0x00),
			yieldImport,
		)),
		sec(secFunction, vec([]byte{0}, []byte{1}, []byte{2})),
		sec(secGlobal, vec([]byte{valI32, 0x00, opI32Const, 42, opEnd})),
		sec(secExport, vec(
			append(name("spin"), 0x00, 1),
			append(name("sum"), 0x00, 2),
			append(name("answer"), 0x00, 3),
		)),
		sec(secCode, vec(
			body(vec(), opLoop, blockEmpty, 0x0c, 0, opEnd, opEnd),
			// local 1 = acc
			body(vec([]byte{1, valI32}),
				0x02, blockEmpty, // block
				opLoop, blockEmpty,
				0x20, 0, 0x45, 0x0d, 1, // br_if 1 (n == 0)
				0x20, 1, 0x20, 0, 0x6a, 0x21, 1, // acc += n
				0x20, 0, opI32Const, 1, 0x6b, 0x21, 0, // n--
				0x0c, 0, // br 0
				opEnd, opEnd,
				0x20, 1, opEnd),
			body(vec(), opGlobalGet, 1, opEnd),
		)),
		sec(secCustom, name("note"), []byte("custom sections are kept")),
	)
}

// env exports the global that loops imports.
var env = module(
	sec(secGlobal, vec([]byte{valI32, 0x00, opI32Const, 7, opEnd})),
	sec(secExport, vec(append(name("base"), kindGlobal, 0))),
)

// instantiate runs wasm, with env and a sched_yield that is Check, in a
// runtime that has no other way to stop it.
func instantiate(t testing.TB, wasm []byte) api.Module {
	t.Helper()
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCloseOnContextDone(false))
	t.Cleanup(func() { _ = rt.Close(ctx) })
	if _, err := rt.InstantiateWithConfig(ctx, env, wazero.NewModuleConfig().WithName("env")); err != nil {
		t.Fatal(err)
	}
	exportYield(t, rt)
	m, err := rt.Instantiate(ctx, wasm)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// exportYield gives rt the sched_yield the instrumented code calls, as
// Check.
func exportYield(t testing.TB, rt wazero.Runtime) {
	t.Helper()
	_, err := rt.NewHostModuleBuilder(yieldModule).NewFunctionBuilder().
		WithFunc(func(ctx context.Context) int32 { Check(ctx); return 0 }).Export(yieldName).
		Instantiate(context.Background())
	if err != nil {
		t.Fatal(err)
	}
}

func call(t testing.TB, m api.Module, fn string, args ...uint64) uint64 {
	t.Helper()
	res, err := m.ExportedFunction(fn).Call(context.Background(), args...)
	if err != nil {
		t.Fatalf("%s: %v", fn, err)
	}
	return res[0]
}

func TestInstrumentKeepsWhatTheModuleDoes(t *testing.T) {
	plain := instantiate(t, loops())
	wasm, err := Instrument(loops())
	if err != nil {
		t.Fatal(err)
	}
	m := instantiate(t, wasm)
	for _, n := range []uint64{0, 1, 10, 1000} {
		if got, want := call(t, m, "sum", n), call(t, plain, "sum", n); got != want {
			t.Errorf("sum(%d) = %d instrumented, %d plain", n, got, want)
		}
	}
	if got := call(t, m, "answer"); got != 42 {
		t.Errorf("answer() = %d, want 42: the module's own global moved", got)
	}
	if !strings.Contains(string(wasm), "custom sections are kept") {
		t.Error("the custom section was dropped")
	}
}

func TestCheckStopsASpinningLoop(t *testing.T) {
	wasm, err := Instrument(loops())
	if err != nil {
		t.Fatal(err)
	}
	m := instantiate(t, wasm)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	begin := time.Now()
	_, err = m.ExportedFunction("spin").Call(ctx)
	if !errors.Is(err, ErrInterrupted) {
		t.Fatalf("spin: %v, want ErrInterrupted", err)
	}
	if took := time.Since(begin); took > 5*time.Second {
		t.Errorf("spin stopped after %s", took)
	}
	// The instance's fuel is whatever the stop left; the next call runs.
	if got := call(t, m, "sum", 100); got != 5050 {
		t.Errorf("sum(100) after a stopped call = %d", got)
	}
}

// TestSpinDoesNotHoldUpTheCollector: a garbage collection stops the world,
// which code running in a module cannot join; the fuel brings a spinning
// module back to Go often enough for the collection to go on, and the
// call still ends with its context.
func TestSpinDoesNotHoldUpTheCollector(t *testing.T) {
	wasm, err := Instrument(loops())
	if err != nil {
		t.Fatal(err)
	}
	m := instantiate(t, wasm)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := m.ExportedFunction("spin").Call(ctx)
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	runtime.GC() // without the fuel, this never returns
	cancel()
	if err := <-done; !errors.Is(err, ErrInterrupted) {
		t.Fatalf("spin: %v, want ErrInterrupted", err)
	}
}

func TestInstrumentWithoutGlobals(t *testing.T) {
	// A function with a loop and the import: Instrument must add the
	// global section in its place (before the code section).
	wasm, err := Instrument(module(
		types,
		sec(secImport, vec(yieldImport)),
		sec(secFunction, vec([]byte{0})),
		sec(secExport, vec(append(name("f"), 0x00, 1))),
		sec(secCode, vec(body(vec(), opLoop, blockEmpty, opEnd, opEnd))),
	))
	if err != nil {
		t.Fatal(err)
	}
	m := instantiate(t, wasm)
	if _, err := m.ExportedFunction("f").Call(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestInstrumentRefuses(t *testing.T) {
	for _, tc := range []struct {
		name   string
		module []byte
		want   string
	}{
		{"not wasm", []byte("\x7fELF"), "not a WebAssembly module"},
		{"truncated section", module(types)[:12], "unexpected end"},
		{"no sched_yield to stop it through", module(
			types,
			sec(secFunction, vec([]byte{0})),
			sec(secCode, vec(body(vec(), opEnd))),
		), "does not import wasi_snapshot_preview1.sched_yield"},
		{"unknown opcode", module(
			types,
			sec(secImport, vec(yieldImport)),
			sec(secFunction, vec([]byte{0})),
			sec(secCode, vec(body(vec(), 0x06, opEnd))),
		), "unknown opcode 0x06"},
		// Each of these is a few bytes that would make wazero allocate
		// tens of GiB and end the process.
		{"a count beyond the section", []byte("\x00asm\x01\x00\x00\x00\x03\x05\xff\xff\xff\xff\x0f"), "more than the 0 bytes"},
		{"a data segment beyond the section", module(
			sec(secData, vec(append([]byte{1}, leb128.AppendU32(nil, 1<<31)...))),
		), "a count of 2147483648"},
		{"four billion locals", module(
			types,
			sec(secImport, vec(yieldImport)),
			sec(secFunction, vec([]byte{0})),
			sec(secCode, vec(body(vec(append(leb128.AppendU32(nil, 1<<32-1), valI32)), opEnd))),
		), "4294967295 locals"},
		{"a huge table", module(
			sec(secTable, vec(append([]byte{0x70, 0x00}, leb128.AppendU32(nil, 1<<27)...))),
		), "a table of 134217728 elements"},
		{"a huge name map", module(
			sec(secCustom, name("name"), []byte{1, 5}, leb128.AppendU32(nil, 1<<30)),
		), "a count of 1073741824"},
		{"unknown section", module(sec(42)), "unknown section id 42"},
		{"function overruns its body", module(
			types,
			sec(secImport, vec(yieldImport)),
			sec(secFunction, vec([]byte{0})),
			sec(secCode, vec(body(vec(), opI32Const))),
		), "unexpected end"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Instrument(tc.module)
			var fe *FormatError
			if !errors.As(err, &fe) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Instrument = %v, want a FormatError saying %q", err, tc.want)
			}
		})
	}
}

// FuzzInstrument: whatever the input, Instrument and InstrumentAddingYield
// do not panic, and what wazero accepts stays acceptable once
// instrumented.
func FuzzInstrument(f *testing.F) {
	f.Add(loops())
	f.Add(env)
	f.Add(calls())
	f.Fuzz(func(t *testing.T, wasm []byte) {
		out, err := Instrument(wasm)
		if errors.Is(err, ErrNoYield) {
			out, err = InstrumentAddingYield(wasm)
		}
		if err != nil {
			return
		}
		ctx := context.Background()
		rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCloseOnContextDone(false))
		defer rt.Close(ctx)
		if err := compile(ctx, rt, wasm); err != nil {
			return
		}
		if err := compile(ctx, rt, out); err != nil {
			t.Fatalf("the module compiles, its instrumented copy does not: %v", err)
		}
	})
}

// compile is wasm.Compile, which this package's tests cannot import:
// wazero panics on some malformed modules instead of refusing them, and
// such a module is refused here as the host refuses it.
func compile(ctx context.Context, rt wazero.Runtime, b []byte) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("wazero failed on the module: %v", p)
		}
	}()
	_, err = rt.CompileModule(ctx, b)
	return err
}

// TestImmediatesTable: the fast path's table reads each opcode's
// immediates exactly as the checked path does.
func TestImmediatesTable(t *testing.T) {
	// Two two-byte LEB128s, then padding.
	imm := []byte{0x80, 0x01, 0x80, 0x01, 0x00, 0x00, 0x00, 0x00}
	want := map[byte]int{immNone: 0, immOne: 2, immTwo: 4}
	for op := range 256 {
		kind := immediates[op]
		n, ok := want[kind]
		if !ok {
			continue
		}
		r := reader{b: imm}
		skipImmediates(&r, byte(op))
		if r.err != nil || r.off != n {
			t.Errorf("opcode 0x%02x: the table reads %d bytes of immediates, the checked path %d (%v)", op, n, r.off, r.err)
		}
	}
}
