package host

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"

	apiv1 "github.com/kubestellar/ksplugins/api/v1"

	"github.com/kubestellar/ksplugins/internal/events"
)

// What the host does when a plugin becomes unhealthy.
const (
	OnUnhealthyFlag    = "flag"    // keep serving, report it
	OnUnhealthyDisable = "disable" // stop serving until it recovers
)

// HealthPolicy is how plugins are checked where their manifests say nothing.
type HealthPolicy struct {
	Interval          time.Duration
	Timeout           time.Duration
	FailureThreshold  int
	RecoveryThreshold int
	OnUnhealthy       string
}

// DefaultHealthPolicy is the seed's: every 30 s, 5 s to answer, unhealthy
// after 3 failures.
func DefaultHealthPolicy() HealthPolicy {
	return HealthPolicy{Interval: 30 * time.Second, Timeout: 5 * time.Second, FailureThreshold: 3, RecoveryThreshold: 1, OnUnhealthy: OnUnhealthyFlag}
}

// healthHistory is how many recent checks a plugin remembers.
const healthHistory = 20

// healthState is a plugin's health record, shared by its checker and readers.
type healthState struct {
	mu       sync.Mutex
	h        apiv1.Health
	interval time.Duration
	timeout  time.Duration
	// check lets one Health call run at a time: a check that hangs is not
	// started again on top of itself.
	check guard
}

func (s *healthState) snapshot() apiv1.Health {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.h
	if out.Status == "" {
		out.Status = apiv1.HealthUnknown
	}
	out.History = append([]apiv1.HealthSample{}, s.h.History...)
	out.IntervalSeconds, out.TimeoutSeconds = s.interval.Seconds(), s.timeout.Seconds()
	out.Checking = s.check.running()
	return out
}

// observe records one check and returns the status before and after it.
func (s *healthState) observe(sample apiv1.HealthSample, pol HealthPolicy) (from, to apiv1.HealthStatus) {
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
	if len(h.History) > healthHistory {
		h.History = h.History[len(h.History)-healthHistory:]
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

// SetHealthPolicy changes the defaults used by every later health check.
func (h *Host) SetHealthPolicy(p HealthPolicy) {
	h.policy.Store(&p)
}

func (h *Host) healthPolicy() HealthPolicy { return *h.policy.Load() }

// watchHealth checks p's health at the interval its manifest asks for (or
// the policy's) until ctx ends.
func (h *Host) watchHealth(ctx context.Context, p *Plugin) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	first := true
	for {
		in := p.inst.Load()
		pol := h.healthPolicy()
		interval, timeout := pol.Interval, pol.Timeout
		if in != nil {
			if s := in.meta.Health.IntervalSeconds; s > 0 {
				interval = time.Duration(s) * time.Second
			}
			if s := in.meta.Health.TimeoutSeconds; s > 0 {
				timeout = time.Duration(s) * time.Second
			}
		}
		timeout = min(timeout, interval)
		p.health.mu.Lock()
		p.health.interval, p.health.timeout = interval, timeout
		p.health.mu.Unlock()
		if first {
			first = false
			timer.Reset(interval)
		}
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		timer.Reset(interval)
		if in := p.inst.Load(); in != nil && healthEnabled(in) {
			h.checkHealth(ctx, p, in, timeout, pol)
		}
	}
}

// healthEnabled: checks run unless the manifest turns them off. A manifest
// without a health section gets the defaults, as the seed promises
// automatic monitoring.
func healthEnabled(in *instance) bool {
	hc := in.meta.Health
	return hc.Enabled || (hc.Endpoint == "" && hc.IntervalSeconds == 0 && hc.TimeoutSeconds == 0)
}

// checkHealth runs one check: the plugin's Health(), then its health
// endpoint if the manifest names one.
func (h *Host) checkHealth(ctx context.Context, p *Plugin, in *instance, timeout time.Duration, pol HealthPolicy) {
	start := time.Now()
	err := guardedCall(ctx, &p.health.check, timeout, func() error { return probe(in) })
	if ctx.Err() != nil {
		return // the host is stopping: not the plugin's failure
	}
	sample := apiv1.HealthSample{Time: start.UTC(), OK: err == nil, DurationMs: float64(time.Since(start).Microseconds()) / 1000}
	if err != nil {
		sample.Error = err.Error()
	}
	from, to := p.health.observe(sample, pol)
	if from == to {
		return
	}
	h.publish(ctx, events.Event{Type: events.HealthChanged, PluginID: p.id, Actor: "system",
		Message: fmt.Sprintf("plugin %s is %s", p.id, to),
		Details: map[string]any{"from": string(from), "to": string(to), "error": sample.Error}})
	h.applyHealthPolicy(ctx, p, to, pol)
}

// probe calls the plugin's health checks, recovering a panic.
func probe(in *instance) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("Health panicked: %v", r)
		}
	}()
	if err := in.impl.Health(); err != nil {
		return err
	}
	if ep := in.meta.Health.Endpoint; ep != "" {
		rec := httptest.NewRecorder()
		in.engine.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, ep, nil))
		if rec.Code >= 400 {
			return fmt.Errorf("health endpoint %s answered %d", ep, rec.Code)
		}
	}
	return nil
}

// applyHealthPolicy disables an unhealthy plugin when the policy says so,
// and enables it again once it recovers.
func (h *Host) applyHealthPolicy(ctx context.Context, p *Plugin, to apiv1.HealthStatus, pol HealthPolicy) {
	p.mu.Lock()
	var change events.Type
	switch {
	case to == apiv1.HealthUnhealthy && pol.OnUnhealthy == OnUnhealthyDisable && p.state == apiv1.StateActive:
		p.state, p.healthDisabled, change = apiv1.StateDisabled, true, events.Disabled
	case to == apiv1.HealthHealthy && p.healthDisabled && p.state == apiv1.StateDisabled:
		p.state, p.healthDisabled, change = apiv1.StateActive, false, events.Enabled
	}
	p.mu.Unlock()
	if change != "" {
		h.publish(ctx, events.Event{Type: change, PluginID: p.id, Actor: "system",
			Message: fmt.Sprintf("plugin %s %s by the health policy", p.id, change), Details: map[string]any{"health": string(to)}})
	}
}

// HealthSummary returns every plugin's health.
func (h *Host) HealthSummary() apiv1.HealthSummary {
	out := apiv1.HealthSummary{Counts: map[apiv1.HealthStatus]int{apiv1.HealthHealthy: 0, apiv1.HealthDegraded: 0, apiv1.HealthUnhealthy: 0, apiv1.HealthUnknown: 0}, Plugins: map[string]apiv1.Health{}}
	for _, p := range h.all() {
		hs := p.health.snapshot()
		out.Counts[hs.Status]++
		out.Plugins[p.id] = hs
	}
	return out
}
