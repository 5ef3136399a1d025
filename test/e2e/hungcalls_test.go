package e2e

import (
	"context"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestHungPluginCallsDoNotPileUp: a plugin whose GetMetrics and GetStatus
// hang is scraped and polled 50 times over each route that calls them. The
// first call of each method is abandoned at its time limit; the later ones
// answer at once that the previous call is still running, and the server's
// goroutine count stays put instead of growing by one per scrape.
func TestHungPluginCallsDoNotPileUp(t *testing.T) {
	const scrapes = 50
	f := setup(t)
	s := startServer(t, f)
	dir := copyPlugin(t, filepath.Join(f.root, "test/e2e/testdata/plugins/hungcalls"))
	want(t, "load", s.api("POST", "/api/plugins/load", map[string]any{"source": dir}), 201, "")
	want(t, "hang", s.endpoint("POST", "hungcalls", "/hang"), 200, "")

	// The first scrape waits out the 2 s limit on GetMetrics and leaves the
	// hung call behind.
	if r := s.api("GET", "/metrics", nil); r.status != 200 {
		t.Fatalf("first scrape: %s", r)
	}
	// The first status call would wait 30 s; its client gives up sooner,
	// which ends the wait but not the hung GetStatus.
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", s.url+"/api/plugins/hungcalls/status", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+s.token)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("first status call answered %d while GetStatus hangs", resp.StatusCode)
	}

	before := goroutines(t, s)
	routes := []struct {
		path string
		// stillRunning is what the reply says while the call hangs.
		stillRunning func(r reply) bool
	}{
		// Prometheus has no place for the error: the plugin's own
		// figures are missing from the scrape.
		{"/metrics", func(r reply) bool { return !strings.Contains(r.raw, `name="answered"`) }},
		{"/api/plugins/system/metrics", func(r reply) bool {
			return strings.Contains(r.raw, "GetMetrics: the previous call is still running")
		}},
		{"/api/plugins/hungcalls/status", func(r reply) bool {
			return strings.Contains(r.raw, "GetStatus: the previous call is still running")
		}},
	}
	for _, rt := range routes {
		for i := range scrapes {
			start := time.Now()
			r := s.api("GET", rt.path, nil)
			if took := time.Since(start); r.status != 200 || took > time.Second {
				t.Fatalf("GET %s #%d: %d after %s; want 200 at once", rt.path, i+1, r.status, took)
			}
			if !rt.stillRunning(r) {
				t.Fatalf("GET %s #%d does not report the hung call: %s", rt.path, i+1, r)
			}
		}
	}
	after := goroutines(t, s)
	t.Logf("server goroutines: %d before, %d after %d scrapes of each route", before, after, scrapes)
	if after-before > 5 {
		t.Errorf("server goroutines grew by %d; want at most 5", after-before)
	}

	// Once the plugin answers, the calls reach it again.
	want(t, "free", s.endpoint("POST", "hungcalls", "/free"), 200, "")
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := s.api("GET", "/api/plugins/hungcalls/status", nil)
		m := s.api("GET", "/api/plugins/system/metrics", nil)
		st, _ := r.body["status"].(map[string]any)
		if st["health"] == "healthy" && strings.Contains(m.raw, `"answered":1`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after /free the calls still fail: status %s; metrics %s", r, m)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// goroutines reads the server's go_goroutines from /metrics.
func goroutines(t *testing.T, s *server) int {
	t.Helper()
	r := s.api("GET", "/metrics", nil)
	for line := range strings.SplitSeq(r.raw, "\n") {
		if v, ok := strings.CutPrefix(line, "go_goroutines "); ok {
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("go_goroutines %q: %v", v, err)
			}
			return int(n)
		}
	}
	t.Fatalf("no go_goroutines in /metrics: %.500s", r.raw)
	return 0
}
