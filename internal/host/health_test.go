package host

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	apiv1 "github.com/kubestellar/ksplugins/api/v1"
	"github.com/kubestellar/ksplugins/internal/events"
	"github.com/kubestellar/ksplugins/internal/health"
	"github.com/kubestellar/ksplugins/sdk"
)

// flakyPlugin fails its health check while sick is set, and hangs it while
// hang is set, until unhang is closed.
type flakyPlugin struct {
	testPlugin
	sick   atomic.Bool
	hang   atomic.Bool
	unhang chan struct{}
}

func (p *flakyPlugin) Health() error {
	if p.hang.Load() {
		<-p.unhang
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

// healthAfter lets d pass on synctest's fake clock, waits for the checks
// due by then to finish, and returns the plugin's health.
func healthAfter(t *testing.T, h *Host, id string, d time.Duration) apiv1.Health {
	t.Helper()
	time.Sleep(d)
	synctest.Wait()
	info, err := h.Get(id)
	if err != nil {
		t.Fatal(err)
	}
	return info.Health
}

// TestHealthAtManifestInterval: checks run at the plugin's own 1 s interval
// (the policy default is an hour), so on synctest's fake clock the first
// is exactly a second after the load, and three failures take three more.
func TestHealthAtManifestInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newTestHost(t)
		h.SetHealthPolicy(HealthPolicy{Interval: time.Hour, Timeout: time.Minute, FailureThreshold: 3, RecoveryThreshold: 1, OnUnhealthy: health.OnUnhealthyDisable})
		sub := h.events.Subscribe(0)
		defer sub.Close()
		p := &flakyPlugin{testPlugin: testPlugin{id: "flaky", reply: "ok"}}
		add(t, h, p)
		if hs := healthAfter(t, h, "flaky", time.Second-time.Millisecond); hs.Status != apiv1.HealthUnknown || hs.Checks != 0 {
			t.Fatalf("health before the first interval ended: %+v; want unknown, unchecked", hs)
		}
		if hs := healthAfter(t, h, "flaky", time.Millisecond); hs.Status != apiv1.HealthHealthy || hs.Checks != 1 {
			t.Fatalf("health after one interval: %+v; want healthy after one check", hs)
		}

		p.sick.Store(true)
		for i, want := range []apiv1.HealthStatus{apiv1.HealthDegraded, apiv1.HealthDegraded, apiv1.HealthUnhealthy} {
			if hs := healthAfter(t, h, "flaky", time.Second); hs.Status != want {
				t.Fatalf("health after %d failed checks: %+v; want %s", i+1, hs, want)
			}
		}
		if r := serve(h, "GET", "flaky", "/hello"); r.status != 503 {
			t.Fatalf("the disable policy should stop serving: %+v", r)
		}
		info, _ := h.Get("flaky")
		if info.Health.LastError != "database unreachable" || info.Health.ConsecutiveFailures != 3 {
			t.Fatalf("health: %+v", info.Health)
		}

		p.sick.Store(false)
		if hs := healthAfter(t, h, "flaky", time.Second); hs.Status != apiv1.HealthHealthy {
			t.Fatalf("health after a good check: %+v; want healthy", hs)
		}
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
	})
}

func detail(e events.Event, key string) string {
	s, _ := e.Details[key].(string)
	return s
}

// TestHangingHealthCheck: a apiv1.Health that never returns counts as a failure
// each interval and is not started again on top of itself. On synctest's
// fake clock: the check due at 1 s times out at 2 s, the one due then is
// refused at once, as is the one at 3 s, which makes three failures.
func TestHangingHealthCheck(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newTestHost(t)
		p := &flakyPlugin{testPlugin: testPlugin{id: "hangs", reply: "ok"}, unhang: make(chan struct{})}
		add(t, h, p)
		t.Cleanup(func() { close(p.unhang) }) // before the host closes: the bubble ends with no goroutine blocked
		p.hang.Store(true)
		hs := healthAfter(t, h, "hangs", 3*time.Second)
		if hs.Status != apiv1.HealthUnhealthy {
			t.Fatalf("health after three intervals: %+v; want unhealthy", hs)
		}
		if !hs.Checking {
			t.Fatal("the hung check should still be reported as running")
		}
		var got []string
		for _, s := range hs.History {
			switch {
			case strings.Contains(s.Error, "no answer within 1s"):
				got = append(got, "timeout")
			case strings.Contains(s.Error, "still running"):
				got = append(got, "refused")
			default:
				got = append(got, "other: "+s.Error)
			}
		}
		if want := []string{"timeout", "refused", "refused"}; !slices.Equal(got, want) {
			t.Fatalf("history %v; want one timeout, then refusals to overlap: %+v", got, hs.History)
		}
		if r := serve(h, "GET", "hangs", "/hello"); r.status != 200 {
			t.Fatalf("the flag policy keeps serving: %+v", r)
		}
	})
}

// TestRetryCrashLoop runs on synctest's fake clock, so the backoff is
// measured exactly: 10 ms, then 20, then 40 before the three attempts.
func TestRetryCrashLoop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newTestHost(t)
		p := &Plugin{id: "broken", state: apiv1.StateFailed}
		var attempts atomic.Int32
		var at []time.Duration
		start := time.Now()
		h.retry(context.Background(), p, func(context.Context) error {
			attempts.Add(1)
			at = append(at, time.Since(start))
			return errors.New("still broken")
		})
		if attempts.Load() != 3 || p.getState() != apiv1.StateCrashLoop {
			t.Fatalf("attempts=%d state=%s; want 3 attempts then crash_loop", attempts.Load(), p.getState())
		}
		if want := []time.Duration{10 * time.Millisecond, 30 * time.Millisecond, 70 * time.Millisecond}; !slices.Equal(at, want) {
			t.Fatalf("attempts at %v; want %v: the backoff doubles from 10ms", at, want)
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
	})
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
