package e2e

import (
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// logBytes is how many bytes the server has written to its standard output
// and error so far.
func (s *server) logBytes() int { return s.logs.Len() }

// promValue reads one sample from the server's /metrics, or fails.
func (s *server) promValue(name, labels string) float64 {
	s.t.Helper()
	resp, err := http.Get(s.url + "/metrics")
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	text, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name+"{"+labels+"}") + ` (\S+)$`)
	m := re.FindSubmatch(text)
	if m == nil {
		s.t.Fatalf("no %s{%s} in /metrics:\n%s", name, labels, grep(string(text), name))
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		s.t.Fatalf("%s{%s}: %v", name, labels, err)
	}
	return v
}

// TestLogFloodBounded has anonymous callers make a sandboxed plugin write
// about 100 MB of output, and checks that the server's log grows by no more
// than the plugin's limits allow (100 lines a second, bursts of 1000, 8 KiB
// a line by default), that one warning says the plugin's lines are being
// dropped, and that /metrics counts them.
func TestLogFloodBounded(t *testing.T) {
	f := setup(t)
	s := startServer(t, f)
	dir := copyPlugin(t, filepath.Join(f.root, "test/e2e/testdata/plugins/logflood"))
	r := s.api("POST", "/api/plugins/load", map[string]any{"source": dir})
	want(t, "load", r, 201, "")
	if r.body["tier"] != "sandboxed" {
		t.Fatalf("tier %v; want sandboxed", r.body["tier"])
	}

	const (
		callers  = 4
		calls    = 25   // each
		lines    = 1000 // a call
		lineSize = 1000 // bytes
		long     = 100000
	)
	before := s.logBytes()
	began := time.Now()
	var wg sync.WaitGroup
	var failed atomic.Int64
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range calls {
				resp, err := http.Get(fmt.Sprintf("%s/api/plugin-endpoints/logflood/flood?n=%d&size=%d", s.url, lines, lineSize))
				if err != nil {
					failed.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	// One more call writes a line of 100 kB: it may reach the log only cut.
	if r := s.endpoint("GET", "logflood", fmt.Sprintf("/flood?n=1&size=%d", long)); r.status != 200 {
		t.Fatalf("long line: %s", r)
	}
	elapsed := time.Since(began)
	if n := failed.Load(); n > 0 {
		t.Fatalf("%d of %d flood calls failed", n, callers*calls)
	}
	written := s.logBytes() - before
	produced := callers * calls * lines * (lineSize + 10)

	// What the limits admit: the burst, the rate over the flood, and a
	// record's own fields beside each line; a few lines of slack for the
	// server's own records.
	admitted := 1000 + int(elapsed.Seconds()*100) + 1
	bound := admitted*(lineSize+400) + 64<<10
	dropped := s.promValue("kubestellar_plugin_log_lines_dropped_total", `plugin_id="logflood"`)
	logged := s.promValue("kubestellar_plugin_log_lines_total", `plugin_id="logflood"`)
	t.Logf("flood: %d calls in %s, %d lines (%d bytes) written by the plugin; %v lines logged, %v dropped; the server's log grew by %d bytes (bound %d)",
		callers*calls+1, elapsed.Round(time.Millisecond), callers*calls*lines+1, produced+long, logged, dropped, written, bound)
	if written > bound {
		t.Fatalf("the server's log grew by %d bytes during the flood; want at most %d", written, bound)
	}
	if dropped < float64(callers*calls*lines-admitted) {
		t.Fatalf("kubestellar_plugin_log_lines_dropped_total = %v; want at least %d", dropped, callers*calls*lines-admitted)
	}
	if logged > float64(admitted) || logged < 1000 {
		t.Fatalf("kubestellar_plugin_log_lines_total = %v; want between the burst (1000) and %d", logged, admitted)
	}

	// The JSON metrics read the same counters.
	r = s.api("GET", "/api/plugins/system/metrics", nil)
	logs, _ := r.body["plugin_logs"].(map[string]any)
	if st, _ := logs["logflood"].(map[string]any); st["dropped"] != dropped || st["logged"] != logged || st["dropping"] != true {
		t.Fatalf("JSON plugin_logs %v; want logged %v, dropped %v, dropping, as in /metrics", logs["logflood"], logged, dropped)
	}

	text := s.cmd.Stderr.(*syncWriter).String()
	if n := strings.Count(text, "its lines are being dropped"); n != 1 {
		t.Fatalf("%d warnings that the plugin's lines are dropped; want exactly one", n)
	}
	// That warning is the log's record of an event, which the page and
	// the event stream see too.
	if !regexp.MustCompile(`level=WARN msg="plugin logflood writes more than its log limits [^\n]*event_type=error[^\n]*reason=log_limit`).MatchString(text) {
		t.Fatalf("no warning event for the dropped lines in the log:\n%s", grep(text, "log limits"))
	}
	for line := range strings.SplitSeq(text, "\n") {
		if len(line) > 8<<10+1024 {
			t.Fatalf("a log line of %d bytes; want each plugin line cut at 8 KiB", len(line))
		}
	}
	// The limits are part of the system configuration.
	r = s.api("PUT", "/api/plugins/system/configuration", map[string]any{"plugin_logs": map[string]any{"lines_per_second": 0}})
	want(t, "a zero rate", r, 400, "invalid_configuration")
	if !strings.Contains(r.raw, "plugin_logs.lines_per_second") {
		t.Fatalf("the refusal does not name the field: %s", r)
	}
	s.configure(map[string]any{"plugin_logs": map[string]any{"lines_per_second": 5, "burst": 5, "max_line_bytes": 1024}})
	time.Sleep(1100 * time.Millisecond) // refill the (now smaller) bucket
	before = s.logBytes()
	if r := s.endpoint("GET", "logflood", "/flood?n=100&size=4000"); r.status != 200 {
		t.Fatalf("flood after reconfiguring: %s", r)
	}
	if written := s.logBytes() - before; written > 6*(1024+400) {
		t.Fatalf("after lowering the limits the log grew by %d bytes; want at most 6 lines of 1 KiB", written)
	}
}
