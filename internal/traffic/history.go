package traffic

import (
	"sync"
	"time"

	apiv1 "github.com/kubestellar/ksplugins/api/v1"
)

// History is one plugin's recent traffic samples: the host samples every
// plugin's counters at a fixed interval and keeps the last samples, so that
// a client can draw request rate and latency over the last minutes without
// keeping a history of its own or running Prometheus. The zero value is
// ready to use; it is safe for concurrent use.
type History struct {
	mu      sync.Mutex
	last    totals
	lastAt  time.Time
	samples []apiv1.MetricsSample
}

// Record closes the interval that ends at now, reading the plugin's
// counters c, and keeps at most keep samples. The first interval is taken to
// be interval long: the plugin's counters started at zero.
func (th *History) Record(now time.Time, c *Counters, interval time.Duration, keep int) {
	cur := c.totals()
	th.mu.Lock()
	defer th.mu.Unlock()
	d := interval
	if !th.lastAt.IsZero() {
		d = now.Sub(th.lastAt)
	}
	th.samples = append(th.samples, sampleOf(th.last, cur, now, d))
	if len(th.samples) > keep {
		th.samples = append(th.samples[:0], th.samples[len(th.samples)-keep:]...)
	}
	th.last, th.lastAt = cur, now
}

// Snapshot returns a copy of the samples, oldest first.
func (th *History) Snapshot() []apiv1.MetricsSample {
	th.mu.Lock()
	defer th.mu.Unlock()
	return append([]apiv1.MetricsSample{}, th.samples...)
}

// sampleOf is the traffic between two readings of the same counters. The
// counters only grow; should prev ever exceed cur, the interval is taken
// from zero rather than wrapping around.
func sampleOf(prev, cur totals, end time.Time, d time.Duration) apiv1.MetricsSample {
	if cur.requests < prev.requests || len(prev.buckets) != len(cur.buckets) {
		prev = totals{buckets: make([]uint64, len(cur.buckets))}
	}
	s := apiv1.MetricsSample{
		Time:         end.UTC(),
		Seconds:      d.Seconds(),
		Requests:     cur.requests - prev.requests,
		ClientErrors: cur.clientErrors - prev.clientErrors,
		ServerErrors: cur.serverErrors - prev.serverErrors,
	}
	if s.Seconds > 0 {
		s.RequestsPerSecond = float64(s.Requests) / s.Seconds
	}
	if s.Requests == 0 {
		return s
	}
	delta := make([]uint64, len(cur.buckets))
	slowest := 0
	for i := range cur.buckets {
		delta[i] = cur.buckets[i] - prev.buckets[i]
		if delta[i] > 0 {
			slowest = i
		}
	}
	bounds := LatencyBuckets()
	// The all-time maximum caps every estimate; below it, the slowest
	// request's bucket is the best bound the histogram gives.
	top := cur.max
	if slowest < len(bounds) {
		top = min(bounds[slowest], cur.max)
	}
	s.Latency = apiv1.Latency{
		Mean: (cur.sum - prev.sum) / float64(s.Requests) * 1000,
		P50:  quantile(0.50, delta, top) * 1000,
		P95:  quantile(0.95, delta, top) * 1000,
		P99:  quantile(0.99, delta, top) * 1000,
		Max:  top * 1000,
	}
	return s
}
