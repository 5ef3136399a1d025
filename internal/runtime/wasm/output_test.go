package wasm

import (
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kubestellar/ksplugins/internal/pluginlog"
)

// TestOutputBounded floods the log through a guest's standard output and
// checks that only what the plugin's gate admits reaches the logger, cut
// to its line length, while the guest's last panic is still known.
func TestOutputBounded(t *testing.T) {
	logs := newLogRecorder()
	var changes []pluginlog.Change
	gate := pluginlog.NewGate(pluginlog.Limits{LinesPerSecond: 10, Burst: 20, MaxLineBytes: 100},
		func(c pluginlog.Change) { changes = append(changes, c) })
	p := load(t, newRuntime(t), fixtures.hostile, Options{ID: "hostile", Logger: slog.New(logs), Output: gate})
	start(t, p, nil)
	e := router(t, p)

	began := time.Now()
	const calls, lines = 4, 500
	for range calls {
		if w := do(e, http.MethodGet, "/spew?n="+strconv.Itoa(lines)+"&size=1000", nil); w.Code != http.StatusNoContent {
			t.Fatalf("spew: %d %s", w.Code, w.Body)
		}
	}
	elapsed := time.Since(began)

	spewed := logs.stdout("spew ")
	// The burst, less the lifecycle lines that came first, plus what the
	// rate refilled while the calls ran.
	if most := 20 + int(elapsed.Seconds()*10) + 1; len(spewed) == 0 || len(spewed) > most {
		t.Fatalf("%d spewed lines reached the log in %s; want between 1 and %d", len(spewed), elapsed, most)
	}
	for _, l := range logs.all() {
		if l.attrs["stream"] != "stdout" || !strings.HasPrefix(l.msg, "spew ") {
			continue
		}
		if len(l.msg) > 100 || l.attrs["truncated_bytes"] == "" {
			t.Fatalf("a spewed line of %d bytes reached the log, truncated_bytes %q; want it cut at 100 and marked", len(l.msg), l.attrs["truncated_bytes"])
		}
	}
	st := gate.Stats()
	if st.Dropped < calls*lines-uint64(len(spewed)) || !st.Dropping {
		t.Fatalf("gate stats %+v after %d lines; want the rest dropped", st, calls*lines)
	}
	if len(changes) != 1 || !changes[0].Dropping {
		t.Fatalf("changes %+v; want one start of dropping", changes)
	}

	// With the bucket (nearly) empty, a panic's line may not reach the log,
	// but the crash's report still names it.
	if w := do(e, http.MethodGet, "/panic", nil); w.Code != http.StatusInternalServerError {
		t.Fatalf("panic: %d %s", w.Code, w.Body)
	}
	waitFor(t, 10*time.Second, "the crash's report with the guest's panic", func() bool {
		for _, l := range logs.all() {
			if strings.Contains(l.attrs["err"], "hostile: asked to panic") {
				return true
			}
		}
		return false
	})
}
