package api

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/kubestellar/ksplugins/internal/events"
)

// TestDrain: once draining, the server says so to readiness probes and
// still serves everything else.
func TestDrain(t *testing.T) {
	s, h := newServer(t)
	if r := do(h, "GET", "/readyz", "", ""); r.status != 200 {
		t.Fatalf("readyz before draining: %d %s", r.status, r.raw)
	}
	s.Drain()
	if r := do(h, "GET", "/readyz", "", ""); r.status != 503 || r.body["status"] != "draining" {
		t.Fatalf("readyz while draining: %d %s; want 503 draining", r.status, r.raw)
	}
	if r := do(h, "GET", "/healthz", "", ""); r.status != 200 {
		t.Fatalf("healthz while draining: %d", r.status)
	}
	if r := do(h, "GET", "/api/plugins", "", "Bearer "+token); r.status != 200 {
		t.Fatalf("the API while draining: %d %s", r.status, r.raw)
	}
}

// TestFollowSetting: a system configuration another server recorded is
// applied and announced once; one that does not validate is not applied;
// other settings are not looked at.
func TestFollowSetting(t *testing.T) {
	s, _ := newServer(t)
	ctx := context.Background()
	next := s.system()
	next.Debug = !next.Debug
	data, err := json.Marshal(next)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.store.PutSetting(ctx, SystemSetting, data); err != nil {
		t.Fatal(err)
	}
	last := s.events.LastID()
	s.FollowSetting(ctx, "another")
	if s.system().Debug == next.Debug {
		t.Fatal("a change of another setting applied the system configuration")
	}
	s.FollowSetting(ctx, SystemSetting)
	if s.system().Debug != next.Debug {
		t.Fatal("the recorded configuration was not applied")
	}
	s.FollowSetting(ctx, "") // unchanged since: nothing to do
	if evs := s.events.Since(last); len(evs) != 1 || evs[0].Type != events.ConfigChanged || evs[0].Details["followed"] != true {
		t.Fatalf("events: %+v; want one config_changed, followed", evs)
	}

	if err := s.store.PutSetting(ctx, SystemSetting, []byte(`{"security_mode": "lenient"}`)); err != nil {
		t.Fatal(err)
	}
	s.FollowSetting(ctx, SystemSetting)
	if got := s.system().SecurityMode; got == "lenient" {
		t.Fatal("an invalid recorded configuration was applied")
	}
}
