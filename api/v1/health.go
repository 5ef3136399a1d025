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
	// Time is when the check started, in UTC.
	Time time.Time `json:"time"`
	// OK is whether the plugin's Health() and its health endpoint, if any,
	// both passed.
	OK bool `json:"ok"`
	// Error is why the check failed; absent when OK.
	Error string `json:"error,omitempty"`
	// DurationMs is how long the check took, in milliseconds (microsecond
	// precision).
	DurationMs float64 `json:"duration_ms"`
}

// Health is a snapshot of a plugin's health.
type Health struct {
	// Status is unknown, healthy, degraded or unhealthy: unknown until the
	// first check, so also for a plugin whose manifest turns checks off.
	Status HealthStatus `json:"status"`
	// Checking is whether a check is running at this moment.
	Checking bool `json:"checking"`
	// IntervalSeconds is the time between checks, from the manifest or the
	// server's defaults; 0 before the checker has started.
	IntervalSeconds float64 `json:"interval_seconds"`
	// TimeoutSeconds bounds one check; 0 before the checker has started.
	TimeoutSeconds float64 `json:"timeout_seconds"`
	// LastCheck is when the latest check started; absent before the first.
	LastCheck *time.Time `json:"last_check,omitempty"`
	// LastError is the error of the latest check; absent once a check
	// passes.
	LastError string `json:"last_error,omitempty"`
	// ConsecutiveFailures counts failed checks since the last pass.
	ConsecutiveFailures int `json:"consecutive_failures"`
	// ConsecutiveSuccesses counts passed checks since the last failure.
	ConsecutiveSuccesses int `json:"consecutive_successes"`
	// Checks counts the checks run since the plugin was installed or the
	// server started.
	Checks uint64 `json:"checks"`
	// Failures counts the checks of Checks that failed.
	Failures uint64 `json:"failures"`
	// History is the latest checks, oldest first: at most 20, an empty list
	// (never null) before the first.
	History []HealthSample `json:"history"`
}

// HealthSummary counts plugins by health and lists each.
type HealthSummary struct {
	// Counts is how many plugins have each status; all four statuses are
	// present, with 0 where none has it.
	Counts map[HealthStatus]int `json:"counts"`
	// Plugins is every installed plugin's health, by plugin ID.
	Plugins map[string]Health `json:"plugins"`
}
