package wasm

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"
	"weak"
)

type memSnapshot struct{ heap, rss int64 }

// measure collects garbage until finalizers (which unmap wazero's compiled
// code, and run on their own goroutine after a collection) have run, returns
// freed pages to the OS, and reads the heap in use and the process's
// resident set.
func measure() memSnapshot {
	for range 5 {
		runtime.GC()
		time.Sleep(20 * time.Millisecond)
	}
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	s := memSnapshot{heap: int64(ms.HeapInuse)}
	if b, err := os.ReadFile("/proc/self/statm"); err == nil {
		if f := strings.Fields(string(b)); len(f) > 1 {
			pages, _ := strconv.ParseInt(f[1], 10, 64)
			s.rss = pages * int64(os.Getpagesize())
		}
	}
	return s
}

// TestMemoryReturned checks that Close really unloads: the instances'
// linear memory (on the Go heap) and the compiled code (about 50 MiB mapped
// outside it for hello) are returned. It loads and closes twice: the second
// cycle must not keep more than the first, which is what a leak would show
// even under -race, where the race detector's shadow memory makes the
// resident set stay at its high-water mark.
//
// Margins: the heap in use comes back to within 1 MiB of where it started
// in practice (test bookkeeping, pools); 10 MiB leaves room for noise and is
// far below one instance's linear memory (about 50 MiB here). The resident
// set comes back to within a few MiB without -race; 16 MiB is allowed.
func TestMemoryReturned(t *testing.T) {
	const mib = 1 << 20
	r := newRuntime(t)
	before := measure()
	loaded, gone := loadServeClose(t, r)
	after := measure()
	_, gone2 := loadServeClose(t, r)
	after2 := measure()

	t.Logf("heap in use: before %d MiB, loaded %d MiB, after Close %d MiB, after a second cycle %d MiB",
		before.heap/mib, loaded.heap/mib, after.heap/mib, after2.heap/mib)
	t.Logf("resident:    before %d MiB, loaded %d MiB, after Close %d MiB, after a second cycle %d MiB (race detector: %v)",
		before.rss/mib, loaded.rss/mib, after.rss/mib, after2.rss/mib, raceEnabled)
	if !gone() || !gone2() {
		t.Error("a Plugin is still reachable after Close")
	}
	if loaded.heap-before.heap < 10*mib {
		t.Errorf("loading grew the heap by only %d MiB: the measure sees nothing", (loaded.heap-before.heap)/mib)
	}
	for _, a := range []memSnapshot{after, after2} {
		if grew := a.heap - before.heap; grew > 10*mib {
			t.Errorf("the heap kept %d MiB after Close", grew/mib)
		}
	}
	if before.rss == 0 {
		return // no /proc
	}
	if kept := after2.rss - after.rss; kept > 16*mib {
		t.Errorf("a second load and Close kept %d MiB more resident", kept/mib)
	}
	if kept := after.rss - before.rss; !raceEnabled && kept > 16*mib {
		t.Errorf("the process kept %d MiB resident after Close", kept/mib)
	}
}

// loadServeClose loads hello, serves 20 requests, measures, and closes it;
// in a function of its own so that nothing of the plugin stays on the
// test's stack.
func loadServeClose(t *testing.T, r *Runtime) (loaded memSnapshot, gone func() bool) {
	p, err := r.Load(context.Background(), fixtures.hello, Options{ID: "hello", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	start(t, p, nil)
	e := router(t, p)
	for range 20 {
		if w := do(e, http.MethodGet, "/hello", nil); w.Code != 200 {
			t.Fatal(w.Code)
		}
	}
	loaded = measure()
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	wp := weak.Make(p)
	return loaded, func() bool { return wp.Value() == nil }
}
