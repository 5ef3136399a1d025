package host

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	apiv1 "github.com/kubestellar/ksplugins/api/v1"

	"github.com/kubestellar/ksplugins/internal/build"
	"github.com/kubestellar/ksplugins/internal/events"
	"github.com/kubestellar/ksplugins/internal/runtime"
	"github.com/kubestellar/ksplugins/internal/store"
)

// fakeRecord is the record of plugin fake running a fake-tier artifact
// that answers reply, written into a folder of its own, enabled.
func fakeRecord(t *testing.T, reply string) store.Plugin {
	t.Helper()
	path, digest := fakeArtifact(t, reply)
	return store.Plugin{ID: "fake", SourceKind: string(apiv1.SourceFile), SourceLocation: path,
		Tier: string(fakeTier), ArtifactPath: path, ArtifactDigest: digest, Enabled: true}
}

// fakeArtifact writes a fake-tier artifact of plugin fake answering reply
// into its own folder, and returns its path and digest.
func fakeArtifact(t *testing.T, reply string) (path, digest string) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "fake.bin")
	if err := os.WriteFile(path, []byte(reply), 0o600); err != nil {
		t.Fatal(err)
	}
	digest, err := build.FileDigest(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, digest
}

// waitState waits until the plugin id is in state want.
func waitState(t *testing.T, h *Host, id string, want apiv1.State) apiv1.Plugin {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		info, err := h.Get(id)
		if err == nil && info.State == want {
			return info
		}
		if time.Now().After(deadline) {
			t.Fatalf("plugin %s: %+v, %v; want state %s", id, info, err, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestReconcileFollowsTheStore plays another server that shares the store:
// each change it records reaches this host through Reconcile, which
// writes nothing back.
func TestReconcileFollowsTheStore(t *testing.T) {
	ctx := context.Background()
	rt := &fakeRuntime{}
	h := newTestHost(t, func(o *Options) { o.Runtimes = []runtime.Runtime{rt} })
	rec := fakeRecord(t, "v1")
	// put records rec as the other server would, and reconcile as told.
	put := func(rec store.Plugin) store.Plugin {
		t.Helper()
		if err := h.store.PutPlugin(ctx, rec); err != nil {
			t.Fatal(err)
		}
		stored, err := h.store.Plugin(ctx, rec.ID)
		if err != nil {
			t.Fatal(err)
		}
		if err := h.ReconcilePlugin(ctx, rec.ID); err != nil {
			t.Fatal(err)
		}
		return stored
	}
	unchanged := func(want store.Plugin) {
		t.Helper()
		got, err := h.store.Plugin(ctx, want.ID)
		if err != nil || !got.UpdatedAt.Equal(want.UpdatedAt) {
			t.Fatalf("the record was written by Reconcile: %+v, %v", got, err)
		}
	}

	stored := put(rec)
	waitState(t, h, "fake", apiv1.StateActive)
	if r := serve(h, "GET", "fake", "/hello"); r.status != 200 || r.body != "v1" {
		t.Fatalf("an installed plugin followed: %+v", r)
	}
	unchanged(stored)

	rec.Enabled = false
	stored = put(rec)
	if r := serve(h, "GET", "fake", "/hello"); r.status != 503 {
		t.Fatalf("a disabled plugin answered %+v; want 503", r)
	}
	if info, _ := h.Get("fake"); info.State != apiv1.StateDisabled {
		t.Fatalf("state %s; want disabled", info.State)
	}
	unchanged(stored)

	rec.Enabled, rec.Config = true, map[string]any{"greeting": "hi", "n": 2.0}
	stored = put(rec)
	if cfg, err := h.Config("fake"); err != nil || cfg["greeting"] != "hi" || cfg["n"] != 2.0 {
		t.Fatalf("configuration %v, %v; want the recorded one", cfg, err)
	}
	if r := serve(h, "GET", "fake", "/hello"); r.status != 200 {
		t.Fatalf("enabled again: %+v", r)
	}
	unchanged(stored)

	last := h.events.LastID()
	if err := h.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	if evs := h.events.Since(last); len(evs) != 0 {
		t.Fatalf("a pass over a host that agrees with the store changed something: %+v", evs)
	}

	rec.ArtifactPath, rec.ArtifactDigest = fakeArtifact(t, "v2")
	stored = put(rec)
	if r := serve(h, "GET", "fake", "/hello"); r.body != "v2" {
		t.Fatalf("new code followed: %+v", r)
	}
	if cfg, _ := h.Config("fake"); cfg["greeting"] != "hi" {
		t.Fatalf("the new code's configuration %v; want the recorded one", cfg)
	}
	ins := rt.instances()
	if len(ins) != 2 || ins[0].closed.Load() != 1 || ins[1].closed.Load() != 0 {
		t.Fatalf("after new code: %d instances; want the first closed once and the second open", len(ins))
	}
	unchanged(stored)

	if err := h.store.DeletePlugin(ctx, "fake"); err != nil {
		t.Fatal(err)
	}
	if err := h.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Get("fake"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("an unloaded plugin is still here: %v", err)
	}
	if ins[1].closed.Load() != 1 {
		t.Fatal("the unloaded plugin's instance was not closed")
	}
}

// TestReconcileCannotFollow: new code this server cannot run leaves the
// plugin failed here, serving nothing rather than the older code, says why
// on the plugin and in one error event, and is not tried again at the next
// pass.
func TestReconcileCannotFollow(t *testing.T) {
	ctx := context.Background()
	rt := &fakeRuntime{}
	h := newTestHost(t, func(o *Options) { o.Runtimes = []runtime.Runtime{rt} })
	rec := fakeRecord(t, "v1")
	digest := rec.ArtifactDigest
	if err := h.store.PutPlugin(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if err := h.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	waitState(t, h, "fake", apiv1.StateActive)

	// Built elsewhere and not in this server's caches.
	rec.ArtifactPath, rec.ArtifactDigest = filepath.Join(t.TempDir(), "fake.bin"), "sha256:"+digest[len("sha256:"):len(digest)-4]+"0000"
	if err := h.store.PutPlugin(ctx, rec); err != nil {
		t.Fatal(err)
	}
	last := h.events.LastID()
	for range 2 {
		if err := h.Reconcile(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if r := serve(h, "GET", "fake", "/hello"); r.status == 200 {
		t.Fatalf("the older code still serves: %+v", r)
	}
	info, _ := h.Get("fake")
	if info.State != apiv1.StateFailed || info.LastError == "" {
		t.Fatalf("state %s, last error %q; want failed and why the record was not followed", info.State, info.LastError)
	}
	if ins := rt.instances(); len(ins) != 1 || ins[0].closed.Load() != 1 {
		t.Fatalf("the older instance was not retired: %d instances", len(ins))
	}
	evs := h.events.Since(last)
	if len(evs) != 1 || evs[0].Type != events.Error || evs[0].Details["reason"] != "not_followed" {
		t.Fatalf("events: %+v; want one error event, reason not_followed", evs)
	}
}

// TestReconcileLeavesLocalChanges: a host reconciling after its own
// changes finds nothing to do.
func TestReconcileLeavesLocalChanges(t *testing.T) {
	ctx := context.Background()
	h := newTestHost(t)
	add(t, h, &testPlugin{id: "local", reply: "ok"})
	if _, err := h.SetEnabled(ctx, "local", false); err != nil {
		t.Fatal(err)
	}
	last := h.events.LastID()
	if err := h.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	if evs := h.events.Since(last); len(evs) != 0 {
		t.Fatalf("reconciling after a local change changed something: %+v", evs)
	}
	if info, _ := h.Get("local"); info.State != apiv1.StateDisabled {
		t.Fatalf("state %s; want disabled", info.State)
	}
}

// TestReloadKeepsAnotherServersChange: a reload records the new code in the
// stored record as it is, not as this server last saw it, so that a change
// another server recorded meanwhile (here: disabled) is not undone.
func TestReloadKeepsAnotherServersChange(t *testing.T) {
	ctx := context.Background()
	rt := &fakeRuntime{}
	h := newTestHost(t, func(o *Options) { o.Runtimes = []runtime.Runtime{rt} })
	rec := fakeRecord(t, "v1")
	path, digest := rec.ArtifactPath, rec.ArtifactDigest
	if err := h.store.PutPlugin(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Restore(ctx); err != nil {
		t.Fatal(err)
	}
	<-h.Restored()
	rec.Enabled = false // recorded by another server, not followed here yet
	if err := h.store.PutPlugin(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("v2"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Reload(ctx, "fake"); err != nil {
		t.Fatal(err)
	}
	got, err := h.store.Plugin(ctx, "fake")
	if err != nil || got.Enabled || got.ArtifactDigest == digest {
		t.Fatalf("record after the reload: %+v, %v; want the new artifact and still disabled", got, err)
	}
}

// TestReconcileAfterALostInstall: an install here that loses the record to
// another server's leaves the registry while the notice of the winner
// waits for its lock; the winner's plugin is adopted then, not at the next
// periodic pass.
func TestReconcileAfterALostInstall(t *testing.T) {
	ctx := context.Background()
	rt := &fakeRuntime{}
	h := newTestHost(t, func(o *Options) { o.Runtimes = []runtime.Runtime{rt} })
	rec := fakeRecord(t, "winner")
	if err := h.store.PutPlugin(ctx, rec); err != nil {
		t.Fatal(err)
	}
	// The losing install: registered and holding its operation lock, as
	// register does while it tries to create the record.
	loser := &Plugin{id: rec.ID, state: apiv1.StateLoading, enabled: true}
	loser.op.Lock()
	h.mu.Lock()
	h.plugins[rec.ID] = loser
	h.mu.Unlock()
	done := make(chan error, 1)
	go func() { done <- h.ReconcilePlugin(ctx, rec.ID) }()
	time.Sleep(20 * time.Millisecond) // the notice waits for the lock
	h.deregister(loser)
	loser.op.Unlock()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	waitState(t, h, rec.ID, apiv1.StateActive)
	if r := serve(h, "GET", rec.ID, "/hello"); r.status != 200 || r.body != "winner" {
		t.Fatalf("the winning install was not followed: %+v", r)
	}
}
