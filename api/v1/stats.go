package v1

import "time"

// Stats is a snapshot of a plugin's request counters.
type Stats struct {
	// Requests counts the requests the plugin's router answered, summed
	// over Endpoints, since install or server start.
	Requests uint64 `json:"requests"`
	// ClientErrors counts the answers with a 4xx status.
	ClientErrors uint64 `json:"client_errors"`
	// ServerErrors counts the answers with a 5xx status, including the 500
	// that a panic before any answer gets.
	ServerErrors uint64 `json:"server_errors"`
	// Panics counts the requests whose handler panicked.
	Panics uint64 `json:"panics"`
	// ErrorRate is ServerErrors / Requests, from 0 to 1; 0 when there were
	// no requests. Client errors do not count.
	ErrorRate float64 `json:"error_rate"`
	// Endpoints are the per-endpoint counters, sorted by route then method;
	// an empty list (never null) before the first request.
	Endpoints []EndpointStats `json:"endpoints"`
}

// EndpointStats is a snapshot of one endpoint's counters.
type EndpointStats struct {
	// Method is the request's HTTP method.
	Method string `json:"method"`
	// Route is the matched route pattern, relative to the plugin's
	// base_path (such as "/items/:id"); "(unmatched)" when none matched.
	Route string `json:"route"`
	// Requests counts the requests answered.
	Requests uint64 `json:"requests"`
	// ByStatus counts them by HTTP status code, as a decimal string key.
	ByStatus map[string]uint64 `json:"by_status"`
	// ClientErrors counts the answers with a 4xx status.
	ClientErrors uint64 `json:"client_errors"`
	// ServerErrors counts the answers with a 5xx status.
	ServerErrors uint64 `json:"server_errors"`
	// Panics counts the requests whose handler panicked.
	Panics uint64 `json:"panics"`
	// Latency summarises how long the requests took, in milliseconds.
	Latency Latency `json:"latency_ms"`
}

// Latency summarises a latency distribution in milliseconds; percentiles are
// interpolated within histogram buckets.
type Latency struct {
	// Mean is the average latency; all five are 0 when there were no
	// requests.
	Mean float64 `json:"mean"`
	// P50 is the median latency.
	P50 float64 `json:"p50"`
	// P95 is the 95th percentile latency.
	P95 float64 `json:"p95"`
	// P99 is the 99th percentile latency.
	P99 float64 `json:"p99"`
	// Max is the slowest request's latency; in a MetricsSample, the upper
	// bound of its histogram bucket.
	Max float64 `json:"max"`
}

// MetricsSample is one sampling interval of a plugin's traffic.
type MetricsSample struct {
	// Time is when the interval ended.
	Time time.Time `json:"time"`
	// Seconds is the interval's length.
	Seconds float64 `json:"seconds"`
	// Requests counts the requests answered in the interval.
	Requests uint64 `json:"requests"`
	// ClientErrors counts the interval's answers with a 4xx status.
	ClientErrors uint64 `json:"client_errors"`
	// ServerErrors counts the interval's answers with a 5xx status.
	ServerErrors uint64 `json:"server_errors"`
	// RequestsPerSecond is Requests / Seconds.
	RequestsPerSecond float64 `json:"requests_per_second"`
	// Latency is of the interval's requests alone, estimated from the
	// latency histogram; zero when there were none. Max is the upper bound
	// of the slowest request's bucket.
	Latency Latency `json:"latency_ms"`
}

// MetricsHistory is a plugin's recent traffic samples, oldest first, and
// its counters now.
type MetricsHistory struct {
	// IntervalSeconds is the server's sampling interval (5 by default).
	IntervalSeconds float64 `json:"interval_seconds"`
	// Samples are the latest intervals, oldest first: at most the server's
	// history size (120 by default), an empty list before the first.
	Samples []MetricsSample `json:"samples"`
	// Stats are the plugin's counters at the time of the answer.
	Stats Stats `json:"stats"`
}
