package runtimes

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/kubestellar/ksplugins/sdk/wasmguest/abi"
)

// TestHello: both runtimes serve hello's GET /hello with a 200, with and
// without interruption.
func TestHello(t *testing.T) {
	for _, mode := range []struct {
		name string
		opts Options
	}{{"interrupted", interrupted}, {"instrumented", instrumented}, {"unchecked", unchecked}} {
		for _, rt := range []string{"wazero", "wasmtime"} {
			t.Run(rt+"/"+mode.name, func(t *testing.T) {
				var g *Guest
				var err error
				if rt == "wazero" {
					g, err = helloWazero(t, mode.opts).Start(context.Background())
				} else {
					g, err = helloWasmtime(t, mode.opts).Start()
				}
				if err != nil {
					t.Fatal(err)
				}
				defer g.Close()
				res, err := g.Invoke(abi.OpHandle, RequestFrame(http.MethodGet, "/hello"))
				if err != nil {
					t.Fatal(err)
				}
				r, err := DecodeResponse(res)
				if err != nil {
					t.Fatal(err)
				}
				if r.Status != http.StatusOK || string(r.Body) != `{"message":"Hello from plugin!"}` {
					t.Fatalf("got %d %q", r.Status, r.Body)
				}
			})
		}
	}
}

// TestSpinInterrupted: a handler that loops forever (hostile's GET /loop)
// ends with ErrTimeout within its timeout, plus a margin for the epoch's
// granularity and a loaded machine, under either runtime's interruption.
func TestSpinInterrupted(t *testing.T) {
	const timeout = 300 * time.Millisecond
	opts := DefaultOptions()
	opts.Timeout = timeout
	tests := []struct {
		name  string
		start func(t *testing.T) *Guest
	}{
		{"wasmtime/epoch", func(t *testing.T) *Guest {
			w, err := NewWasmtime(fixtures.hostile, opts)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(w.Close)
			g, err := w.Start()
			if err != nil {
				t.Fatal(err)
			}
			return g
		}},
		{"wazero/instrumented", func(t *testing.T) *Guest {
			opts := opts
			opts.Instrument = true
			return hostileWazero(t, opts)
		}},
		{"wazero/close-on-done", func(t *testing.T) *Guest { return hostileWazero(t, opts) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := tt.start(t)
			defer g.Close()
			begin := time.Now()
			res, err := g.Invoke(abi.OpHandle, RequestFrame(http.MethodGet, "/loop"))
			took := time.Since(begin)
			if !errors.Is(err, ErrTimeout) {
				t.Fatalf("got %q, %v; want ErrTimeout", res, err)
			}
			t.Logf("interrupted after %s: %v", took, err)
			if took < timeout || took > timeout+timeout/epochSteps+time.Second {
				t.Fatalf("interrupted after %s; the timeout is %s", took, timeout)
			}
		})
	}
}

// hostileWazero starts the hostile fixture under wazero with opts.
func hostileWazero(t *testing.T, opts Options) *Guest {
	w, err := NewWazero(context.Background(), fixtures.hostile, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close(context.Background()) })
	g, err := w.Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return g
}
