// Package health keeps a plugin's health record and the rules that move it
// between healthy, degraded and unhealthy: how often a plugin is checked,
// how long a check may take, and how many results in a row change its
// status. Running the checks is the host's; this package only judges them.
package health

import (
	"sync"
	"time"

	apiv1 "github.com/kubestellar/ksplugins/api/v1"

	"github.com/kubestellar/ksplugins/sdk"
)

// What the host does when a plugin becomes unhealthy.
const (
	OnUnhealthyFlag    = "flag"    // keep serving, report it
	OnUnhealthyDisable = "disable" // stop serving until it recovers
)

// Policy is how plugins are checked where their manifests say nothing.
type Policy struct {
	Interval          time.Duration
	Timeout           time.Duration
	FailureThreshold  int
	RecoveryThreshold int
	OnUnhealthy       string
}

// DefaultPolicy is the seed's: every 30 s, 5 s to answer, unhealthy after 3
// failures.
func DefaultPolicy() Policy {
	return Policy{Interval: 30 * time.Second, Timeout: 5 * time.Second, FailureThreshold: 3, RecoveryThreshold: 1, OnUnhealthy: OnUnhealthyFlag}
}

// Timing is how often a plugin whose manifest asks for hc is checked and
// how long each check may take: the manifest's values where it gives them,
// the policy's elsewhere. A check never takes longer than the interval, so
// checks do not overlap.
func (p Policy) Timing(hc sdk.HealthConfig) (interval, timeout time.Duration) {
	interval, timeout = p.Interval, p.Timeout
	if hc.IntervalSeconds > 0 {
		interval = time.Duration(hc.IntervalSeconds) * time.Second
	}
	if hc.TimeoutSeconds > 0 {
		timeout = time.Duration(hc.TimeoutSeconds) * time.Second
	}
	return interval, min(timeout, interval)
}

// Enabled reports whether a plugin whose manifest asks for hc is checked:
// unless the manifest turns checks off. A manifest without a health section
// gets the defaults, as the seed promises automatic monitoring.
func Enabled(hc sdk.HealthConfig) bool {
	return hc.Enabled || (hc.Endpoint == "" && hc.IntervalSeconds == 0 && hc.TimeoutSeconds == 0)
}

// historySize is how many recent checks a plugin remembers.
const historySize = 20

// State is one plugin's health record, shared by its checker and readers.
// The zero value is a plugin not checked yet; it is safe for concurrent
// use.
type State struct {
	mu       sync.Mutex
	h        apiv1.Health
	interval time.Duration
	timeout  time.Duration
}

// SetTiming records the interval and timeout the plugin is checked at now.
func (s *State) SetTiming(interval, timeout time.Duration) {
	s.mu.Lock()
	s.interval, s.timeout = interval, timeout
	s.mu.Unlock()
}

// Snapshot returns a copy of the record. Whether a check is running is the
// checker's to say: Checking is left false.
func (s *State) Snapshot() apiv1.Health {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.h
	if out.Status == "" {
		out.Status = apiv1.HealthUnknown
	}
	out.History = append([]apiv1.HealthSample{}, s.h.History...)
	out.IntervalSeconds, out.TimeoutSeconds = s.interval.Seconds(), s.timeout.Seconds()
	return out
}

// Observe records one check judged by pol's thresholds and returns the
// status before and after it.
func (s *State) Observe(sample apiv1.HealthSample, pol Policy) (from, to apiv1.HealthStatus) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := &s.h
	from = h.Status
	if from == "" {
		from = apiv1.HealthUnknown
	}
	h.Checks++
	h.LastCheck = &sample.Time
	h.History = append(h.History, sample)
	if len(h.History) > historySize {
		h.History = h.History[len(h.History)-historySize:]
	}
	to = from
	if sample.OK {
		h.ConsecutiveSuccesses++
		h.ConsecutiveFailures = 0
		h.LastError = ""
		switch {
		case h.ConsecutiveSuccesses >= pol.RecoveryThreshold:
			to = apiv1.HealthHealthy
		case from == apiv1.HealthUnhealthy:
			to = apiv1.HealthDegraded
		}
	} else {
		h.Failures++
		h.ConsecutiveFailures++
		h.ConsecutiveSuccesses = 0
		h.LastError = sample.Error
		switch {
		case h.ConsecutiveFailures >= pol.FailureThreshold:
			to = apiv1.HealthUnhealthy
		case from != apiv1.HealthUnhealthy:
			to = apiv1.HealthDegraded
		}
	}
	h.Status = to
	return from, to
}
