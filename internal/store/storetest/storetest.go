// Package storetest is the conformance suite for store.Store
// implementations, so that every backend is held to the same contract
// instead of each growing its own, slightly different, tests.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/kubestellar/ksplugins/internal/store"
)

// Run runs the suite. open must return a new, empty store for each call; Run
// closes it when the subtest ends.
//
// Config is compared after a round trip through encoding/json, because that
// is what implementations are allowed to do with it: JSON numbers come back
// as float64 (an int 8080 is returned as float64(8080)), and nested objects
// and arrays as map[string]any and []any.
//
// Ids in the suite use only lower-case ASCII letters and digits, so "sorted
// by id" means the same under byte order and under any common collation.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"Empty", testEmpty},
		{"PutGet", testPutGet},
		{"NilConfig", testNilConfig},
		{"SortedByID", testSorted},
		{"Replace", testReplace},
		{"Delete", testDelete},
		{"PluginNotFound", testPluginNotFound},
		{"Settings", testSettings},
		{"ConcurrentPuts", testConcurrent},
		{"CancelledContext", testCancelled},
		{"Times", testTimes},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tc.fn(t, s)
		})
	}
}

func sample(id string) store.Plugin {
	return store.Plugin{
		ID:             id,
		SourceKind:     "folder",
		SourceLocation: "/srv/plugins/" + id,
		SourceVersion:  "v1.2.3",
		SourcePath:     "plugins/hello",
		SourcePin:      "0123456789abcdef0123456789abcdef01234567",
		ArtifactPath:   "/var/cache/ksplugins/" + id + ".so",
		ArtifactDigest: "sha256:0123456789abcdef",
		BuildKey:       "go1.26-linux-amd64",
		Enabled:        true,
		Config: map[string]any{
			"port":   8080,
			"ratio":  0.25,
			"name":   "hello",
			"debug":  false,
			"none":   nil,
			"tags":   []any{"a", 1, true},
			"nested": map[string]any{"depth": map[string]any{"n": int64(-3)}, "list": []any{}},
		},
	}
}

