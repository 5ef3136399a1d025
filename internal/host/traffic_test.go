package host

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"testing/synctest"
	"time"
)

func TestMetricsHistory(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const interval = 20 * time.Millisecond
		start := time.Now()
		h := newTestHost(t, func(o *Options) { o.SampleInterval = interval })
		if _, err := h.MetricsHistory("absent"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("unknown plugin: %v", err)
		}
		add(t, h, &testPlugin{id: "sampled", reply: "hi"})
		for range 3 {
			if r := serve(h, "GET", "sampled", "/hello"); r.status != 200 {
				t.Fatalf("hello: %+v", r)
			}
		}
		time.Sleep(2 * interval)
		synctest.Wait()
		hist, err := h.MetricsHistory("sampled")
		if err != nil {
			t.Fatal(err)
		}
		if hist.IntervalSeconds != 0.02 || hist.Stats.Requests != 3 {
			t.Fatalf("interval %v s, counters %+v; want 0.02 s and 3 requests", hist.IntervalSeconds, hist.Stats)
		}
		var got []string
		for _, s := range hist.Samples {
			got = append(got, fmt.Sprintf("%s %gs %d", s.Time.Sub(start), s.Seconds, s.Requests))
		}
		// The requests fall in the first interval; the second has none.
		if want := []string{"20ms 0.02s 3", "40ms 0.02s 0"}; !slices.Equal(got, want) {
			t.Fatalf("samples (end, length, requests) %q; want %q", got, want)
		}
	})
}
