package host

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	apiv1 "github.com/kubestellar/ksplugins/api/v1"

	"github.com/kubestellar/ksplugins/internal/events"
	"github.com/kubestellar/ksplugins/internal/health"
	"github.com/kubestellar/ksplugins/sdk"
)

// HealthPolicy is how plugins are checked where their manifests say
// nothing; see health.Policy.
type HealthPolicy = health.Policy

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
		var hc sdk.HealthConfig
		if in != nil {
			hc = in.meta.Health
		}
		interval, timeout := pol.Timing(hc)
		p.health.SetTiming(interval, timeout)
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
		if in := p.inst.Load(); in != nil && health.Enabled(in.meta.Health) {
			h.checkHealth(ctx, p, in, timeout, pol)
		}
	}
}

// checkHealth runs one check: the plugin's Health(), then its health
// endpoint if the manifest names one.
func (h *Host) checkHealth(ctx context.Context, p *Plugin, in *instance, timeout time.Duration, pol HealthPolicy) {
	start := time.Now()
	err := guardedCall(ctx, &p.healthCheck, timeout, func() error { return probe(in) })
	if ctx.Err() != nil {
		return // the host is stopping: not the plugin's failure
	}
	sample := apiv1.HealthSample{Time: start.UTC(), OK: err == nil, DurationMs: float64(time.Since(start).Microseconds()) / 1000}
	if err != nil {
		sample.Error = err.Error()
	}
	from, to := p.health.Observe(sample, pol)
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
			err = fmt.Errorf("health check panicked: %v", r)
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
	case to == apiv1.HealthUnhealthy && pol.OnUnhealthy == health.OnUnhealthyDisable && serving(p.state):
		p.state, p.healthDisabled, change = apiv1.StateDisabled, true, events.Disabled
	case to == apiv1.HealthHealthy && p.healthDisabled && p.state == apiv1.StateDisabled:
		p.state, p.healthDisabled, change = p.servingState(), false, events.Enabled
	}
	p.mu.Unlock()
	if change != "" {
		h.publish(ctx, events.Event{Type: change, PluginID: p.id, Actor: "system",
			Message: fmt.Sprintf("plugin %s %s by the health policy", p.id, change), Details: map[string]any{"health": string(to)}})
		h.settleDependencies(ctx, p)
	}
}

// HealthSummary returns every plugin's health.
func (h *Host) HealthSummary() apiv1.HealthSummary {
	out := apiv1.HealthSummary{Counts: map[apiv1.HealthStatus]int{apiv1.HealthHealthy: 0, apiv1.HealthDegraded: 0, apiv1.HealthUnhealthy: 0, apiv1.HealthUnknown: 0}, Plugins: map[string]apiv1.Health{}}
	for _, p := range h.all() {
		hs := p.healthSnapshot()
		out.Counts[hs.Status]++
		out.Plugins[p.id] = hs
	}
	return out
}

// healthSnapshot is p's health record, with whether a check is running now.
func (p *Plugin) healthSnapshot() apiv1.Health {
	hs := p.health.Snapshot()
	hs.Checking = p.healthCheck.Running()
	return hs
}
