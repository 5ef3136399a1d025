package host

import (
	"errors"
	"testing"
	"time"
)

func TestMetricsHistory(t *testing.T) {
	h := newTestHost(t, func(o *Options) { o.SampleInterval = 20 * time.Millisecond })
	if _, err := h.MetricsHistory("absent"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown plugin: %v", err)
	}
	add(t, h, &testPlugin{id: "sampled", reply: "hi"})
	for range 3 {
		if r := serve(h, "GET", "sampled", "/hello"); r.status != 200 {
			t.Fatalf("hello: %+v", r)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		hist, err := h.MetricsHistory("sampled")
		if err != nil {
			t.Fatal(err)
		}
		var total uint64
		for _, s := range hist.Samples {
			total += s.Requests
		}
		if total == 3 {
			if hist.IntervalSeconds != 0.02 || hist.Stats.Requests != 3 {
				t.Fatalf("interval %v s, counters %+v; want 0.02 s and 3 requests", hist.IntervalSeconds, hist.Stats)
			}
			return
		}
		if total > 3 || time.Now().After(deadline) {
			t.Fatalf("samples count %d requests; want 3: %+v", total, hist.Samples)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
