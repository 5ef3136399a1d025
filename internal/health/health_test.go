package health

import (
	"testing"
	"time"

	apiv1 "github.com/kubestellar/ksplugins/api/v1"

	"github.com/kubestellar/ksplugins/sdk"
)

func TestObserve(t *testing.T) {
	pol := Policy{FailureThreshold: 3, RecoveryThreshold: 2}
	ok, bad := apiv1.HealthSample{OK: true}, apiv1.HealthSample{Error: "down"}
	tests := []struct {
		name    string
		samples []apiv1.HealthSample
		want    []apiv1.HealthStatus
	}{
		{"healthy needs recovery threshold", []apiv1.HealthSample{ok, ok}, []apiv1.HealthStatus{apiv1.HealthUnknown, apiv1.HealthHealthy}},
		{"one failure degrades", []apiv1.HealthSample{ok, ok, bad}, []apiv1.HealthStatus{apiv1.HealthUnknown, apiv1.HealthHealthy, apiv1.HealthDegraded}},
		{"threshold makes unhealthy", []apiv1.HealthSample{bad, bad, bad}, []apiv1.HealthStatus{apiv1.HealthDegraded, apiv1.HealthDegraded, apiv1.HealthUnhealthy}},
		{"recovery passes through degraded", []apiv1.HealthSample{bad, bad, bad, ok, ok}, []apiv1.HealthStatus{apiv1.HealthDegraded, apiv1.HealthDegraded, apiv1.HealthUnhealthy, apiv1.HealthDegraded, apiv1.HealthHealthy}},
		{"a success resets the failure count", []apiv1.HealthSample{bad, bad, ok, bad, bad}, []apiv1.HealthStatus{apiv1.HealthDegraded, apiv1.HealthDegraded, apiv1.HealthDegraded, apiv1.HealthDegraded, apiv1.HealthDegraded}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s State
			for i, sample := range tt.samples {
				if _, to := s.Observe(sample, pol); to != tt.want[i] {
					t.Fatalf("after sample %d: %s; want %s", i, to, tt.want[i])
				}
			}
			snap := s.Snapshot()
			if snap.Checks != uint64(len(tt.samples)) || len(snap.History) != len(tt.samples) {
				t.Fatalf("snapshot: %+v", snap)
			}
		})
	}
}

func TestHistoryKeepsTheLatest(t *testing.T) {
	var s State
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range historySize + 5 {
		s.Observe(apiv1.HealthSample{Time: start.Add(time.Duration(i) * time.Second), OK: true}, DefaultPolicy())
	}
	snap := s.Snapshot()
	if len(snap.History) != historySize || snap.Checks != historySize+5 {
		t.Fatalf("kept %d samples of %d checks; want %d of %d", len(snap.History), snap.Checks, historySize, historySize+5)
	}
	if first := snap.History[0].Time; !first.Equal(start.Add(5 * time.Second)) {
		t.Fatalf("oldest sample kept is from %s; want the sixth", first)
	}
	snap.History[0].OK = false
	if s.Snapshot().History[0].OK != true {
		t.Fatal("a snapshot shares its history with the record")
	}
}

func TestSnapshotOfAPluginNotChecked(t *testing.T) {
	var s State
	s.SetTiming(10*time.Second, 2*time.Second)
	snap := s.Snapshot()
	if snap.Status != apiv1.HealthUnknown || snap.IntervalSeconds != 10 || snap.TimeoutSeconds != 2 || snap.History == nil {
		t.Fatalf("snapshot %+v; want unknown, checked every 10 s within 2 s, an empty history", snap)
	}
}

func TestTiming(t *testing.T) {
	pol := Policy{Interval: 30 * time.Second, Timeout: 5 * time.Second}
	tests := []struct {
		name              string
		hc                sdk.HealthConfig
		interval, timeout time.Duration
	}{
		{"the policy's where the manifest says nothing", sdk.HealthConfig{}, 30 * time.Second, 5 * time.Second},
		{"the manifest's interval", sdk.HealthConfig{IntervalSeconds: 60}, time.Minute, 5 * time.Second},
		{"the manifest's timeout", sdk.HealthConfig{TimeoutSeconds: 10}, 30 * time.Second, 10 * time.Second},
		{"no longer than the interval", sdk.HealthConfig{IntervalSeconds: 2}, 2 * time.Second, 2 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if interval, timeout := pol.Timing(tt.hc); interval != tt.interval || timeout != tt.timeout {
				t.Fatalf("Timing = %s, %s; want %s, %s", interval, timeout, tt.interval, tt.timeout)
			}
		})
	}
}

func TestEnabled(t *testing.T) {
	tests := []struct {
		name string
		hc   sdk.HealthConfig
		want bool
	}{
		{"no health section: the defaults", sdk.HealthConfig{}, true},
		{"enabled", sdk.HealthConfig{Enabled: true, IntervalSeconds: 5}, true},
		{"a section that leaves it off", sdk.HealthConfig{IntervalSeconds: 5}, false},
		{"an endpoint alone leaves it off", sdk.HealthConfig{Endpoint: "/healthz"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Enabled(tt.hc); got != tt.want {
				t.Fatalf("Enabled(%+v) = %v; want %v", tt.hc, got, tt.want)
			}
		})
	}
}
