// Package traffic counts a plugin's requests by endpoint and keeps a short
// history of its traffic: request counts by status, panics, a latency
// histogram and the quantiles estimated from it. Counters and history
// outlive a plugin's instances, so a reload keeps them.
package traffic

import (
	"cmp"
	"math"
	"slices"
	"strconv"
	"sync"
	"time"

	apiv1 "github.com/kubestellar/ksplugins/api/v1"
)

// LatencyBuckets are the upper bounds, in seconds, of the request latency
// histogram: Prometheus's default buckets with a finer low end, since a
// plugin call is often well under a millisecond.
func LatencyBuckets() []float64 {
	return []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}
}

// Counters counts one plugin's requests by endpoint. The zero value is
// ready to use; it is safe for concurrent use.
type Counters struct {
	byEndpoint sync.Map // "METHOD route" -> *endpointStats
}

// endpointStats counts one endpoint. A mutex, not atomics: a request takes
// it once, for a few counter updates, and a snapshot sees them together.
type endpointStats struct {
	method, route string

	mu       sync.Mutex
	byStatus map[int]uint64
	panics   uint64
	count    uint64
	sum      float64  // seconds
	max      float64  // seconds
	buckets  []uint64 // per LatencyBuckets bound, not cumulative; last is +Inf
}

// Record counts one request: its endpoint (method and route pattern), the
// status answered, whether the handler panicked, and how long it took.
func (s *Counters) Record(method, route string, status int, panicked bool, d time.Duration) {
	// The key is built twice rather than kept, so that the lookup's copy
	// stays on the stack: only a new endpoint's is allocated.
	v, ok := s.byEndpoint.Load(method + " " + route)
	if !ok {
		v, _ = s.byEndpoint.LoadOrStore(method+" "+route, &endpointStats{
			method: method, route: route,
			byStatus: map[int]uint64{},
			buckets:  make([]uint64, len(LatencyBuckets())+1),
		})
	}
	e := v.(*endpointStats)
	secs := d.Seconds()
	bounds := LatencyBuckets()
	i, _ := slices.BinarySearch(bounds, secs)
	e.mu.Lock()
	e.byStatus[status]++
	if panicked {
		e.panics++
	}
	e.count++
	e.sum += secs
	e.max = max(e.max, secs)
	e.buckets[i]++
	e.mu.Unlock()
}

// Snapshot returns the counts of every endpoint, sorted by route then
// method, and their sum.
func (s *Counters) Snapshot() apiv1.Stats {
	out := apiv1.Stats{Endpoints: []apiv1.EndpointStats{}}
	s.byEndpoint.Range(func(_, v any) bool {
		e := v.(*endpointStats).snapshot()
		out.Requests += e.Requests
		out.ClientErrors += e.ClientErrors
		out.ServerErrors += e.ServerErrors
		out.Panics += e.Panics
		out.Endpoints = append(out.Endpoints, e)
		return true
	})
	if out.Requests > 0 {
		out.ErrorRate = float64(out.ServerErrors) / float64(out.Requests)
	}
	slices.SortFunc(out.Endpoints, func(a, b apiv1.EndpointStats) int {
		if a.Route != b.Route {
			return cmp.Compare(a.Route, b.Route)
		}
		return cmp.Compare(a.Method, b.Method)
	})
	return out
}

// Histogram is one endpoint's latency distribution in the form Prometheus
// exports it: the management API shows percentiles instead.
type Histogram struct {
	Method, Route string
	// Count is the number of requests, SumSeconds their total duration.
	Count      uint64
	SumSeconds float64
	// Cumulative holds, per LatencyBuckets bound, the requests that took
	// at most that long.
	Cumulative []uint64
}

// Histograms returns the latency histogram of every endpoint, sorted by
// route then method.
func (s *Counters) Histograms() []Histogram {
	var out []Histogram
	s.byEndpoint.Range(func(_, v any) bool {
		e := v.(*endpointStats)
		e.mu.Lock()
		h := Histogram{Method: e.method, Route: e.route, Count: e.count, SumSeconds: e.sum, Cumulative: make([]uint64, len(e.buckets)-1)}
		var cum uint64
		for i := range h.Cumulative {
			cum += e.buckets[i]
			h.Cumulative[i] = cum
		}
		e.mu.Unlock()
		out = append(out, h)
		return true
	})
	slices.SortFunc(out, func(a, b Histogram) int {
		if a.Route != b.Route {
			return cmp.Compare(a.Route, b.Route)
		}
		return cmp.Compare(a.Method, b.Method)
	})
	return out
}

func (e *endpointStats) snapshot() apiv1.EndpointStats {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := apiv1.EndpointStats{
		Method: e.method, Route: e.route,
		Requests: e.count, Panics: e.panics,
		ByStatus: make(map[string]uint64, len(e.byStatus)),
	}
	for code, n := range e.byStatus {
		out.ByStatus[strconv.Itoa(code)] = n
		countErrors(code, n, &out.ClientErrors, &out.ServerErrors)
	}
	if e.count > 0 {
		out.Latency = apiv1.Latency{
			Mean: e.sum / float64(e.count) * 1000,
			P50:  quantile(0.50, e.buckets, e.max) * 1000,
			P95:  quantile(0.95, e.buckets, e.max) * 1000,
			P99:  quantile(0.99, e.buckets, e.max) * 1000,
			Max:  e.max * 1000,
		}
	}
	return out
}

// quantile estimates the q-quantile from per-bucket counts (the last bucket
// is +Inf), interpolating linearly inside the bucket, and never beyond the
// largest value seen.
func quantile(q float64, buckets []uint64, maxSeen float64) float64 {
	var total uint64
	for _, n := range buckets {
		total += n
	}
	if total == 0 {
		return 0
	}
	rank := q * float64(total)
	bounds := LatencyBuckets()
	var cum float64
	for i, n := range buckets {
		if n == 0 {
			continue
		}
		if cum+float64(n) >= rank {
			lower := 0.0
			if i > 0 {
				lower = bounds[i-1]
			}
			upper := maxSeen
			if i < len(bounds) {
				upper = math.Min(bounds[i], maxSeen)
			}
			return lower + (upper-lower)*(rank-cum)/float64(n)
		}
		cum += float64(n)
	}
	return maxSeen
}

// countErrors adds n responses with status code to the client or server
// error count it belongs to, if any: one rule for every view of the counts.
func countErrors(code int, n uint64, client, server *uint64) {
	switch {
	case code >= 500:
		*server += n
	case code >= 400:
		*client += n
	}
}

// totals is a plugin's counters summed over its endpoints: what a traffic
// sample is the difference of.
type totals struct {
	requests, clientErrors, serverErrors uint64
	sum, max                             float64  // seconds
	buckets                              []uint64 // per LatencyBuckets bound, not cumulative; last is +Inf
}

func (s *Counters) totals() totals {
	t := totals{buckets: make([]uint64, len(LatencyBuckets())+1)}
	s.byEndpoint.Range(func(_, v any) bool {
		e := v.(*endpointStats)
		e.mu.Lock()
		defer e.mu.Unlock()
		t.requests += e.count
		for code, n := range e.byStatus {
			countErrors(code, n, &t.clientErrors, &t.serverErrors)
		}
		t.sum += e.sum
		t.max = max(t.max, e.max)
		for i, n := range e.buckets {
			t.buckets[i] += n
		}
		return true
	})
	return t
}
