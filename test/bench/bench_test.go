// Package bench measures the plugin host: the same endpoint served by a
// plain gin handler, a native plugin and a sandboxed plugin, through the
// host's real dispatch path. Run with `make bench` (the host must be built
// with -trimpath for native plugins to load, as the Makefile does).
package bench

import (
	"bytes"
	"context"
	apiv1 "github.com/kubestellar/ksplugins/api/v1"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/kubestellar/ksplugins"
	"github.com/kubestellar/ksplugins/internal/api"
	"github.com/kubestellar/ksplugins/internal/build"
	"github.com/kubestellar/ksplugins/internal/config"
	"github.com/kubestellar/ksplugins/internal/events"
	"github.com/kubestellar/ksplugins/internal/host"
	"github.com/kubestellar/ksplugins/internal/runtime"
	"github.com/kubestellar/ksplugins/internal/runtime/native"
	"github.com/kubestellar/ksplugins/internal/runtime/wasm"
	"github.com/kubestellar/ksplugins/internal/source"
	"github.com/kubestellar/ksplugins/internal/store/sqlite"
	"github.com/kubestellar/ksplugins/internal/toolchain"
)

// newHost is a complete host in a temporary folder, with a build cache
// that lives as long as the benchmark binary's temp folder.
func newHost(b *testing.B, cache string) *host.Host {
	b.Helper()
	return makeHost(b, cache, false).host
}

// newWatchingHost is newHost watching plugin folders.
func newWatchingHost(b *testing.B, cache string) *host.Host {
	b.Helper()
	return makeHost(b, cache, true).host
}

// rig is a host with the store and event bus it was made with, which a
// server over it needs too.
type rig struct {
	host   *host.Host
	store  *sqlite.DB
	events *events.Bus
}

