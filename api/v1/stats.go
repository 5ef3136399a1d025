package v1

import "time"

// Stats is a snapshot of a plugin's request counters.
type Stats struct {
	Requests     uint64          `json:"requests"`
	ClientErrors uint64          `json:"client_errors"`
	ServerErrors uint64          `json:"server_errors"`
	Panics       uint64          `json:"panics"`
	ErrorRate    float64         `json:"error_rate"`
	Endpoints    []EndpointStats `json:"endpoints"`
}

// EndpointStats is a snapshot of one endpoint's counters.
type EndpointStats struct {
	Method       string            `json:"method"`
	Route        string            `json:"route"`
	Requests     uint64            `json:"requests"`
	ByStatus     map[string]uint64 `json:"by_status"`
	ClientErrors uint64            `json:"client_errors"`
	ServerErrors uint64            `json:"server_errors"`
	Panics       uint64            `json:"panics"`
	Latency      Latency           `json:"latency_ms"`
}

// Latency summarises a latency distribution in milliseconds; percentiles are
// interpolated within histogram buckets.
type Latency struct {
	Mean float64 `json:"mean"`
	P50  float64 `json:"p50"`
	P95  float64 `json:"p95"`
	P99  float64 `json:"p99"`
	Max  float64 `json:"max"`
}

// MetricsSample is one sampling interval of a plugin's traffic.
type MetricsSample struct {
	// Time is when the interval ended.
	Time time.Time `json:"time"`
	// Seconds is the interval's length.
	Seconds           float64 `json:"seconds"`
	Requests          uint64  `json:"requests"`
	ClientErrors      uint64  `json:"client_errors"`
	ServerErrors      uint64  `json:"server_errors"`
	RequestsPerSecond float64 `json:"requests_per_second"`
	// Latency is of the interval's requests alone, estimated from the
	// latency histogram; zero when there were none. Max is the upper bound
	// of the slowest request's bucket.
	Latency Latency `json:"latency_ms"`
}

// MetricsHistory is a plugin's recent traffic samples, oldest first, and
// its counters now.
type MetricsHistory struct {
	IntervalSeconds float64         `json:"interval_seconds"`
	Samples         []MetricsSample `json:"samples"`
	Stats           Stats           `json:"stats"`
}
