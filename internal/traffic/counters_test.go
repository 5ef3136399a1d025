package traffic

import (
	"math"
	"testing"
	"time"
)

func TestStats(t *testing.T) {
	var s Counters
	for i := range 100 {
		s.Record("GET", "/a", 200, false, time.Duration(i+1)*time.Millisecond) // 1..100 ms
	}
	s.Record("GET", "/a", 404, false, time.Millisecond)
	s.Record("POST", "/b", 500, true, 3*time.Second)
	snap := s.Snapshot()
	if snap.Requests != 102 || snap.ClientErrors != 1 || snap.ServerErrors != 1 || snap.Panics != 1 {
		t.Fatalf("totals: %+v", snap)
	}
	if len(snap.Endpoints) != 2 || snap.Endpoints[0].Route != "/a" || snap.Endpoints[1].Method != "POST" {
		t.Fatalf("endpoints: %+v", snap.Endpoints)
	}
	a := snap.Endpoints[0]
	if a.ByStatus["200"] != 100 || a.ByStatus["404"] != 1 {
		t.Fatalf("by status: %v", a.ByStatus)
	}
	hists := s.Histograms()
	if len(hists) != 2 || hists[0].Route != "/a" || hists[1].Method != "POST" {
		t.Fatalf("histograms: %+v", hists)
	}
	ha := hists[0]
	if ha.Count != 101 || ha.Cumulative[len(ha.Cumulative)-1] != 101 {
		t.Fatalf("cumulative buckets must end at the count: %+v", ha)
	}
	if want := (5050.0 + 1) / 1000; math.Abs(ha.SumSeconds-want) > 1e-9 {
		t.Fatalf("sum %v s; want %v s", ha.SumSeconds, want)
	}
	for i := 1; i < len(ha.Cumulative); i++ {
		if ha.Cumulative[i] < ha.Cumulative[i-1] {
			t.Fatalf("cumulative counts fall at bucket %d: %v", i, ha.Cumulative)
		}
	}
	// The true p50 is about 50 ms and p99 about 99 ms; buckets are coarse
	// (25-50 ms, 50-100 ms) so allow the bucket's width.
	if a.Latency.P50 < 25 || a.Latency.P50 > 60 || a.Latency.P99 < 90 || a.Latency.P99 > 100 || a.Latency.Max != 100 {
		t.Fatalf("latency: %+v", a.Latency)
	}
	if math.Abs(a.Latency.Mean-(5050.0+1)/101) > 0.01 {
		t.Fatalf("mean: %v", a.Latency.Mean)
	}
	if b := snap.Endpoints[1]; b.Latency.P50 < 2500 || b.Latency.P99 > 3000 || b.Latency.Max != 3000 {
		t.Fatalf("single slow request: %+v", b.Latency)
	}
}

func TestQuantileEmpty(t *testing.T) {
	if q := quantile(0.5, make([]uint64, len(LatencyBuckets())+1), 0); q != 0 {
		t.Fatalf("quantile of nothing = %v", q)
	}
}

// Record runs on every request: once an endpoint is known, counting it
// allocates nothing.
func TestRecordKnownEndpointAllocatesNothing(t *testing.T) {
	var s Counters
	s.Record("GET", "/hello", 200, false, time.Millisecond)
	if n := testing.AllocsPerRun(100, func() { s.Record("GET", "/hello", 200, false, time.Millisecond) }); n != 0 {
		t.Errorf("%.0f allocations a request", n)
	}
}
