package wasm

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// ticks asks hostile how many times its ticker ticked.
func ticks(t *testing.T, e http.Handler, query string) int {
	t.Helper()
	w := do(e, http.MethodGet, "/tick"+query, nil)
	n, err := strconv.Atoi(w.Body.String())
	if w.Code != http.StatusOK || err != nil {
		t.Fatalf("GET /tick%s: %d %q", query, w.Code, w.Body)
	}
	return n
}

// idle takes p's one instance from the pool, for a look at its state, and
// gives it back when the test ends.
func idle(t *testing.T, p *Plugin) *instance {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	in, err := p.acquire(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

// TestBackgroundTurns: a goroutine a request started goes on ticking with
// no further requests, and requests that arrive meanwhile are served within
// about a turn.
func TestBackgroundTurns(t *testing.T) {
	r := newRuntime(t)
	p := load(t, r, fixtures.hostile, Options{ID: "hostile"})
	start(t, p, nil)
	e := router(t, p)
	if !p.turns {
		t.Fatal("the module's ksp_background was not found")
	}
	if w := do(e, http.MethodGet, "/tick?start=1", nil); w.Code != http.StatusAccepted {
		t.Fatalf("start: %d %q", w.Code, w.Body)
	}
	time.Sleep(500 * time.Millisecond)
	// 500 ms hold five turns of 20 ms; the ticker ticks about once in each.
	// Without turns it would not have ticked at all.
	if n := ticks(t, e, ""); n < 2 {
		t.Fatalf("%d ticks after 500 ms without requests, want at least 2", n)
	}

	// A request waits for at most the turn in progress: turnBudget, and
	// what the race detector adds to the host's side of a call.
	const bound = turnBudget + 100*time.Millisecond
	var worst time.Duration
	for i := range 40 {
		time.Sleep(time.Duration(i%7) * 5 * time.Millisecond) // land at every point of the cycle
		begin := time.Now()
		ticks(t, e, "")
		worst = max(worst, time.Since(begin))
	}
	if worst > bound {
		t.Fatalf("a request during background work took %s, want at most %s", worst, bound)
	}
	t.Logf("slowest request during background work: %s", worst)

	// A tick whose timer fired before the stop may still be counted.
	ticks(t, e, "?stop=1")
	time.Sleep(2 * (turnBudget + turnGap))
	before := ticks(t, e, "")
	time.Sleep(3 * (turnBudget + turnGap))
	if n := ticks(t, e, ""); n != before {
		t.Fatalf("the ticker ticked after it was stopped: %d, then %d", before, n)
	}
	in := idle(t, p)
	defer p.release(in)
	if in.background {
		t.Fatal("the instance still has background work after its goroutine ended")
	}
}

// TestBackgroundEnds: a goroutine that ends by itself is run to its end,
// and the turns stop when it has.
func TestBackgroundEnds(t *testing.T) {
	r := newRuntime(t)
	p := load(t, r, fixtures.hostile, Options{ID: "hostile"})
	start(t, p, nil)
	e := router(t, p)
	do(e, http.MethodGet, "/tick?start=1&n=3", nil)
	waitFor(t, 5*time.Second, "three ticks", func() bool { return ticks(t, e, "") == 3 })
	waitFor(t, 5*time.Second, "the background work to end", func() bool {
		in := idle(t, p)
		defer p.release(in)
		return !in.background
	})
}

// TestBackgroundSpin: a background goroutine that never yields hangs its
// turn; the turn times out, the instance is replaced and the plugin serves
// on.
func TestBackgroundSpin(t *testing.T) {
	r := newRuntime(t)
	rec := newLogRecorder()
	faults := make(chan error, 4)
	p := load(t, r, fixtures.hostile, Options{ID: "hostile", Limits: Limits{Timeout: 300 * time.Millisecond}, Logger: slog.New(rec),
		Fault: func(cause error) { faults <- cause }})
	start(t, p, nil)
	e := router(t, p)
	if w := do(e, http.MethodGet, "/spin", nil); w.Code != http.StatusAccepted {
		t.Fatalf("spin: %d %q", w.Code, w.Body)
	}
	waitFor(t, 10*time.Second, "the hung turn's instance to be discarded", func() bool {
		for _, l := range rec.all() {
			if l.msg == "sandboxed instance discarded" && strings.Contains(l.attrs["err"], "a background turn did not return within 300ms") {
				return true
			}
		}
		return false
	})
	// The host was told, to publish it.
	select {
	case err := <-faults:
		if !errors.Is(err, ErrTimeout) {
			t.Fatalf("fault: %v, want ErrTimeout", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Fault was not called")
	}
	// The replacement serves, with its own state.
	waitFor(t, 10*time.Second, "the replacement to serve", func() bool {
		return do(e, http.MethodGet, "/state", nil).Body.String() == "1"
	})
}

// TestBackgroundStops: unloading stops turns, and Close leaves no
// goroutine behind.
func TestBackgroundStops(t *testing.T) {
	goroutines := runtime.NumGoroutine()
	r := newRuntime(t)
	p := load(t, r, fixtures.hostile, Options{ID: "hostile"})
	start(t, p, nil)
	e := router(t, p)
	do(e, http.MethodGet, "/tick?start=1", nil)
	waitFor(t, 5*time.Second, "a tick", func() bool { return ticks(t, e, "") > 0 })

	if err := p.OnUnload(); err != nil {
		t.Fatal(err)
	}
	before := ticks(t, e, "")
	time.Sleep(3 * (turnBudget + turnGap))
	// Calls still let the ticker run while they wait, which /tick does
	// not: nothing may have ticked.
	if n := ticks(t, e, ""); n != before {
		t.Fatalf("ticks after OnUnload: %d, then %d", before, n)
	}

	begin := time.Now()
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(begin); d > 2*time.Second {
		t.Fatalf("Close took %s", d)
	}
	if err := r.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the plugin's goroutines to end", func() bool {
		return runtime.NumGoroutine() <= goroutines
	})
}

// TestBackgroundCloseDuringTurn: Close interrupts a turn in progress.
func TestBackgroundCloseDuringTurn(t *testing.T) {
	r := newRuntime(t)
	p := load(t, r, fixtures.hostile, Options{ID: "hostile", Limits: Limits{Timeout: 30 * time.Second}})
	start(t, p, nil)
	e := router(t, p)
	do(e, http.MethodGet, "/spin", nil)
	waitFor(t, 5*time.Second, "the turn to take the instance", func() bool { return len(p.free) == 0 })
	begin := time.Now()
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(begin); d > 5*time.Second {
		t.Fatalf("Close during a hung turn took %s", d)
	}
}

// TestBackgroundOlderModule: a module without ksp_background, as an older
// SDK built it, gets no turns and serves as before.
func TestBackgroundOlderModule(t *testing.T) {
	r := newRuntime(t)
	p := load(t, r, fixtures.older, Options{ID: "older"})
	start(t, p, nil)
	e := router(t, p)
	if p.turns {
		t.Fatal("a module without ksp_background gets turns")
	}
	do(e, http.MethodGet, "/tick?start=1", nil)
	time.Sleep(300 * time.Millisecond)
	if n := ticks(t, e, ""); n != 0 {
		t.Fatalf("%d ticks without turns: the goroutine ran outside a call", n)
	}
	if w := do(e, http.MethodGet, "/state", nil); w.Body.String() != "1" {
		t.Fatalf("/state: %d %q", w.Code, w.Body)
	}
}

// TestBackgroundStream: a watch a background goroutine opens ends with the
// turn that opened it, rather than holding the instance until it times
// out; the host closes it and the instance serves on.
func TestBackgroundStream(t *testing.T) {
	r := newRuntime(t)
	p := load(t, r, fixtures.hostile, Options{ID: "hostile", Limits: Limits{Timeout: 2 * time.Second}})
	k := &fakeKube{contexts: []string{"its1"}}
	p.SetKubernetes(k)
	start(t, p, nil)
	e := router(t, p)
	do(e, http.MethodGet, "/state", nil)
	// The fake sends one event, then nothing, as a quiet API server does:
	// without the turn's end, the next read would wait until the timeout.
	w := do(e, http.MethodGet, "/kube?bg=1&context=its1&path="+url.QueryEscape("/api/v1/pods?watch=true&count=1"), nil)
	if w.Code != http.StatusAccepted {
		t.Fatalf("bg watch: %d %q", w.Code, w.Body)
	}
	var report string
	waitFor(t, 5*time.Second, "the background watch to end", func() bool {
		report = do(e, http.MethodGet, "/kube?report=1", nil).Body.String()
		return report != ""
	})
	if !strings.HasPrefix(report, "1 lines, then: ") {
		t.Fatalf("the background watch ended with %q, want one event and then the stream's end", report)
	}
	waitFor(t, 5*time.Second, "the host to close the watch", func() bool { return k.closed.Load() == 1 })
	if got := do(e, http.MethodGet, "/state", nil).Body.String(); got != "2" {
		t.Fatalf("/state: %q: the instance was replaced", got)
	}
}

func TestStreamsCap(t *testing.T) {
	var s streams
	for i := range maxOpenStreams {
		if s.full() {
			t.Fatalf("stream %d refused", i+1)
		}
		s.add(io.NopCloser(nil), 1)
	}
	if !s.full() {
		t.Fatalf("stream %d accepted past the cap", maxOpenStreams+1)
	}
	s.closeAll()
	if s.full() {
		t.Fatal("a stream refused after every one was closed")
	}
}
