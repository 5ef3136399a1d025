package traffic

import (
	"cmp"
	"slices"
	"sync"
	"time"
)

// KubeRequest names one series of a plugin's Kubernetes requests. Names of
// objects and namespaces are left out, so that the number of series stays
// bounded by the cluster's API, not by its contents.
type KubeRequest struct {
	// Context is the kubeconfig context asked for.
	Context string
	// Verb, Group and Resource (with "/subresource") are the request as
	// the API server reads it; all empty for a request the mediation could
	// not resolve, Group and Resource for one outside the resource space
	// (discovery).
	Verb, Group, Resource string
}

// KubeCounters counts one plugin's Kubernetes requests by context, verb and
// resource: answers by status and a latency histogram. The zero value is
// ready to use; it is safe for concurrent use.
type KubeCounters struct {
	mu     sync.Mutex
	series map[KubeRequest]*kubeSeries
}

type kubeSeries struct {
	byStatus map[int]uint64
	count    uint64
	sum      float64  // seconds
	buckets  []uint64 // per LatencyBuckets bound, not cumulative; last is +Inf
}

// Record counts one request answered with status after d (the whole stream
// for a watch).
func (c *KubeCounters) Record(r KubeRequest, status int, d time.Duration) {
	secs := d.Seconds()
	i, _ := slices.BinarySearch(LatencyBuckets(), secs)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.series == nil {
		c.series = map[KubeRequest]*kubeSeries{}
	}
	s := c.series[r]
	if s == nil {
		s = &kubeSeries{byStatus: map[int]uint64{}, buckets: make([]uint64, len(LatencyBuckets())+1)}
		c.series[r] = s
	}
	s.byStatus[status]++
	s.count++
	s.sum += secs
	s.buckets[i]++
}

// KubeSeries is the counts of one KubeRequest.
type KubeSeries struct {
	KubeRequest
	// ByStatus counts the answers by HTTP status; 0 when the plugin went
	// away before any.
	ByStatus map[int]uint64
	// Count, SumSeconds and Cumulative are the latency histogram, as in
	// Histogram.
	Count      uint64
	SumSeconds float64
	Cumulative []uint64
}

// Snapshot returns every series, sorted by context, group, resource, verb.
func (c *KubeCounters) Snapshot() []KubeSeries {
	c.mu.Lock()
	out := make([]KubeSeries, 0, len(c.series))
	for r, s := range c.series {
		ks := KubeSeries{KubeRequest: r, ByStatus: make(map[int]uint64, len(s.byStatus)), Count: s.count, SumSeconds: s.sum, Cumulative: make([]uint64, len(s.buckets)-1)}
		for code, n := range s.byStatus {
			ks.ByStatus[code] = n
		}
		var cum uint64
		for i := range ks.Cumulative {
			cum += s.buckets[i]
			ks.Cumulative[i] = cum
		}
		out = append(out, ks)
	}
	c.mu.Unlock()
	slices.SortFunc(out, func(a, b KubeSeries) int {
		return cmp.Or(cmp.Compare(a.Context, b.Context), cmp.Compare(a.Group, b.Group), cmp.Compare(a.Resource, b.Resource), cmp.Compare(a.Verb, b.Verb))
	})
	return out
}
