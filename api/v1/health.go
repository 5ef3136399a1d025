package v1

import "time"

// HealthStatus is the host's judgement of a plugin's health.
type HealthStatus string

// The health statuses. A plugin starts unknown; one failed check makes it
// degraded, a run of failures unhealthy, and a run of successes healthy
// again (the thresholds are the server's health policy).
const (
	HealthUnknown   HealthStatus = "unknown"
	HealthHealthy   HealthStatus = "healthy"
	HealthDegraded  HealthStatus = "degraded"
	HealthUnhealthy HealthStatus = "unhealthy"
)

// HealthSample is one check's outcome.
type HealthSample struct {
	Time       time.Time `json:"time"`
	OK         bool      `json:"ok"`
	Error      string    `json:"error,omitempty"`
	DurationMs float64   `json:"duration_ms"`
}

// Health is a snapshot of a plugin's health.
type Health struct {
	Status               HealthStatus   `json:"status"`
	Checking             bool           `json:"checking"`
	IntervalSeconds      float64        `json:"interval_seconds"`
	TimeoutSeconds       float64        `json:"timeout_seconds"`
	LastCheck            *time.Time     `json:"last_check,omitempty"`
	LastError            string         `json:"last_error,omitempty"`
	ConsecutiveFailures  int            `json:"consecutive_failures"`
	ConsecutiveSuccesses int            `json:"consecutive_successes"`
	Checks               uint64         `json:"checks"`
	Failures             uint64         `json:"failures"`
	History              []HealthSample `json:"history"`
}

// HealthSummary counts plugins by health and lists each.
type HealthSummary struct {
	Counts  map[HealthStatus]int `json:"counts"`
	Plugins map[string]Health    `json:"plugins"`
}