// jsonRoundTrip is what a stored Config is expected to come back as.
func jsonRoundTrip(t *testing.T, m map[string]any) map[string]any {
	t.Helper()
	if m == nil {
		return nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// checkPlugin compares everything except the timestamps, which the store
// owns.
func checkPlugin(t *testing.T, got, want store.Plugin) {
	t.Helper()
	want.Config = jsonRoundTrip(t, want.Config)
	got.InstalledAt, got.UpdatedAt = time.Time{}, time.Time{}
	want.InstalledAt, want.UpdatedAt = time.Time{}, time.Time{}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("plugin mismatch:\n got  %#v\n want %#v", got, want)
	}
}

func mustPut(t *testing.T, s store.Store, p store.Plugin) {
	t.Helper()
	if err := s.PutPlugin(t.Context(), p); err != nil {
		t.Fatalf("PutPlugin(%s): %v", p.ID, err)
	}
}

func mustGet(t *testing.T, s store.Store, id string) store.Plugin {
	t.Helper()
	p, err := s.Plugin(t.Context(), id)
	if err != nil {
		t.Fatalf("Plugin(%s): %v", id, err)
	}
	return p
}

func testEmpty(t *testing.T, s store.Store) {
	ps, err := s.Plugins(t.Context())
	if err != nil {
		t.Fatalf("Plugins: %v", err)
	}
	if len(ps) != 0 {
		t.Errorf("Plugins on an empty store = %v, want none", ps)
	}
}

func testPutGet(t *testing.T, s store.Store) {
	want := sample("hello")
	mustPut(t, s, want)
	checkPlugin(t, mustGet(t, s, "hello"), want)

	ps, err := s.Plugins(t.Context())
	if err != nil {
		t.Fatalf("Plugins: %v", err)
	}
	if len(ps) != 1 {
		t.Fatalf("Plugins returned %d plugins, want 1", len(ps))
	}
	checkPlugin(t, ps[0], want)
}

func testNilConfig(t *testing.T, s store.Store) {
	// Zero values throughout, nil Config meaning "manifest defaults": it must
	// not come back as an empty map, nor an empty map as nil.
	want := store.Plugin{ID: "bare"}
	mustPut(t, s, want)
	checkPlugin(t, mustGet(t, s, "bare"), want)

	empty := store.Plugin{ID: "empty", Config: map[string]any{}}
	mustPut(t, s, empty)
	if got := mustGet(t, s, "empty"); got.Config == nil || len(got.Config) != 0 {
		t.Errorf("empty Config came back as %#v, want empty non-nil map", got.Config)
	}
}

func testSorted(t *testing.T, s store.Store) {
	ids := []string{"mike", "alpha", "zulu", "bravo2", "bravo10", "charlie", "bravo"}
	for _, id := range ids {
		mustPut(t, s, sample(id))
	}
	ps, err := s.Plugins(t.Context())
	if err != nil {
		t.Fatalf("Plugins: %v", err)
	}
	var got []string
	for _, p := range ps {
		got = append(got, p.ID)
	}
	want := slices.Sorted(slices.Values(ids))
	if !slices.Equal(got, want) {
		t.Errorf("Plugins ids = %v, want %v", got, want)
	}
}

func testReplace(t *testing.T, s store.Store) {
	mustPut(t, s, sample("p"))
	first := mustGet(t, s, "p")

	// Let the clock move past the store's precision so UpdatedAt can advance.
	time.Sleep(5 * time.Millisecond)
	next := store.Plugin{
		ID:             "p",
		SourceKind:     "oci",
		SourceLocation: "ghcr.io/example/p",
		ArtifactPath:   "/var/cache/ksplugins/p2.so",
		ArtifactDigest: "sha256:fedcba",
		Config:         map[string]any{"replaced": "yes"},
		// A caller's timestamps are not the store's to keep.
		InstalledAt: time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	mustPut(t, s, next)
	got := mustGet(t, s, "p")
	checkPlugin(t, got, next)
	if !got.InstalledAt.Equal(first.InstalledAt) {
		t.Errorf("InstalledAt changed on replace: %v -> %v", first.InstalledAt, got.InstalledAt)
	}
	if !got.UpdatedAt.After(first.UpdatedAt) {
		t.Errorf("UpdatedAt did not advance on replace: %v -> %v", first.UpdatedAt, got.UpdatedAt)
	}
	if ps, err := s.Plugins(t.Context()); err != nil || len(ps) != 1 {
		t.Errorf("Plugins after replace = %d plugins, %v; want 1, nil", len(ps), err)
	}
}

func testDelete(t *testing.T, s store.Store) {
	mustPut(t, s, sample("keep"))
	mustPut(t, s, sample("drop"))
	if err := s.DeletePlugin(t.Context(), "drop"); err != nil {
		t.Fatalf("DeletePlugin: %v", err)
	}
	if _, err := s.Plugin(t.Context(), "drop"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Plugin after delete: err = %v, want ErrNotFound", err)
	}
	ps, err := s.Plugins(t.Context())
	if err != nil || len(ps) != 1 || ps[0].ID != "keep" {
		t.Errorf("Plugins after delete = %v, %v; want only keep", ps, err)
	}
	if err := s.DeletePlugin(t.Context(), "drop"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second DeletePlugin: err = %v, want ErrNotFound", err)
	}
	if err := s.DeletePlugin(t.Context(), "never"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeletePlugin of missing id: err = %v, want ErrNotFound", err)
	}
}

func testPluginNotFound(t *testing.T, s store.Store) {
	mustPut(t, s, sample("other"))
	if _, err := s.Plugin(t.Context(), "missing"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Plugin(missing): err = %v, want ErrNotFound", err)
	}
}

func testSettings(t *testing.T, s store.Store) {
	ctx := t.Context()
	if _, err := s.Setting(ctx, "k"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Setting(missing): err = %v, want ErrNotFound", err)
	}
	for _, v := range [][]byte{[]byte("v1"), {0, 1, 0xff, 0}, []byte("v3")} {
		if err := s.PutSetting(ctx, "k", v); err != nil {
			t.Fatalf("PutSetting(%q): %v", v, err)
		}
		got, err := s.Setting(ctx, "k")
		if err != nil || string(got) != string(v) {
			t.Errorf("Setting after PutSetting(%q) = %q, %v", v, got, err)
		}
	}
	// Empty is a value, not an absence.
	for _, v := range [][]byte{{}, nil} {
		if err := s.PutSetting(ctx, "empty", v); err != nil {
			t.Fatalf("PutSetting(empty %#v): %v", v, err)
		}
		if got, err := s.Setting(ctx, "empty"); err != nil || len(got) != 0 {
			t.Errorf("Setting(empty) = %q, %v; want empty, nil", got, err)
		}
	}
	if got, err := s.Setting(ctx, "k"); err != nil || string(got) != "v3" {
		t.Errorf("Setting(k) after writing another key = %q, %v; want v3", got, err)
	}
}

func testConcurrent(t *testing.T, s store.Store) {
	const n = 16
	ctx := t.Context()
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			p := sample(fmt.Sprintf("distinct%02d", i))
			if err := s.PutPlugin(ctx, p); err != nil {
				t.Errorf("PutPlugin(%s): %v", p.ID, err)
			}
		})
		wg.Go(func() {
			// Fields that must stay together: a torn write shows up as a
			// version from one writer next to a digest from another.
			p := sample("same")
			p.SourceVersion = fmt.Sprintf("v%d", i)
			p.ArtifactDigest = fmt.Sprintf("sha256:%d", i)
			p.Config = map[string]any{"writer": i}
			if err := s.PutPlugin(ctx, p); err != nil {
				t.Errorf("PutPlugin(same, %d): %v", i, err)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}

	ps, err := s.Plugins(ctx)
	if err != nil {
		t.Fatalf("Plugins: %v", err)
	}
	if len(ps) != n+1 {
		t.Fatalf("Plugins returned %d plugins, want %d", len(ps), n+1)
	}
	for i, p := range ps[:n] {
		checkPlugin(t, p, sample(fmt.Sprintf("distinct%02d", i)))
	}
	same := ps[n]
	var w int
	if _, err := fmt.Sscanf(same.SourceVersion, "v%d", &w); err != nil || w < 0 || w >= n {
		t.Fatalf("same.SourceVersion = %q, not one that was written", same.SourceVersion)
	}
	want := sample("same")
	want.SourceVersion = fmt.Sprintf("v%d", w)
	want.ArtifactDigest = fmt.Sprintf("sha256:%d", w)
	want.Config = map[string]any{"writer": w}
	checkPlugin(t, same, want)
	if same.UpdatedAt.Before(same.InstalledAt) {
		t.Errorf("UpdatedAt %v before InstalledAt %v", same.UpdatedAt, same.InstalledAt)
	}
}

func testCancelled(t *testing.T, s store.Store) {
	mustPut(t, s, sample("there"))
	if err := s.PutSetting(t.Context(), "k", []byte("v")); err != nil {
		t.Fatalf("PutSetting: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()

	calls := []struct {
		name string
		call func() error
	}{
		{"Plugins", func() error { _, err := s.Plugins(ctx); return err }},
		{"Plugin", func() error { _, err := s.Plugin(ctx, "there"); return err }},
		{"PutPlugin", func() error { return s.PutPlugin(ctx, sample("new")) }},
		{"DeletePlugin", func() error { return s.DeletePlugin(ctx, "there") }},
		{"Setting", func() error { _, err := s.Setting(ctx, "k"); return err }},
		{"PutSetting", func() error { return s.PutSetting(ctx, "k", []byte("new")) }},
	}
	for _, c := range calls {
		done := make(chan error, 1)
		go func() { done <- c.call() }()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("%s with a cancelled context: err = %v, want context.Canceled", c.name, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s with a cancelled context hung", c.name)
		}
	}

	// Nothing the cancelled calls tried may have happened.
	mustGet(t, s, "there")
	if _, err := s.Plugin(t.Context(), "new"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Plugin(new) after cancelled put: err = %v, want ErrNotFound", err)
	}
	if v, err := s.Setting(t.Context(), "k"); err != nil || string(v) != "v" {
		t.Errorf("Setting(k) after cancelled put = %q, %v; want v", v, err)
	}
}

func testTimes(t *testing.T, s store.Store) {
	// Precision is checked by bounds: a store that kept only seconds would
	// almost always land outside [before-1ms, after+1ms]. The slack allows
	// for rounding to the store's resolution.
	const slack = time.Millisecond
	for i := range 3 {
		before := time.Now()
		mustPut(t, s, sample("t"))
		after := time.Now()
		p := mustGet(t, s, "t")
		for name, ts := range map[string]time.Time{"InstalledAt": p.InstalledAt, "UpdatedAt": p.UpdatedAt} {
			if ts.Location() != time.UTC {
				t.Errorf("%s location = %v, want UTC", name, ts.Location())
			}
			if i > 0 && name == "InstalledAt" {
				continue
			}
			if ts.Before(before.Add(-slack)) || ts.After(after.Add(slack)) {
				t.Errorf("%s = %v, want within [%v, %v]", name, ts, before.UTC(), after.UTC())
			}
		}
		time.Sleep(3 * time.Millisecond)
	}
}
