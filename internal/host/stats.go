package host

import (
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// stats counts one plugin's requests by endpoint. Counters are atomics so
// the request path takes no lock once an endpoint has been seen.
type stats struct {
	byEndpoint sync.Map // "METHOD /route" -> *counters
}

type counters struct {
	requests, clientErrors, serverErrors atomic.Int64
	totalNanos, maxNanos                 atomic.Int64
}

func (s *stats) record(method, route string, status int, d time.Duration) {
	key := method + " " + route
	v, ok := s.byEndpoint.Load(key)
	if !ok {
		v, _ = s.byEndpoint.LoadOrStore(key, &counters{})
	}
	c := v.(*counters)
	c.requests.Add(1)
	switch {
	case status >= 500:
		c.serverErrors.Add(1)
	case status >= 400:
		c.clientErrors.Add(1)
	}
	n := int64(d)
	c.totalNanos.Add(n)
	for {
		m := c.maxNanos.Load()
		if n <= m || c.maxNanos.CompareAndSwap(m, n) {
			break
		}
	}
}

// EndpointStats is a snapshot of one endpoint's counters.
type EndpointStats struct {
	Endpoint      string  `json:"endpoint"`
	Requests      int64   `json:"requests"`
	ClientErrors  int64   `json:"client_errors"`
	ServerErrors  int64   `json:"server_errors"`
	MeanLatencyMs float64 `json:"mean_latency_ms"`
	MaxLatencyMs  float64 `json:"max_latency_ms"`
}

// Stats is a snapshot of a plugin's counters.
type Stats struct {
	Requests     int64           `json:"requests"`
	ClientErrors int64           `json:"client_errors"`
	ServerErrors int64           `json:"server_errors"`
	Endpoints    []EndpointStats `json:"endpoints"`
}

func (s *stats) snapshot() Stats {
	out := Stats{Endpoints: []EndpointStats{}}
	s.byEndpoint.Range(func(k, v any) bool {
		c := v.(*counters)
		e := EndpointStats{
			Endpoint:     k.(string),
			Requests:     c.requests.Load(),
			ClientErrors: c.clientErrors.Load(),
			ServerErrors: c.serverErrors.Load(),
			MaxLatencyMs: float64(c.maxNanos.Load()) / 1e6,
		}
		if e.Requests > 0 {
			e.MeanLatencyMs = float64(c.totalNanos.Load()) / float64(e.Requests) / 1e6
		}
		out.Requests += e.Requests
		out.ClientErrors += e.ClientErrors
		out.ServerErrors += e.ServerErrors
		out.Endpoints = append(out.Endpoints, e)
		return true
	})
	sort.Slice(out.Endpoints, func(i, j int) bool { return out.Endpoints[i].Endpoint < out.Endpoints[j].Endpoint })
	return out
}
