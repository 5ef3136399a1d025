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
// and without the interruption that enforces a call's timeout.
func BenchmarkBoundary(b *testing.B) {
	variants := []struct {
		name  string
		start func(b *testing.B) *Guest
	}{
		{"wazero/close-on-done", func(b *testing.B) *Guest { return startWazero(b, true) }},
		{"wazero/no-interrupt", func(b *testing.B) *Guest { return startWazero(b, false) }},
		{"wasmtime/epoch", func(b *testing.B) *Guest { return startWasmtime(b, true) }},
		{"wasmtime/no-interrupt", func(b *testing.B) *Guest { return startWasmtime(b, false) }},
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

func startWazero(b *testing.B, interrupt bool) *Guest {
	g, err := helloWazero(b, interrupt).Start(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = g.Close() })
	return g
}

func startWasmtime(b *testing.B, interrupt bool) *Guest {
	g, err := helloWasmtime(b, interrupt).Start()
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
		b.ReportMetric(float64(len(serialized))/(1<<20), "MiB-serialized")
		b.ResetTimer()
		for b.Loop() {
			m, err := wasmtime.NewModuleDeserialize(engine, serialized)
			if err != nil {
				b.Fatal(err)
			}
			m.Close()
		}
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