func makeHost(b *testing.B, cache string, watch bool) rig {
	b.Helper()
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	target, err := toolchain.Host()
	if err != nil {
		b.Fatal(err)
	}
	builder, err := build.New(build.Options{CacheDir: cache, SDK: ksplugins.SDKSource(), Target: target, Logger: log})
	if err != nil {
		b.Fatal(err)
	}
	db, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	rt, err := wasm.NewRuntime(ctx, filepath.Join(cache, "wasm"))
	if err != nil {
		b.Fatal(err)
	}
	sources, err := source.New(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	bus := events.NewBus(events.Options{Logger: log})
	h := host.New(host.Options{
		Store: db, Events: bus, Builder: builder,
		Runtimes: []runtime.Runtime{native.NewRuntime(native.NewLoader(filepath.Join(cache, "loaded"), target)), rt},
		Sources:  sources, Logger: log,
		Watch: watch,
	})
	b.Cleanup(func() {
		h.Close(ctx)
		_ = rt.Close(ctx)
		_ = db.Close()
	})
	return rig{host: h, store: db, events: bus}
}

// helloCopy copies the hello example, sandboxed if asked.
func helloCopy(b *testing.B, sandboxed bool) string {
	b.Helper()
	dir := filepath.Join(b.TempDir(), "hello")
	if err := os.CopyFS(dir, os.DirFS("../../plugins/examples/hello")); err != nil {
		b.Fatal(err)
	}
	if sandboxed {
		f, err := os.OpenFile(filepath.Join(dir, "plugin.yaml"), os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		if _, err := f.WriteString("\nsecurity:\n  sandboxed: true\n"); err != nil {
			b.Fatal(err)
		}
	}
	return dir
}

// cacheDir is shared by every benchmark of one run, so each tier's build
// and compilation happen once.
func cacheDir(b *testing.B) string {
	b.Helper()
	dir := filepath.Join(os.TempDir(), "ksplugins-bench-cache")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	return dir
}

// BenchmarkRequest serves GET /hello: a plain gin handler, then the same
// handler as a native and as a sandboxed plugin through the host.
func BenchmarkRequest(b *testing.B) {
	gin.SetMode(gin.ReleaseMode)
	b.Run("plain-gin", func(b *testing.B) {
		e := gin.New()
		e.GET("/hello", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"message": "Hello from plugin!"}) })
		req := httptest.NewRequest("GET", "/hello", nil)
		measure(b, func() {
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, req)
			if rec.Code != 200 {
				b.Fatal(rec.Code)
			}
		})
	})
	for _, tier := range []string{"native", "sandboxed"} {
		b.Run(tier, func(b *testing.B) {
			h := newHost(b, cacheDir(b))
			if _, err := h.Load(context.Background(), host.LoadRequest{LoadRequest: apiv1.LoadRequest{Source: helloCopy(b, tier == "sandboxed")}}); err != nil {
				b.Fatal(err)
			}
			req := httptest.NewRequest("GET", "/api/plugin-endpoints/my-plugin/hello", nil)
			measure(b, func() {
				rec := httptest.NewRecorder()
				h.ServeEndpoint(rec, req, "my-plugin", "/hello")
				if rec.Code != 200 {
					b.Fatal(rec.Code, rec.Body.String())
				}
			})
		})
	}
	// The whole server's handler, as BenchmarkThroughput's clients reach
	// it: the server's router and its catch-all route before the host,
	// with the headers Go's HTTP client sends.
	b.Run("native-server", func(b *testing.B) {
		r := makeHost(b, cacheDir(b), false)
		if _, err := r.host.Load(context.Background(), host.LoadRequest{LoadRequest: apiv1.LoadRequest{Source: helloCopy(b, false)}}); err != nil {
			b.Fatal(err)
		}
		srv, err := api.New(api.Options{Host: r.host, Store: r.store, Events: r.events, InsecureLocal: true,
			System: config.DefaultSystem(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			b.Fatal(err)
		}
		handler := srv.Handler()
		req := httptest.NewRequest("GET", "/api/plugin-endpoints/my-plugin/hello", nil)
		req.Header.Set("User-Agent", "Go-http-client/1.1")
		req.Header.Set("Accept-Encoding", "gzip")
		hello := []byte(`{"message":"Hello from plugin!"}`)
		measure(b, func() {
			rec := httptest.NewRecorder()
			handler.ServeHTTP(rec, req)
			if rec.Code != 200 || !bytes.Equal(rec.Body.Bytes(), hello) {
				b.Fatal(rec.Code, rec.Body.String())
			}
		})
	})
}

// measure runs serve b.N times and reports, beside the time and the
// allocations, the process's CPU time per request (cpu-ns/op, the garbage
// collector's included): on a shared machine the time per request counts
// other work's turns on the cores, the CPU time much less.
func measure(b *testing.B, serve func()) {
	b.Helper()
	b.ReportAllocs()
	start := cpuTime(b)
	for b.Loop() {
		serve()
	}
	b.ReportMetric(float64((cpuTime(b)-start).Nanoseconds())/float64(b.N), "cpu-ns/op")
}

// cpuTime is the CPU time the process has used, user and system.
func cpuTime(b *testing.B) time.Duration {
	b.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatalf("read CPU time: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkLoad loads the hello example from its folder, the build cached:
// what an operator waits for on a reload with nothing to compile.
func BenchmarkLoad(b *testing.B) {
	for _, tier := range []string{"native", "sandboxed"} {
		b.Run(tier, func(b *testing.B) {
			h := newHost(b, cacheDir(b))
			dir := helloCopy(b, tier == "sandboxed")
			ctx := context.Background()
			if _, err := h.Load(ctx, host.LoadRequest{LoadRequest: apiv1.LoadRequest{Source: dir}}); err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if _, err := h.Reload(ctx, "my-plugin"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSaveToServing is the author's loop: the time from saving a
// changed handler to the new code answering, with the host watching the
// folder (as `ksplugins dev` does) and the Go build cache warm.
func BenchmarkSaveToServing(b *testing.B) {
	for _, tier := range []string{"native", "sandboxed"} {
		b.Run(tier, func(b *testing.B) {
			h := newWatchingHost(b, cacheDir(b))
			dir := helloCopy(b, tier == "sandboxed")
			ctx := context.Background()
			if _, err := h.Load(ctx, host.LoadRequest{LoadRequest: apiv1.LoadRequest{Source: dir, Watch: true}}); err != nil {
				b.Fatal(err)
			}
			main := filepath.Join(dir, "main.go")
			reply := "Hello from plugin!"
			n := 0
			for b.Loop() {
				n++
				next := "Hello from save " + strconv.Itoa(n) + " at " + strconv.FormatInt(time.Now().UnixNano(), 10)
				src, err := os.ReadFile(main)
				if err != nil {
					b.Fatal(err)
				}
				if err := os.WriteFile(main, bytes.Replace(src, []byte(reply), []byte(next), 1), 0o644); err != nil {
					b.Fatal(err)
				}
				for !strings.Contains(get(h), next) {
					time.Sleep(5 * time.Millisecond)
				}
				reply = next
			}
		})
	}
}

// BenchmarkSwapPause reloads a plugin while clients call it, and reports
// the slowest request seen during the reloads: the pause a swap costs the
// clients (the instance pointer is swapped; requests are never held).
func BenchmarkSwapPause(b *testing.B) {
	for _, tier := range []string{"native", "sandboxed"} {
		b.Run(tier, func(b *testing.B) {
			h := newHost(b, cacheDir(b))
			ctx := context.Background()
			if _, err := h.Load(ctx, host.LoadRequest{LoadRequest: apiv1.LoadRequest{Source: helloCopy(b, tier == "sandboxed")}}); err != nil {
				b.Fatal(err)
			}
			stop := make(chan struct{})
			var wg sync.WaitGroup
			var mu sync.Mutex
			var slowest time.Duration
			for range 2 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						select {
						case <-stop:
							return
						default:
						}
						start := time.Now()
						if !strings.Contains(get(h), "Hello") {
							b.Error("a request failed during a swap")
						}
						if d := time.Since(start); d > 0 {
							mu.Lock()
							slowest = max(slowest, d)
							mu.Unlock()
						}
					}
				}()
			}
			for b.Loop() {
				if _, err := h.Reload(ctx, "my-plugin"); err != nil {
					b.Fatal(err)
				}
			}
			close(stop)
			wg.Wait()
			b.ReportMetric(float64(slowest.Microseconds()), "slowest-request-µs")
		})
	}
}

// get calls the hello endpoint through the host.
func get(h *host.Host) string {
	rec := httptest.NewRecorder()
	h.ServeEndpoint(rec, httptest.NewRequest("GET", "/api/plugin-endpoints/my-plugin/hello", nil), "my-plugin", "/hello")
	return rec.Body.String()
}
