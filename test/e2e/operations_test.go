package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestRestartRestoresState kills the server with SIGKILL and starts it again
// with the plugins' sources gone and the module proxy off: both plugins come
// back from the local artifact cache, in the same states, with the same
// configuration, serving.
func TestRestartRestoresState(t *testing.T) {
	f := setup(t)
	data := t.TempDir()
	s := startServerAt(t, f, data)
	hello := copyPlugin(t, filepath.Join(f.root, "plugins/examples/hello"))
	seed := copyPlugin(t, filepath.Join(f.root, "test/e2e/testdata/plugins/seedstyle"))

	want(t, "load hello", s.api("POST", "/api/plugins/load", map[string]any{"source": hello}), 201, "")
	want(t, "load seed", s.api("POST", "/api/plugins/load", map[string]any{"source": seed}), 201, "")
	want(t, "disable seed", s.api("POST", "/api/plugins/seed-plugin/disable", nil), 200, "")
	want(t, "configure hello", s.api("PUT", "/api/plugins/"+helloID+"/configuration", map[string]any{"greeting": "Howdy"}), 200, "")
	want(t, "configure system", s.api("PUT", "/api/plugins/system/configuration", map[string]any{"health": map[string]any{"failure_threshold": 5}}), 200, "")
	if r := s.endpoint("GET", helloID, "/greet/ada"); r.body["message"] != "Howdy, ada!" {
		t.Fatalf("configured greeting: %s", r)
	}

	s.kill()
	for _, dir := range []string{hello, seed} {
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
	}
	s2 := startServerAt(t, f, data, "GOPROXY=off", "GOFLAGS=-mod=readonly")

	r := s2.api("GET", "/api/plugins", nil)
	if r.body["count"] != float64(2) {
		t.Fatalf("after restart: %s", r)
	}
	states := map[string]any{}
	for _, p := range r.body["plugins"].([]any) {
		m := p.(map[string]any)
		states[m["id"].(string)] = m["state"]
	}
	if states[helloID] != "active" || states["seed-plugin"] != "disabled" {
		t.Fatalf("states after restart: %v", states)
	}
	if r := s2.endpoint("GET", helloID, "/greet/ada"); r.status != 200 || r.body["message"] != "Howdy, ada!" {
		t.Fatalf("hello after restart: %s", r)
	}
	want(t, "seed after restart", s2.endpoint("GET", "seed-plugin", "/hello"), 503, "plugin_disabled")
	want(t, "enable seed", s2.api("POST", "/api/plugins/seed-plugin/enable", nil), 200, "")
	want(t, "seed enabled", s2.endpoint("GET", "seed-plugin", "/hello"), 200, "")
	r = s2.api("GET", "/api/plugins/system/configuration", nil)
	if h, _ := r.body["health"].(map[string]any); h["failure_threshold"] != float64(5) {
		t.Fatalf("system configuration after restart: %s", r)
	}
}

// TestHealthEventsStream watches a plugin go unhealthy at its own 1 s
// interval, and recover, on the Server-Sent Events stream.
func TestHealthEventsStream(t *testing.T) {
	f := setup(t)
	s := startServer(t, f)
	dir := copyPlugin(t, filepath.Join(f.root, "test/e2e/testdata/plugins/flaky"))

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", s.url+"/api/plugins/events?plugin_id=flaky", nil)
	req.Header.Set("Authorization", "Bearer "+s.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("events: %d %s", resp.StatusCode, ct)
	}
	stream := readEvents(resp)

	want(t, "load flaky", s.api("POST", "/api/plugins/load", map[string]any{"source": dir}), 201, "")
	next := func(what string) sseEvent {
		t.Helper()
		for {
			select {
			case e, ok := <-stream:
				if !ok {
					t.Fatalf("stream ended waiting for %s", what)
				}
				if e.Type == "progress" {
					continue // install steps; TestUploadInstall covers them
				}
				return e
			case <-ctx.Done():
				t.Fatalf("no event while waiting for %s", what)
			}
		}
	}
	expect := func(typ, to string) sseEvent {
		t.Helper()
		e := next(typ + " " + to)
		if e.Type != typ || (to != "" && e.Data.Details["to"] != to) {
			t.Fatalf("event %d: got %s %v; want %s %s", e.ID, e.Type, e.Data.Details, typ, to)
		}
		return e
	}
	loaded := expect("loaded", "")
	healthy := expect("health_changed", "healthy")

	want(t, "make sick", s.endpoint("POST", "flaky", "/sick"), 200, "")
	degraded := expect("health_changed", "degraded")
	unhealthy := expect("health_changed", "unhealthy")
	// Three failures at a 1 s interval: the default 30 s interval would
	// take a minute and a half.
	if gap := unhealthy.Data.Time.Sub(degraded.Data.Time); gap < 1500*time.Millisecond || gap > 4*time.Second {
		t.Fatalf("degraded to unhealthy took %s; want two 1 s intervals", gap)
	}
	r := s.api("GET", "/api/plugins/health/summary", nil)
	if counts, _ := r.body["counts"].(map[string]any); counts["unhealthy"] != float64(1) {
		t.Fatalf("summary: %s", r)
	}
	want(t, "flag policy keeps serving", s.endpoint("POST", "flaky", "/well"), 200, "")
	recovered := expect("health_changed", "healthy")
	for i, e := range []sseEvent{loaded, healthy, degraded, unhealthy, recovered} {
		if i > 0 && e.ID <= loaded.ID {
			t.Fatalf("event ids out of order")
		}
	}

	// The same events can be listed, and resumed after an id.
	r = s.api("GET", fmt.Sprintf("/api/plugins/events?plugin_id=flaky&since=%d", healthy.ID), nil)
	list, _ := r.body["events"].([]any)
	if len(list) != 3 {
		t.Fatalf("events since %d: %s", healthy.ID, r)
	}
}

