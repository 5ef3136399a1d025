package interrupt

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// calls is a module that does not import sched_yield, whose functions
// refer to each other every way a module can, so that moving their
// indices shows:
//   - 0 is an import, host.double(n) = 2n, whose index stays;
//   - 1 spin: loop br 0 end, forever;
//   - 2 twicePlus(n) = double(n) + inc(n)... calls 0 then 3: 2n+1;
//   - 3 inc(n) = n+1, also the table's element 0;
//   - 4 viaTable(n) = call_indirect of element 0: n+1;
//   - 5 isNull() = ref.is_null(ref.func 3): 0;
//   - 6 the start function: global 0 = 5;
//   - 7 started() = global 0.
func calls() []byte {
	return module(
		types,
		sec(secImport, vec(append(append(name("host"), name("double")...), 0x00, 1))),
		sec(secFunction, vec([]byte{0}, []byte{1}, []byte{1}, []byte{1}, []byte{2}, []byte{0}, []byte{2})),
		sec(secTable, vec([]byte{0x70, 0x00, 0x01})),
		sec(secGlobal, vec([]byte{valI32, 0x01, opI32Const, 0, opEnd})),
		sec(secExport, vec(
			append(name("spin"), 0x00, 1),
			append(name("twicePlus"), 0x00, 2),
			append(name("viaTable"), 0x00, 4),
			append(name("isNull"), 0x00, 5),
			append(name("started"), 0x00, 7),
		)),
		sec(secStart, []byte{6}),
		sec(secElement, vec([]byte{0x00, opI32Const, 0, opEnd, 0x01, 3})),
		sec(secCode, vec(
			body(vec(), opLoop, blockEmpty, 0x0c, 0, opEnd, opEnd),
			body(vec(), 0x20, 0, opCall, 0, 0x20, 0, opCall, 3, 0x6a, opEnd),
			body(vec(), 0x20, 0, opI32Const, 1, 0x6a, opEnd),
			body(vec(), 0x20, 0, opI32Const, 0, 0x11, 1, 0, opEnd),
			body(vec(), opRefFunc, 3, 0xd1, opEnd),
			body(vec(), opI32Const, 5, opGlobalSet, 0, opEnd),
			body(vec(), opGlobalGet, 0, opEnd),
		)),
		sec(secCustom, name("name"), []byte{1, 4, 1, 1, 1, 's'}), // function 1 is "s"
	)
}

// instantiateCalls runs wasm with host.double and, when yields, a
// sched_yield that is Check.
func instantiateCalls(t testing.TB, wasm []byte, yields bool) api.Module {
	t.Helper()
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCloseOnContextDone(false))
	t.Cleanup(func() { _ = rt.Close(ctx) })
	_, err := rt.NewHostModuleBuilder("host").NewFunctionBuilder().
		WithFunc(func(n int32) int32 { return 2 * n }).Export("double").Instantiate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if yields {
		exportYield(t, rt)
	}
	m, err := rt.Instantiate(ctx, wasm)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestInstrumentAddingYield(t *testing.T) {
	if _, err := Instrument(calls()); !errors.Is(err, ErrNoYield) {
		t.Fatalf("Instrument: %v, want ErrNoYield", err)
	}
	wasm, err := InstrumentAddingYield(calls())
	if err != nil {
		t.Fatal(err)
	}
	plain := instantiateCalls(t, calls(), false)
	m := instantiateCalls(t, wasm, true)
	for _, tt := range []struct {
		fn   string
		args []uint64
	}{
		{"twicePlus", []uint64{4}}, {"viaTable", []uint64{41}}, {"isNull", nil}, {"started", nil},
	} {
		if got, want := call(t, m, tt.fn, tt.args...), call(t, plain, tt.fn, tt.args...); got != want {
			t.Errorf("%s%v = %d instrumented, %d plain", tt.fn, tt.args, got, want)
		}
	}
	if got := call(t, m, "twicePlus", 4); got != 13 {
		t.Errorf("twicePlus(4) = %d, want 13", got)
	}
	compiled, err := wazero.NewRuntime(context.Background()).CompileModule(context.Background(), wasm)
	if err != nil {
		t.Fatal(err)
	}
	if names := compiled.CustomSections(); len(names) != 0 {
		t.Errorf("%d custom sections left; the name section should be dropped", len(names))
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := m.ExportedFunction("spin").Call(ctx); !errors.Is(err, ErrInterrupted) {
		t.Fatalf("spin: %v, want ErrInterrupted", err)
	}
}

func TestInstrumentAddingYieldWithoutSections(t *testing.T) {
	// Memory alone: no type, import, function or global section.
	mem := module(sec(secMemory, vec([]byte{0x00, 0x01})), sec(secExport, vec(append(name("memory"), 0x02, 0))))
	wasm, err := InstrumentAddingYield(mem)
	if err != nil {
		t.Fatal(err)
	}
	m := instantiateCalls(t, wasm, true)
	if m.Memory() == nil {
		t.Error("the memory export is gone")
	}
}

func TestInstrumentAddingYieldKeepsAnImport(t *testing.T) {
	a, err := Instrument(loops())
	if err != nil {
		t.Fatal(err)
	}
	b, err := InstrumentAddingYield(loops())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Error("a module that imports sched_yield is rewritten differently")
	}
}
