package wasm

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/kubestellar/ksplugins/internal/runtime/wasm/interrupt"
	"github.com/kubestellar/ksplugins/sdk/wasmguest/abi"
)

// BenchmarkRequest serves hello's GET /hello through a gin engine into an
// httptest recorder: sandboxed, and the same handler code as a plain gin
// handler for reference. wasm-boundary is the guest call alone (frame in,
// gin inside the guest, frame out), without the host's gin and recorder.
func BenchmarkRequest(b *testing.B) {
	b.Run("wasm", func(b *testing.B) {
		r := newRuntime(b)
		p := load(b, r, fixtures.hello, Options{ID: "hello"})
		start(b, p, nil)
		e := router(b, p)
		benchServe(b, e)
	})
	b.Run("wasm-boundary", func(b *testing.B) {
		r := newRuntime(b)
		p := load(b, r, fixtures.hello, Options{ID: "hello"})
		start(b, p, nil)
		frame := abi.AppendString(nil, http.MethodGet)
		frame = abi.AppendString(frame, "/hello")
		frame = abi.AppendString(frame, "")
		frame = abi.AppendString(frame, "example.com")
		frame = abi.AppendString(frame, "192.0.2.1:1234")
		frame = abi.AppendHeader(frame, http.Header{"Accept": {"*/*"}})
		frame = abi.AppendBytes(frame, nil)
		in := <-p.free
		defer func() { p.free <- in }()
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			res, err := in.invoke(p.ctx, abi.OpHandle, frame)
			if err != nil || res[0] != abi.KindResponse {
				b.Fatal(err)
			}
		}
	})
	b.Run("plain-gin", func(b *testing.B) {
		e := gin.New()
		e.GET("/hello", func(c *gin.Context) {
			c.JSON(http.StatusOK, gin.H{"message": "Hello from plugin!"})
		})
		benchServe(b, e)
	})
}

// BenchmarkInstrument is what every sandboxed load spends reading and
// rewriting hello's module (package interrupt) before wazero sees it.
func BenchmarkInstrument(b *testing.B) {
	b.SetBytes(int64(len(fixtures.hello)))
	for b.Loop() {
		if _, err := interrupt.Instrument(fixtures.hello); err != nil {
			b.Fatal(err)
		}
	}
}

func benchServe(b *testing.B, e *gin.Engine) {
	req := httptest.NewRequest(http.MethodGet, "/hello", nil)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		w := httptest.NewRecorder()
		e.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatal(w.Code, w.Body.String())
		}
	}
}

// BenchmarkLoad is NewRuntime, Load (one instance started and asked for its
// metadata) and Close: cold compiles into a new cache directory every time,
// warm reads the cache the tests share.
func BenchmarkLoad(b *testing.B) {
	ctx := context.Background()
	quiet := slog.New(slog.DiscardHandler)
	b.Run("cold", func(b *testing.B) {
		for b.Loop() {
			dir, err := os.MkdirTemp(fixtures.dir, "cold-")
			if err != nil {
				b.Fatal(err)
			}
			benchLoad(b, ctx, filepath.Join(dir, "cache"), quiet)
			_ = os.RemoveAll(dir)
		}
	})
	b.Run("warm", func(b *testing.B) {
		for b.Loop() {
			benchLoad(b, ctx, fixtures.cache, quiet)
		}
	})
}

func benchLoad(b *testing.B, ctx context.Context, dir string, log *slog.Logger) {
	r, err := NewRuntime(ctx, dir)
	if err != nil {
		b.Fatal(err)
	}
	p, err := r.Load(ctx, fixtures.hello, Options{ID: "hello", Logger: log})
	if err != nil {
		b.Fatal(err)
	}
	if err := p.Close(ctx); err != nil {
		b.Fatal(err)
	}
	if err := r.Close(ctx); err != nil {
		b.Fatal(err)
	}
}
