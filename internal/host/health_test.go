package host

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	apiv1 "github.com/kubestellar/ksplugins/api/v1"

	"github.com/kubestellar/ksplugins/internal/events"
	"github.com/kubestellar/ksplugins/internal/health"
	"github.com/kubestellar/ksplugins/sdk"
)

// flakyPlugin fails its health check while sick is set, and can hang it.
type flakyPlugin struct {
	testPlugin
	sick atomic.Bool
	hang atomic.Bool
}

func (p *flakyPlugin) Health() error {
	if p.hang.Load() {
		select {}
	}
	if p.sick.Load() {
		return errors.New("database unreachable")
	}
	return nil
}

func (p *flakyPlugin) GetMetadata() sdk.PluginMetadata {
	m := p.testPlugin.GetMetadata()
	m.Health = sdk.HealthConfig{Enabled: true, IntervalSeconds: 1, TimeoutSeconds: 1}
	return m
}

// waitHealth waits until the plugin's health is want, or fails.
func waitHealth(t *testing.T, h *Host, id string, want apiv1.HealthStatus, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		info, err := h.Get(id)
		if err == nil && info.Health.Status == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("health of %s is %s after %s; want %s (%+v)", id, info.Health.Status, within, want, info.Health)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestHealthAtManifestInterval: checks run at the plugin's own 1 s interval
// (the policy default is an hour), so three failures take about 3 s.
func TestHealthAtManifestInterval(t *testing.T) {
	h := newTestHost(t)
	h.SetHealthPolicy(HealthPolicy{Interval: time.Hour, Timeout: time.Minute, FailureThreshold: 3, RecoveryThreshold: 1, OnUnhealthy: health.OnUnhealthyDisable})
	sub := h.events.Subscribe(0)
	defer sub.Close()
	p := &flakyPlugin{testPlugin: testPlugin{id: "flaky", reply: "ok"}}
	add(t, h, p)
	waitHealth(t, h, "flaky", apiv1.HealthHealthy, 3*time.Second)

	p.sick.Store(true)
	waitHealth(t, h, "flaky", apiv1.HealthUnhealthy, 6*time.Second)
	if r := serve(h, "GET", "flaky", "/hello"); r.status != 503 {
		t.Fatalf("the disable policy should stop serving: %+v", r)
	}
	info, _ := h.Get("flaky")
	if info.Health.LastError != "database unreachable" || info.Health.ConsecutiveFailures < 3 {
		t.Fatalf("health: %+v", info.Health)
	}

	p.sick.Store(false)
	waitHealth(t, h, "flaky", apiv1.HealthHealthy, 3*time.Second)
	if r := serve(h, "GET", "flaky", "/hello"); r.status != 200 {
		t.Fatalf("a recovered plugin should serve again: %+v", r)
	}

	var seen []string
	for len(sub.C()) > 0 {
		e := <-sub.C()
		if e.PluginID == "flaky" && e.Type != events.Loaded {
			seen = append(seen, string(e.Type)+":"+detail(e, "to"))
		}
	}
	want := "health_changed:healthy,health_changed:degraded,health_changed:unhealthy,disabled:,health_changed:healthy,enabled:"
	if strings.Join(seen, ",") != want {
		t.Fatalf("events:\n got %s\nwant %s", strings.Join(seen, ","), want)
	}
}

func detail(e events.Event, key string) string {
	s, _ := e.Details[key].(string)
	return s
}

// TestHangingHealthCheck: a Health that never returns counts as a failure
// each interval and is not started again on top of itself.
func TestHangingHealthCheck(t *testing.T) {
	h := newTestHost(t)
	p := &flakyPlugin{testPlugin: testPlugin{id: "hangs", reply: "ok"}}
	add(t, h, p)
	p.hang.Store(true)
	waitHealth(t, h, "hangs", apiv1.HealthUnhealthy, 8*time.Second)
	info, _ := h.Get("hangs")
	if !info.Health.Checking {
		t.Fatal("the hung check should still be reported as running")
	}
	var timeouts, overlaps int
	for _, s := range info.Health.History {
		switch {
		case strings.Contains(s.Error, "no answer within"):
			timeouts++
		case strings.Contains(s.Error, "still running"):
			overlaps++
		}
	}
	if timeouts != 1 || overlaps < 2 {
		t.Fatalf("history: one timeout then refusals to overlap; got %+v", info.Health.History)
	}
	if r := serve(h, "GET", "hangs", "/hello"); r.status != 200 {
		t.Fatalf("the flag policy keeps serving: %+v", r)
	}
}

func TestRetryCrashLoop(t *testing.T) {
	h := newTestHost(t)
	p := &Plugin{id: "broken", state: apiv1.StateFailed}
	var attempts atomic.Int32
	start := time.Now()
	h.retry(context.Background(), p, func(context.Context) error {
		attempts.Add(1)
		return errors.New("still broken")
	})
	if attempts.Load() != 3 || p.getState() != apiv1.StateCrashLoop {
		t.Fatalf("attempts=%d state=%s; want 3 attempts then crash_loop", attempts.Load(), p.getState())
	}
	// Backoff 10ms, 20ms, 40ms: at least 70ms in all.
	if d := time.Since(start); d < 70*time.Millisecond {
		t.Fatalf("retries took %s; backoff should double from 10ms", d)
	}
	if !strings.Contains(p.lastErr, "attempt 3 of 3") {
		t.Fatalf("last error: %q", p.lastErr)
	}
	if e := h.events.Since(0); len(e) == 0 || e[len(e)-1].Type != events.StateChanged {
		t.Fatalf("no crash_loop event: %+v", e)
	}

	// A retry that succeeds stops at once.
	p2 := &Plugin{id: "flaky", state: apiv1.StateFailed}
	attempts.Store(0)
	h.retry(context.Background(), p2, func(context.Context) error {
		if attempts.Add(1) == 2 {
			p2.setState(apiv1.StateActive)
			return nil
		}
		return errors.New("not yet")
	})
	if attempts.Load() != 2 || p2.getState() != apiv1.StateActive {
		t.Fatalf("attempts=%d state=%s", attempts.Load(), p2.getState())
	}
}

// configurable records the configurations it is given.
type configurable struct {
	testPlugin
	got    atomic.Value
	refuse atomic.Bool
}

func (p *configurable) GetMetadata() sdk.PluginMetadata {
	m := p.testPlugin.GetMetadata()
	m.Configuration = map[string]any{"greeting": "hello", "retries": float64(3)}
	return m
}

func (p *configurable) OnConfigChange(c map[string]any) error {
	if p.refuse.Load() {
		return errors.New("greeting too rude")
	}
	p.got.Store(c)
	return nil
}

func TestSetConfig(t *testing.T) {
	ctx := context.Background()
	h := newTestHost(t)
	p := &configurable{testPlugin: testPlugin{id: "cfg"}}
	add(t, h, p)

	got, err := h.SetConfig(ctx, "cfg", map[string]any{"greeting": "hi"})
	if err != nil || got["greeting"] != "hi" || got["retries"] != float64(3) {
		t.Fatalf("SetConfig: %v %v", got, err)
	}
	if c, _ := p.got.Load().(map[string]any); c["greeting"] != "hi" || c["retries"] != float64(3) {
		t.Fatalf("OnConfigChange got %v", c)
	}
	rec, _ := h.store.Plugin(ctx, "cfg")
	if rec.Config["greeting"] != "hi" {
		t.Fatalf("stored config: %v", rec.Config)
	}

	_, err = h.SetConfig(ctx, "cfg", map[string]any{"greeting": 5, "colour": "red"})
	if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "configuration.colour: unknown key") || !strings.Contains(err.Error(), "configuration.greeting: must be a string") {
		t.Fatalf("bad config: %v", err)
	}
	p.refuse.Store(true)
	var perr *PluginError
	if _, err = h.SetConfig(ctx, "cfg", map[string]any{"greeting": "oi"}); !errors.As(err, &perr) || perr.Step != "OnConfigChange" {
		t.Fatalf("refused config: %v", err)
	}
	rec, _ = h.store.Plugin(ctx, "cfg")
	cfg, _ := h.Config("cfg")
	if rec.Config["greeting"] != "hi" || cfg["greeting"] != "hi" {
		t.Fatalf("a refused change must change nothing: stored %v, effective %v", rec.Config, cfg)
	}
	var changes int
	for _, e := range h.events.Since(0) {
		if e.Type == events.ConfigChanged {
			changes++
		}
	}
	if changes != 1 {
		t.Fatalf("config_changed events: %d; want 1", changes)
	}
}

func TestEnabledIsRecorded(t *testing.T) {
	ctx := context.Background()
	h := newTestHost(t)
	add(t, h, &testPlugin{id: "demo", reply: "hi"})
	if _, err := h.SetEnabled(ctx, "demo", false); err != nil {
		t.Fatal(err)
	}
	rec, err := h.store.Plugin(ctx, "demo")
	if err != nil || rec.Enabled {
		t.Fatalf("record after disable: %+v %v", rec, err)
	}
	if err := h.Unload(ctx, "demo"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.store.Plugin(ctx, "demo"); err == nil {
		t.Fatal("record kept after unload")
	}
}
