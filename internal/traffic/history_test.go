package traffic

import (
	"math"
	"testing"
	"time"

	apiv1 "github.com/kubestellar/ksplugins/api/v1"
)

// countsOf returns totals for requests of the given durations and statuses.
func countsOf(durations []time.Duration, statuses []int) totals {
	var s Counters
	for i, d := range durations {
		s.Record("GET", "/x", statuses[i%len(statuses)], false, d)
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
		want      apiv1.MetricsSample
		// p50 bounds, in ms; the estimate lies within a histogram bucket.
		p50Low, p50High float64
	}{
		{name: "no traffic", prev: empty, cur: empty, d: 5 * time.Second,
			want: apiv1.MetricsSample{Time: end, Seconds: 5}},
		{name: "first interval from zero", prev: empty, cur: before, d: 2 * time.Second,
			want:   apiv1.MetricsSample{Time: end, Seconds: 2, Requests: 2, RequestsPerSecond: 1},
			p50Low: 0.5, p50High: 1},
		{name: "only the interval's requests", prev: before, cur: after, d: 4 * time.Second,
			// The four requests after "before": statuses 500, 404, 200, 200
			// (the status cycle continues), all 40 ms.
			want:   apiv1.MetricsSample{Time: end, Seconds: 4, Requests: 4, ClientErrors: 1, ServerErrors: 1, RequestsPerSecond: 1},
			p50Low: 25, p50High: 40},
		{name: "counters that went back start from zero", prev: after, cur: before, d: time.Second,
			want:   apiv1.MetricsSample{Time: end, Seconds: 1, Requests: 2, RequestsPerSecond: 2},
			p50Low: 0.5, p50High: 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := sampleOf(c.prev, c.cur, end, c.d)
			lat := got.Latency
			got.Latency = apiv1.Latency{}
			if got != c.want {
				t.Fatalf("got %+v; want %+v", got, c.want)
			}
			if c.want.Requests == 0 {
				if lat != (apiv1.Latency{}) {
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
	var th History
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var s Counters
	for i := range 5 {
		s.Record("GET", "/x", 200, false, time.Millisecond)
		th.Record(start.Add(time.Duration(i+1)*time.Second), &s, time.Second, 3)
	}
	got := th.Snapshot()
	if len(got) != 3 {
		t.Fatalf("kept %d samples; want 3", len(got))
	}
	for i, smp := range got {
		if want := start.Add(time.Duration(i+3) * time.Second); !smp.Time.Equal(want) || smp.Requests != 1 || smp.Seconds != 1 {
			t.Fatalf("sample %d: %+v; want one request in the second ending %s", i, smp, want)
		}
	}
}
