package runtimes

import (
	"context"
	"encoding/binary"
	"net/http"
	"testing"

	"github.com/bytecodealliance/wasmtime-go/v39"
	"github.com/tetratelabs/wazero"

	"github.com/kubestellar/ksplugins/sdk/wasmguest/abi"
)

// BenchmarkBoundary is internal/runtime/wasm's BenchmarkRequest/
// wasm-boundary under each runtime: one OpHandle frame for GET /hello into
// a started instance's ksp_call, answered by gin inside the guest, with
// the interruption that enforces a call's timeout (wazero's
// WithCloseOnContextDone, wasmtime's epoch deadline), with that
// interruption's checks compiled in but no deadline armed per call (no
// context to watch, no ticker), and with none.
func BenchmarkBoundary(b *testing.B) {
	variants := []struct {
		name  string
		start func(b *testing.B) *Guest
	}{
		{"wazero/close-on-done", func(b *testing.B) *Guest { return startWazero(b, interrupted) }},
		{"wazero/close-on-done-no-deadline", func(b *testing.B) *Guest { return startWazero(b, checksOnly) }},
		{"wazero/off", func(b *testing.B) *Guest { return startWazero(b, unchecked) }},
		{"wazero/instrumented", func(b *testing.B) *Guest { return startWazero(b, instrumented) }},
		{"wazero/instrumented-no-deadline", func(b *testing.B) *Guest { return startWazero(b, instrumentedOnly) }},
		{"wasmtime/epoch", func(b *testing.B) *Guest { return startWasmtime(b, interrupted) }},
		{"wasmtime/epoch-no-ticker", func(b *testing.B) *Guest { return startWasmtime(b, checksOnly) }},
		{"wasmtime/off", func(b *testing.B) *Guest { return startWasmtime(b, unchecked) }},
	}
	frame := RequestFrame(http.MethodGet, "/hello")
	for _, v := range variants {
		b.Run(v.name, func(b *testing.B) {
			g := v.start(b)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				res, err := g.Invoke(abi.OpHandle, frame)
				if err != nil {
					b.Fatal(err)
				}
				if len(res) < 5 || res[0] != abi.KindResponse || binary.LittleEndian.Uint32(res[1:]) != http.StatusOK {
					b.Fatalf("not a 200 response: %q", res)
				}
			}
		})
	}
}

func startWazero(b *testing.B, opts Options) *Guest {
	g, err := helloWazero(b, opts).Start(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = g.Close() })
	return g
}

func startWasmtime(b *testing.B, opts Options) *Guest {
	g, err := helloWasmtime(b, opts).Start()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = g.Close() })
	return g
}

// BenchmarkCompile is what loading hello costs each runtime without a
// cache: wasmtime compiling it with Cranelift (epoch checks in) and
// deserializing what it compiled, and wazero compiling it with its
// optimizing compiler (exit checks in). Run it with a small -benchtime
// (e.g. 3x): one compilation takes seconds.
func BenchmarkCompile(b *testing.B) {
	opts := DefaultOptions()
	b.Run("wasmtime/new", func(b *testing.B) {
		engine := wasmtime.NewEngineWithConfig(WasmtimeConfig(opts))
		defer engine.Close()
		for b.Loop() {
			m, err := wasmtime.NewModule(engine, fixtures.hello)
			if err != nil {
				b.Fatal(err)
			}
			m.Close()
		}
	})
	b.Run("wasmtime/deserialize", func(b *testing.B) {
		engine := wasmtime.NewEngineWithConfig(WasmtimeConfig(opts))
		defer engine.Close()
		m, err := wasmtime.NewModule(engine, fixtures.hello)
		if err != nil {
			b.Fatal(err)
		}
		serialized, err := m.Serialize()
		m.Close()
		if err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			m, err := wasmtime.NewModuleDeserialize(engine, serialized)
			if err != nil {
				b.Fatal(err)
			}
			m.Close()
		}
		b.ReportMetric(float64(len(serialized))/(1<<20), "MiB-serialized")
	})
	b.Run("wazero/compile", func(b *testing.B) {
		ctx := context.Background()
		for b.Loop() {
			rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCloseOnContextDone(true).WithDebugInfoEnabled(false))
			if _, err := rt.CompileModule(ctx, fixtures.hello); err != nil {
				b.Fatal(err)
			}
			_ = rt.Close(ctx)
		}
	})
}

// BenchmarkStart is starting one instance of an already compiled hello
// (instantiation, _initialize, setup and the lifecycle calls) and closing
// it: what replacing an instance costs, with interruption on.
func BenchmarkStart(b *testing.B) {
	b.Run("wazero", func(b *testing.B) {
		w := helloWazero(b, interrupted)
		b.ReportAllocs()
		for b.Loop() {
			g, err := w.Start(context.Background())
			if err != nil {
				b.Fatal(err)
			}
			_ = g.Close()
		}
	})
	b.Run("wasmtime", func(b *testing.B) {
		w := helloWasmtime(b, interrupted)
		b.ReportAllocs()
		for b.Loop() {
			g, err := w.Start()
			if err != nil {
				b.Fatal(err)
			}
			_ = g.Close()
		}
	})
}