type sseEvent struct {
	ID   uint64
	Type string
	Data struct {
		Time    time.Time      `json:"time"`
		Details map[string]any `json:"details"`
	}
}

// readEvents parses a Server-Sent Events body into a channel.
func readEvents(resp *http.Response) <-chan sseEvent {
	ch := make(chan sseEvent, 64)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(resp.Body)
		var e sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "id: "):
				e.ID, _ = strconv.ParseUint(strings.TrimPrefix(line, "id: "), 10, 64)
			case strings.HasPrefix(line, "event: "):
				e.Type = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				_ = json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &e.Data)
			case line == "" && e.Type != "":
				ch <- e
				e = sseEvent{}
			}
		}
	}()
	return ch
}

// TestMetricsCountExactly sends known traffic and finds the exact counts in
// /metrics and in the JSON metrics.
func TestMetricsCountExactly(t *testing.T) {
	f := setup(t)
	s := startServer(t, f)
	dir := copyPlugin(t, filepath.Join(f.root, "plugins/examples/hello"))
	want(t, "load", s.api("POST", "/api/plugins/load", map[string]any{"source": dir}), 201, "")
	for range 7 {
		want(t, "hello", s.endpoint("GET", helloID, "/hello"), 200, "")
	}
	for _, name := range []string{"a", "b", "c"} {
		want(t, "greet", s.endpoint("GET", helloID, "/greet/"+name), 200, "")
	}
	want(t, "405", s.endpoint("DELETE", helloID, "/hello"), 405, "")
	want(t, "404", s.endpoint("GET", helloID, "/missing"), 404, "")

	resp, err := http.Get(s.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	text := new(strings.Builder)
	if _, err := bufio.NewReader(resp.Body).WriteTo(text); err != nil {
		t.Fatal(err)
	}
	metric := func(name, labels string) float64 {
		t.Helper()
		re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name+"{"+labels+"}") + ` (\S+)$`)
		m := re.FindStringSubmatch(text.String())
		if m == nil {
			t.Fatalf("no %s{%s} in /metrics:\n%s", name, labels, grep(text.String(), name))
		}
		v, _ := strconv.ParseFloat(m[1], 64)
		return v
	}
	checks := []struct {
		name, labels string
		want         float64
	}{
		{"kubestellar_plugin_requests_total", `endpoint="/hello",method="GET",plugin_id="my-plugin",status="200"`, 7},
		{"kubestellar_plugin_requests_total", `endpoint="/greet/:name",method="GET",plugin_id="my-plugin",status="200"`, 3},
		{"kubestellar_plugin_requests_total", `endpoint="(unmatched)",method="DELETE",plugin_id="my-plugin",status="405"`, 1},
		{"kubestellar_plugin_requests_total", `endpoint="(unmatched)",method="GET",plugin_id="my-plugin",status="404"`, 1},
		{"kubestellar_plugin_request_duration_seconds_count", `endpoint="/hello",method="GET",plugin_id="my-plugin"`, 7},
		{"kubestellar_plugin_request_duration_seconds_bucket", `endpoint="/hello",method="GET",plugin_id="my-plugin",le="+Inf"`, 7},
		{"kubestellar_plugin_state", `plugin_id="my-plugin",state="active"`, 1},
		{"kubestellar_plugin_state", `plugin_id="my-plugin",state="disabled"`, 0},
	}
	for _, c := range checks {
		if got := metric(c.name, c.labels); got != c.want {
			t.Errorf("%s{%s} = %v; want %v", c.name, c.labels, got, c.want)
		}
	}

	r := s.api("GET", "/api/plugins/system/metrics", nil)
	per, _ := r.body["per_plugin"].(map[string]any)
	stats, _ := per[helloID].(map[string]any)
	if stats["requests"] != float64(12) || stats["client_errors"] != float64(2) || r.body["requests_total"] != float64(12) {
		t.Fatalf("JSON metrics disagree with /metrics: %s", r)
	}
	for _, e := range stats["endpoints"].([]any) {
		ep := e.(map[string]any)
		if ep["route"] == "/hello" {
			by := ep["by_status"].(map[string]any)
			lat := ep["latency_ms"].(map[string]any)
			if by["200"] != float64(7) || lat["p99"].(float64) <= 0 || lat["p50"].(float64) > lat["max"].(float64) {
				t.Fatalf("/hello in JSON: %v", ep)
			}
		}
	}
}

func grep(text, word string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, word) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
