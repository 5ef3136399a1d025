package wasm

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"sync"
	"testing"
)

// procStatus reads fields of /proc/self/status given in kB, in bytes; it
// is false without /proc.
func procStatus(fields ...string) ([]int64, bool) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return nil, false
	}
	out := make([]int64, len(fields))
	found := 0
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		name, rest, ok := bytes.Cut(sc.Bytes(), []byte(":"))
		if !ok {
			continue
		}
		for i, f := range fields {
			if string(name) == f {
				kb, _ := strconv.ParseInt(string(bytes.TrimSpace(bytes.TrimSuffix(bytes.TrimSpace(rest), []byte("kB")))), 10, 64)
				out[i] = kb << 10
				found++
			}
		}
	}
	return out, found == len(fields)
}

// resetPeak makes VmHWM, the peak resident set, start again from the
// current resident set (Linux's clear_refs "5").
func resetPeak() bool {
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
}

// BenchmarkRSS measures what the host process really spends on a busy
// sandboxed instance, against the instance's memory limit. Each iteration
// loads hostile with the limit and pool size of the case, makes every
// instance allocate and touch memory a MiB at a time until its limit stops
// it (GET /alloc: the worst a guest can do), and closes the plugin. It reports, in MiB:
//
//   - limit-MiB: the limit of one instance;
//   - plugin-MiB: what the loaded plugin costs besides its instances'
//     linear memory (compiled code, wazero's and the host's structures),
//     once per plugin whatever its pool size;
//   - busy-MiB/instance: the peak resident set during the requests, over
//     the resident set before the load, less plugin-MiB, per instance;
//   - overhead-MiB/instance: busy-MiB/instance less the limit;
//   - closed-MiB: what stays resident once Close has returned, over the
//     resident set before the load;
//   - closed-gc-MiB: the same after a further collection, which frees what
//     wazero's finalizers kept alive for one more cycle.
//
// Run it without -race (whose shadow memory doubles what is touched):
//
//	go test -run '^$' -bench BenchmarkRSS -benchtime 2x ./internal/runtime/wasm/
func BenchmarkRSS(b *testing.B) {
	if raceEnabled {
		b.Skip("the race detector's shadow memory distorts the resident set")
	}
	if _, ok := procStatus("VmRSS", "VmHWM"); !ok || !resetPeak() {
		b.Skip("needs /proc/self/status and /proc/self/clear_refs")
	}
	for _, c := range []struct {
		limitMiB, pool int
	}{{128, 1}, {512, 1}, {128, 4}} {
		b.Run(fmt.Sprintf("limit=%dMiB/pool=%d", c.limitMiB, c.pool), func(b *testing.B) {
			benchRSS(b, int64(c.limitMiB)<<20, c.pool)
		})
	}
}

func benchRSS(b *testing.B, limit int64, pool int) {
	const mib = 1 << 20
	r := newRuntime(b)
	var busy, fixed, closed, closedGC float64
	for b.Loop() {
		before := measure()
		// Not load(b, ...): its cleanup would keep every Plugin reachable.
		p, err := r.Load(context.Background(), fixtures.hostile, Options{ID: "hostile",
			Limits: Limits{Memory: limit, PoolSize: pool}, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			b.Fatal(err)
		}
		start(b, p, nil)
		e := router(b, p)
		loaded := measure()
		plugin := loaded.rss - before.rss - linearSize(p)
		resetPeak()
		var wg sync.WaitGroup
		for range pool {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if w := do(e, http.MethodGet, "/alloc?chunk_mb=1", nil); w.Code != http.StatusInternalServerError {
					b.Errorf("GET /alloc: %d %s; want a crash", w.Code, w.Body)
				}
			}()
		}
		wg.Wait()
		peak, _ := procStatus("VmHWM")
		if err := p.Close(context.Background()); err != nil {
			b.Fatal(err)
		}
		after, _ := procStatus("VmRSS")
		settled := measure()
		busy += float64(peak[0]-before.rss-plugin) / float64(pool)
		fixed += float64(plugin)
		closed += float64(after[0] - before.rss)
		closedGC += float64(settled.rss - before.rss)
	}
	n := float64(b.N) * mib
	b.ReportMetric(float64(limit)/mib, "limit-MiB")
	b.ReportMetric(fixed/n, "plugin-MiB")
	b.ReportMetric(busy/n, "busy-MiB/instance")
	b.ReportMetric(busy/n-float64(limit)/mib, "overhead-MiB/instance")
	b.ReportMetric(closed/n, "closed-MiB")
	b.ReportMetric(closedGC/n, "closed-gc-MiB")
}

// linearSize is the sum of the linear memories of p's live instances.
func linearSize(p *Plugin) int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	var n int64
	for in := range p.live {
		n += int64(in.mem.Size())
	}
	return n
}
