package host

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"testing"
	"testing/synctest"
	"time"
)

// countsOf returns totals for requests of the given durations and statuses.
func countsOf(durations []time.Duration, statuses []int) totals {
	var s stats
	for i, d := range durations {
		s.record("GET", "/x", statuses[i%len(statuses)], false, d)
	}
	return s.totals()
}

func TestSampleOf(t *testing.T) {
	ms := time.Millisecond
	end := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	empty := totals{buckets: make([]uint64, len(LatencyBuckets())+1)}
	before := countsOf([]time.Duration{ms, ms}, []int{200})
	after := countsOf([]time.Duration{ms, ms, 40 * ms, 40 * ms, 40 * ms, 40 * ms}, []int{200, 200, 500, 404})
	cases := []struct {
		name      string
		prev, cur totals
		d         time.Duration
		want      MetricsSample
		// p50 bounds, in ms; the estimate lies within a histogram bucket.
		p50Low, p50High float64
	}{
		{name: "no traffic", prev: empty, cur: empty, d: 5 * time.Second,
			want: MetricsSample{Time: end, Seconds: 5}},
		{name: "first interval from zero", prev: empty, cur: before, d: 2 * time.Second,
			want:   MetricsSample{Time: end, Seconds: 2, Requests: 2, RequestsPerSecond: 1},
			p50Low: 0.5, p50High: 1},
		{name: "only the interval's requests", prev: before, cur: after, d: 4 * time.Second,
			// The four requests after "before": statuses 500, 404, 200, 200
			// (the status cycle continues), all 40 ms.
			want:   MetricsSample{Time: end, Seconds: 4, Requests: 4, ClientErrors: 1, ServerErrors: 1, RequestsPerSecond: 1},
			p50Low: 25, p50High: 40},
		{name: "counters that went back start from zero", prev: after, cur: before, d: time.Second,
			want:   MetricsSample{Time: end, Seconds: 1, Requests: 2, RequestsPerSecond: 2},
			p50Low: 0.5, p50High: 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := sampleOf(c.prev, c.cur, end, c.d)
			lat := got.Latency
			got.Latency = Latency{}
			if got != c.want {
				t.Fatalf("got %+v; want %+v", got, c.want)
			}
			if c.want.Requests == 0 {
				if lat != (Latency{}) {
					t.Fatalf("latency without requests: %+v", lat)
				}
				return
			}
			if lat.P50 < c.p50Low || lat.P50 > c.p50High || lat.P99 < lat.P50 || lat.Max < lat.P99 {
				t.Fatalf("latency %+v; want p50 in [%v, %v] and p50 <= p99 <= max", lat, c.p50Low, c.p50High)
			}
		})
	}
	// The interval's mean is its own, not the all-time mean.
	if got := sampleOf(before, after, end, time.Second).Latency.Mean; math.Abs(got-40) > 0.001 {
		t.Fatalf("interval mean = %v ms; want 40", got)
	}
}

func TestTrafficHistoryKeepsTheLatest(t *testing.T) {
	var th trafficHistory
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var s stats
	for i := range 5 {
		s.record("GET", "/x", 200, false, time.Millisecond)
		th.record(start.Add(time.Duration(i+1)*time.Second), s.totals(), time.Second, 3)
	}
	got := th.snapshot()
	if len(got) != 3 {
		t.Fatalf("kept %d samples; want 3", len(got))
	}
	for i, smp := range got {
		if want := start.Add(time.Duration(i+3) * time.Second); !smp.Time.Equal(want) || smp.Requests != 1 || smp.Seconds != 1 {
			t.Fatalf("sample %d: %+v; want one request in the second ending %s", i, smp, want)
		}
	}
}

// TestMetricsHistory runs on synctest's fake clock: a sample is taken at
// each interval's end, holding that interval's requests alone.
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
