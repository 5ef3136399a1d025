// Package storetest is the conformance suite for store.Store
// implementations, so that every backend is held to the same contract
// instead of each growing its own, slightly different, tests.
package storetest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	apiv1 "github.com/kubestellar/ksplugins/api/v1"

	"github.com/kubestellar/ksplugins/internal/store"
	"github.com/kubestellar/ksplugins/sdk"
)

// Run runs the suite. open must return a new, empty store for each call; Run
// closes it when the subtest ends.
//
// Config and an audit entry's Details are compared after a round trip
// through encoding/json, because that is what implementations are allowed
// to do with them: JSON numbers come back as float64 (an int 8080 is
// returned as float64(8080)), and nested objects and arrays as
// map[string]any and []any.
//
// Ids and token names in the suite use only lower-case ASCII letters and
// digits, so "sorted by id" means the same under byte order and under any
// common collation.
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
		{"Revisions", testRevisions},
		{"Create", testCreate},
		{"Delete", testDelete},
		{"PluginNotFound", testPluginNotFound},
		{"Settings", testSettings},
		{"ConcurrentPuts", testConcurrent},
		{"CancelledContext", testCancelled},
		{"Times", testTimes},
		{"Grants", testGrants},
		{"KubernetesGrant", testKubernetesGrant},
		{"Tokens", testTokens},
		{"TokenExists", testTokenExists},
		{"TokenNotFound", testTokenNotFound},
		{"RevokeToken", testRevokeToken},
		{"TokenTimes", testTokenTimes},
		{"AuditAppend", testAuditAppend},
		{"AuditFilters", testAuditFilters},
		{"AuditPaging", testAuditPaging},
		{"AuditLimit", testAuditLimit},
		{"AuditDetails", testAuditDetails},
		{"AuditTimes", testAuditTimes},
		{"ConcurrentAudit", testConcurrentAudit},
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
		Tier:           "sandboxed",
		ArtifactPath:   "/var/cache/ksplugins/" + id + ".so",
		ArtifactDigest: "sha256:0123456789abcdef",
		BuildKey:       "go1.26-linux-amd64",
		Enabled:        true,
		Grants:         []string{"network:example.com", "kube:read"},
		Kubernetes:     sampleKubernetes(),
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
	// Times and revisions are the store's, checked by tests of their own.
	got.InstalledAt, got.UpdatedAt, got.Revision = time.Time{}, time.Time{}, 0
	want.InstalledAt, want.UpdatedAt, want.Revision = time.Time{}, time.Time{}, 0
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

// testRevisions: every write counts, and a write against a revision no
// longer stored (another writer's came between) is refused and changes
// nothing.
func testRevisions(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustPut(t, s, sample("p"))
	first := mustGet(t, s, "p")
	if first.Revision != 1 {
		t.Fatalf("a new record's revision = %d; want 1", first.Revision)
	}
	mine, theirs := first, first
	theirs.Enabled = !first.Enabled
	if err := s.PutPlugin(ctx, theirs); err != nil {
		t.Fatalf("a write at the stored revision: %v", err)
	}
	if got := mustGet(t, s, "p"); got.Revision != 2 || got.Enabled != theirs.Enabled {
		t.Fatalf("after a write at revision 1: revision %d, enabled %t; want 2, %t", got.Revision, got.Enabled, theirs.Enabled)
	}
	mine.Config = map[string]any{"lost": "no"}
	if err := s.PutPlugin(ctx, mine); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("a write at a revision no longer stored: %v; want ErrConflict", err)
	}
	if got := mustGet(t, s, "p"); got.Revision != 2 || got.Enabled != theirs.Enabled || got.Config["lost"] != nil {
		t.Fatalf("a refused write changed the record: %+v", got)
	}
	mine.Revision = 0 // regardless of the stored revision
	if err := s.PutPlugin(ctx, mine); err != nil {
		t.Fatalf("an unconditional write: %v", err)
	}
	if got := mustGet(t, s, "p"); got.Revision != 3 || got.Config["lost"] != "no" {
		t.Fatalf("after an unconditional write: %+v; want revision 3 and its config", got)
	}
	if err := s.PutPlugin(ctx, store.Plugin{ID: "gone", Revision: 4}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a write at a revision of a record that is not stored: %v; want ErrNotFound", err)
	}
	if _, err := s.Plugin(ctx, "gone"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the refused write created the record: %v", err)
	}
}

func testCreate(t *testing.T, s store.Store) {
	ctx := t.Context()
	want := sample("p")
	if err := s.CreatePlugin(ctx, want); err != nil {
		t.Fatalf("CreatePlugin: %v", err)
	}
	checkPlugin(t, mustGet(t, s, "p"), want)
	other := sample("p")
	other.SourceLocation = "somewhere else"
	if err := s.CreatePlugin(ctx, other); !errors.Is(err, store.ErrExists) {
		t.Fatalf("a second CreatePlugin of one id: %v; want ErrExists", err)
	}
	if got := mustGet(t, s, "p"); got.SourceLocation != want.SourceLocation || got.Revision != 1 {
		t.Fatalf("a refused create changed the record: %+v", got)
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
	mustPutToken(t, s, sampleToken("there"))
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
		{"PutToken", func() error { return s.PutToken(ctx, sampleToken("new")) }},
		{"Tokens", func() error { _, err := s.Tokens(ctx); return err }},
		{"TokenByHash", func() error { _, err := s.TokenByHash(ctx, hashOf("there")); return err }},
		{"RevokeToken", func() error { return s.RevokeToken(ctx, "there", time.Now()) }},
		{"AppendAudit", func() error { _, err := s.AppendAudit(ctx, sampleAudit("new", "p")); return err }},
		{"Audit", func() error { _, err := s.Audit(ctx, store.AuditQuery{}); return err }},
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
	if ts := mustTokens(t, s); len(ts) != 1 || ts[0].Name != "there" || ts[0].RevokedAt != nil {
		t.Errorf("Tokens after cancelled put and revoke = %+v, want only there, not revoked", ts)
	}
	if es := mustAudit(t, s, store.AuditQuery{}); len(es) != 0 {
		t.Errorf("Audit after cancelled append = %+v, want none", es)
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

func testGrants(t *testing.T, s store.Store) {
	// nil (never granted) and empty (granted nothing) stay apart, like
	// Config; order and odd characters survive.
	cases := []struct {
		id     string
		grants []string
	}{
		{"nilgrants", nil},
		{"emptygrants", []string{}},
		{"somegrants", []string{"zeta", "alpha", `with "quotes", commas`, "ünïcode", ""}},
	}
	for _, c := range cases {
		p := sample(c.id)
		p.Grants = c.grants
		mustPut(t, s, p)
		got := mustGet(t, s, c.id)
		checkPlugin(t, got, p)
		if (got.Grants == nil) != (c.grants == nil) {
			t.Errorf("%s: Grants came back as %#v, want %#v", c.id, got.Grants, c.grants)
		}
	}
	ps, err := s.Plugins(t.Context())
	if err != nil || len(ps) != len(cases) {
		t.Fatalf("Plugins = %d plugins, %v; want %d", len(ps), err, len(cases))
	}
	for _, p := range ps {
		for _, c := range cases {
			if p.ID == c.id && (!slices.Equal(p.Grants, c.grants) || (p.Grants == nil) != (c.grants == nil)) {
				t.Errorf("Plugins: %s Grants = %#v, want %#v", p.ID, p.Grants, c.grants)
			}
		}
	}

	// A replace replaces the grants, also with none.
	for _, grants := range [][]string{{"other"}, nil, {}} {
		p := sample("somegrants")
		p.Grants = grants
		mustPut(t, s, p)
		if got := mustGet(t, s, p.ID); !slices.Equal(got.Grants, grants) || (got.Grants == nil) != (grants == nil) {
			t.Errorf("Grants after replace with %#v = %#v", grants, got.Grants)
		}
	}
}

// sampleKubernetes is a grant with every field set.
func sampleKubernetes() *apiv1.KubernetesGrant {
	return &apiv1.KubernetesGrant{
		Contexts: []string{"its1", "wds1"},
		Rules: []sdk.KubernetesRule{
			{APIGroups: []string{"cluster.open-cluster-management.io"}, Resources: []string{"managedclusters", "managedclusters/status"}, Verbs: []string{"get", "list", "watch"}},
			{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get"}, Namespaces: []string{"ocm"}, ResourceNames: []string{"hub-kubeconfig"}},
		},
		ExternalClusters: true,
		Withheld:         []string{"context kind-other withheld: kubernetes.allowed_contexts does not list it"},
	}
}

func testKubernetesGrant(t *testing.T, s store.Store) {
	// nil (asked for nothing) and a grant of nothing stay apart.
	cases := []struct {
		id    string
		grant *apiv1.KubernetesGrant
	}{
		{"nokube", nil},
		{"emptykube", &apiv1.KubernetesGrant{Contexts: []string{}, Rules: []sdk.KubernetesRule{}}},
		{"somekube", sampleKubernetes()},
	}
	for _, c := range cases {
		p := sample(c.id)
		p.Kubernetes = c.grant
		mustPut(t, s, p)
		checkPlugin(t, mustGet(t, s, c.id), p)
	}
	ps, err := s.Plugins(t.Context())
	if err != nil || len(ps) != len(cases) {
		t.Fatalf("Plugins = %d plugins, %v; want %d", len(ps), err, len(cases))
	}
	for i, p := range ps { // sorted by id: emptykube, nokube, somekube
		want := cases[[]int{1, 0, 2}[i]]
		if p.ID != want.id || !reflect.DeepEqual(p.Kubernetes, want.grant) {
			t.Errorf("Plugins[%d]: %s Kubernetes = %+v, want %s %+v", i, p.ID, p.Kubernetes, want.id, want.grant)
		}
	}

	// A replace replaces the grant, also with none.
	p := sample("somekube")
	p.Kubernetes = nil
	mustPut(t, s, p)
	if got := mustGet(t, s, p.ID); got.Kubernetes != nil {
		t.Errorf("Kubernetes after replace with nil = %+v", got.Kubernetes)
	}
}

// hashOf is the hex SHA-256 of a token's secret, as callers store it.
func hashOf(name string) string {
	sum := sha256.Sum256([]byte("secret-" + name))
	return hex.EncodeToString(sum[:])
}

// zone is a non-UTC location: times given in it must come back in UTC.
var zone = time.FixedZone("UTC+2", 2*60*60)

func sampleToken(name string) store.Token {
	expires := time.Date(2031, 12, 24, 18, 30, 0, 123456789, zone)
	return store.Token{
		Name:      name,
		Role:      "admin",
		Hash:      hashOf(name),
		CreatedAt: time.Date(2025, 3, 4, 5, 6, 7, 891011121, zone),
		ExpiresAt: &expires,
	}
}

func mustPutToken(t *testing.T, s store.Store, tok store.Token) {
	t.Helper()
	if err := s.PutToken(t.Context(), tok); err != nil {
		t.Fatalf("PutToken(%s): %v", tok.Name, err)
	}
}

func mustTokens(t *testing.T, s store.Store) []store.Token {
	t.Helper()
	ts, err := s.Tokens(t.Context())
	if err != nil {
		t.Fatalf("Tokens: %v", err)
	}
	return ts
}

func mustTokenByHash(t *testing.T, s store.Store, hash string) store.Token {
	t.Helper()
	tok, err := s.TokenByHash(t.Context(), hash)
	if err != nil {
		t.Fatalf("TokenByHash: %v", err)
	}
	return tok
}

// sameTime reports whether two optional times are both absent or the same
// instant.
func sameTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}

// checkToken compares times as instants and requires them in UTC.
func checkToken(t *testing.T, got, want store.Token) {
	t.Helper()
	if got.Name != want.Name || got.Role != want.Role || got.Hash != want.Hash ||
		!got.CreatedAt.Equal(want.CreatedAt) || !sameTime(got.ExpiresAt, want.ExpiresAt) ||
		!sameTime(got.RevokedAt, want.RevokedAt) {
		t.Errorf("token mismatch:\n got  %s\n want %s", fmtToken(got), fmtToken(want))
	}
	for name, ts := range map[string]*time.Time{"CreatedAt": &got.CreatedAt, "ExpiresAt": got.ExpiresAt, "RevokedAt": got.RevokedAt} {
		if ts != nil && ts.Location() != time.UTC {
			t.Errorf("token %s: %s location = %v, want UTC", got.Name, name, ts.Location())
		}
	}
}

func fmtToken(tok store.Token) string {
	opt := func(t *time.Time) string {
		if t == nil {
			return "nil"
		}
		return t.String()
	}
	return fmt.Sprintf("{Name:%q Role:%q Hash:%q CreatedAt:%v ExpiresAt:%s RevokedAt:%s}",
		tok.Name, tok.Role, tok.Hash, tok.CreatedAt, opt(tok.ExpiresAt), opt(tok.RevokedAt))
}

func testTokens(t *testing.T, s store.Store) {
	if ts := mustTokens(t, s); len(ts) != 0 {
		t.Errorf("Tokens on an empty store = %v, want none", ts)
	}
	names := []string{"mike", "alpha", "zulu", "bravo2", "bravo10", "charlie", "bravo"}
	want := map[string]store.Token{}
	for i, name := range names {
		tok := sampleToken(name)
		if i%2 == 1 {
			tok.Role = "viewer"
			tok.ExpiresAt = nil // never expires
		}
		mustPutToken(t, s, tok)
		want[name] = tok
	}

	ts := mustTokens(t, s)
	var got []string
	for _, tok := range ts {
		got = append(got, tok.Name)
		checkToken(t, tok, want[tok.Name])
	}
	if sorted := slices.Sorted(slices.Values(names)); !slices.Equal(got, sorted) {
		t.Errorf("Tokens names = %v, want %v", got, sorted)
	}
	for _, name := range names {
		checkToken(t, mustTokenByHash(t, s, hashOf(name)), want[name])
	}
}

func testTokenExists(t *testing.T, s store.Store) {
	ctx := t.Context()
	orig := sampleToken("taken")
	mustPutToken(t, s, orig)

	sameName := sampleToken("other")
	sameName.Name = "taken"
	sameName.Role = "viewer"
	if err := s.PutToken(ctx, sameName); !errors.Is(err, store.ErrExists) {
		t.Errorf("PutToken with a taken name: err = %v, want ErrExists", err)
	}
	sameHash := sampleToken("fresh")
	sameHash.Hash = orig.Hash
	if err := s.PutToken(ctx, sameHash); !errors.Is(err, store.ErrExists) {
		t.Errorf("PutToken with a taken hash: err = %v, want ErrExists", err)
	}

	// Neither failed put may have changed or added anything.
	ts := mustTokens(t, s)
	if len(ts) != 1 {
		t.Fatalf("Tokens after failed puts = %d tokens, want 1", len(ts))
	}
	checkToken(t, ts[0], orig)
	checkToken(t, mustTokenByHash(t, s, orig.Hash), orig)
	if _, err := s.TokenByHash(ctx, hashOf("other")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("TokenByHash of a token refused for its name: err = %v, want ErrNotFound", err)
	}
	// A different name and hash is still welcome.
	mustPutToken(t, s, sampleToken("fresh"))
	if ts := mustTokens(t, s); len(ts) != 2 {
		t.Errorf("Tokens after a good put = %d tokens, want 2", len(ts))
	}
}

func testTokenNotFound(t *testing.T, s store.Store) {
	ctx := t.Context()
	if _, err := s.TokenByHash(ctx, hashOf("none")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("TokenByHash on an empty store: err = %v, want ErrNotFound", err)
	}
	mustPutToken(t, s, sampleToken("known"))
	for _, h := range []string{hashOf("unknown"), "known", "", strings.ToUpper(hashOf("known"))} {
		if _, err := s.TokenByHash(ctx, h); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("TokenByHash(%q): err = %v, want ErrNotFound", h, err)
		}
	}
}

func testRevokeToken(t *testing.T, s store.Store) {
	ctx := t.Context()
	a, b := sampleToken("a"), sampleToken("b")
	mustPutToken(t, s, a)
	mustPutToken(t, s, b)

	first := time.Date(2026, 1, 2, 3, 4, 5, 600700800, zone)
	if err := s.RevokeToken(ctx, "a", first); err != nil {
		t.Fatalf("RevokeToken(a): %v", err)
	}
	a.RevokedAt = &first
	// A revoked token is still listed and still found by its hash, so a
	// caller can tell "revoked" from "unknown".
	checkToken(t, mustTokenByHash(t, s, a.Hash), a)
	checkToken(t, mustTokenByHash(t, s, b.Hash), b)

	if err := s.RevokeToken(ctx, "a", first.Add(time.Hour)); err != nil {
		t.Fatalf("second RevokeToken(a): %v", err)
	}
	checkToken(t, mustTokenByHash(t, s, a.Hash), a) // keeps the first time

	if err := s.RevokeToken(ctx, "nobody", first); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("RevokeToken(nobody): err = %v, want ErrNotFound", err)
	}
	ts := mustTokens(t, s)
	if len(ts) != 2 {
		t.Fatalf("Tokens after revokes = %d tokens, want 2", len(ts))
	}
	checkToken(t, ts[0], a)
	checkToken(t, ts[1], b)
}

func testTokenTimes(t *testing.T, s store.Store) {
	const slack = time.Millisecond
	before := time.Now()
	mustPutToken(t, s, store.Token{Name: "zero", Role: "admin", Hash: hashOf("zero")})
	after := time.Now()
	tok := mustTokenByHash(t, s, hashOf("zero"))
	if tok.CreatedAt.Location() != time.UTC {
		t.Errorf("CreatedAt location = %v, want UTC", tok.CreatedAt.Location())
	}
	if tok.CreatedAt.Before(before.Add(-slack)) || tok.CreatedAt.After(after.Add(slack)) {
		t.Errorf("zero CreatedAt stored as %v, want within [%v, %v]", tok.CreatedAt, before.UTC(), after.UTC())
	}
	if tok.ExpiresAt != nil || tok.RevokedAt != nil {
		t.Errorf("ExpiresAt, RevokedAt = %v, %v; want nil, nil", tok.ExpiresAt, tok.RevokedAt)
	}

	// Given times are kept to the nanosecond, whatever their location.
	given := sampleToken("given")
	revoked := time.Date(2027, 6, 7, 8, 9, 10, 1, zone)
	given.RevokedAt = &revoked
	mustPutToken(t, s, given)
	checkToken(t, mustTokenByHash(t, s, given.Hash), given)
}

func sampleAudit(actor, target string) store.AuditEntry {
	return store.AuditEntry{
		Actor:  actor,
		Action: "plugin.install",
		Target: target,
		Result: "ok",
		Status: 201,
	}
}

func mustAppend(t *testing.T, s store.Store, e store.AuditEntry) int64 {
	t.Helper()
	id, err := s.AppendAudit(t.Context(), e)
	if err != nil {
		t.Fatalf("AppendAudit: %v", err)
	}
	return id
}

func mustAudit(t *testing.T, s store.Store, q store.AuditQuery) []store.AuditEntry {
	t.Helper()
	es, err := s.Audit(t.Context(), q)
	if err != nil {
		t.Fatalf("Audit(%+v): %v", q, err)
	}
	return es
}

func auditIDs(es []store.AuditEntry) []int64 {
	ids := make([]int64, 0, len(es))
	for _, e := range es {
		ids = append(ids, e.ID)
	}
	return ids
}

// checkAudit compares entries, Time as an instant (and in UTC) and Details
// after a JSON round trip.
func checkAudit(t *testing.T, got, want store.AuditEntry) {
	t.Helper()
	if got.Time.Location() != time.UTC {
		t.Errorf("entry %d: Time location = %v, want UTC", got.ID, got.Time.Location())
	}
	if !got.Time.Equal(want.Time) {
		t.Errorf("entry %d: Time = %v, want %v", got.ID, got.Time, want.Time)
	}
	got.Time, want.Time = time.Time{}, time.Time{}
	want.Details = jsonRoundTrip(t, want.Details)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("audit entry mismatch:\n got  %#v\n want %#v", got, want)
	}
}

func testAuditAppend(t *testing.T, s store.Store) {
	if es := mustAudit(t, s, store.AuditQuery{}); len(es) != 0 {
		t.Errorf("Audit on an empty store = %v, want none", es)
	}
	var want []store.AuditEntry
	for i := range 5 {
		e := sampleAudit(fmt.Sprintf("user%d", i), fmt.Sprintf("p%d", i))
		e.Time = time.Date(2026, 2, 3, 4, 5, i, 0, zone)
		if i == 3 {
			e.Result, e.Status, e.Target = "denied", 403, ""
		}
		e.ID = mustAppend(t, s, e)
		if e.ID <= 0 || (len(want) > 0 && e.ID <= want[len(want)-1].ID) {
			t.Fatalf("AppendAudit #%d returned id %d, want positive and above %v", i, e.ID, auditIDs(want))
		}
		want = append(want, e)
	}
	got := mustAudit(t, s, store.AuditQuery{})
	if len(got) != len(want) {
		t.Fatalf("Audit returned %d entries, want %d", len(got), len(want))
	}
	for i := range got {
		checkAudit(t, got[i], want[i])
	}
}

func testAuditFilters(t *testing.T, s store.Store) {
	var all []store.AuditEntry
	for i := range 12 {
		e := sampleAudit([]string{"alice", "bob", "carol"}[i%3], []string{"p1", "p2"}[i%2])
		e.ID = mustAppend(t, s, e)
		all = append(all, e)
	}
	for _, q := range []store.AuditQuery{
		{Actor: "alice"},
		{Actor: "bob"},
		{Target: "p2"},
		{Actor: "carol", Target: "p1"},
		{Actor: "alice", Target: "p2"},
		{Actor: "nobody"},
		{Target: "nothing"},
		{Actor: "p1"}, // a target is not an actor
	} {
		var want []int64
		for _, e := range all {
			if (q.Actor == "" || e.Actor == q.Actor) && (q.Target == "" || e.Target == q.Target) {
				want = append(want, e.ID)
			}
		}
		got := mustAudit(t, s, q)
		if ids := auditIDs(got); !slices.Equal(ids, want) {
			t.Errorf("Audit(%+v) ids = %v, want %v", q, ids, want)
		}
		for _, e := range got {
			if (q.Actor != "" && e.Actor != q.Actor) || (q.Target != "" && e.Target != q.Target) {
				t.Errorf("Audit(%+v) returned an entry of actor %q, target %q", q, e.Actor, e.Target)
			}
		}
	}
}

func testAuditPaging(t *testing.T, s store.Store) {
	var all, alice []int64
	for i := range 10 {
		actor := "bob"
		if i%3 == 0 {
			actor = "alice"
		}
		id := mustAppend(t, s, sampleAudit(actor, "p"))
		all = append(all, id)
		if actor == "alice" {
			alice = append(alice, id)
		}
	}
	for _, c := range []struct {
		actor string
		want  []int64
	}{{"", all}, {"alice", alice}} {
		var got []int64
		var after int64
		for pages := 0; ; pages++ {
			if pages > len(c.want) {
				t.Fatalf("actor %q: paging did not end; got %v", c.actor, got)
			}
			es := mustAudit(t, s, store.AuditQuery{AfterID: after, Actor: c.actor, Limit: 3})
			if len(es) > 3 {
				t.Fatalf("actor %q: page of %d entries with Limit 3", c.actor, len(es))
			}
			if len(es) == 0 {
				break
			}
			got = append(got, auditIDs(es)...)
			after = es[len(es)-1].ID
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("actor %q: paged ids = %v, want %v", c.actor, got, c.want)
		}
	}
	// AfterID is exclusive and need not be an existing id.
	if got := auditIDs(mustAudit(t, s, store.AuditQuery{AfterID: all[4]})); !slices.Equal(got, all[5:]) {
		t.Errorf("Audit after %d = %v, want %v", all[4], got, all[5:])
	}
	if got := mustAudit(t, s, store.AuditQuery{AfterID: all[len(all)-1] + 100}); len(got) != 0 {
		t.Errorf("Audit after the last id = %v, want none", got)
	}
}

func testAuditLimit(t *testing.T, s store.Store) {
	const n = 1005
	var ids []int64
	for i := range n {
		ids = append(ids, mustAppend(t, s, sampleAudit("bulk", fmt.Sprintf("p%d", i))))
	}
	for _, c := range []struct {
		limit int
		want  []int64
	}{
		{0, ids[:100]}, // default
		{1, ids[:1]},
		{250, ids[:250]},
		{1000, ids[:1000]},
		{1001, ids[:1000]}, // capped
		{1 << 30, ids[:1000]},
	} {
		got := auditIDs(mustAudit(t, s, store.AuditQuery{Limit: c.limit}))
		if !slices.Equal(got, c.want) {
			t.Errorf("Audit(Limit %d) = %d entries (%v..), want %d from the oldest", c.limit, len(got), got[:min(len(got), 3)], len(c.want))
		}
	}
	if got := auditIDs(mustAudit(t, s, store.AuditQuery{AfterID: ids[999], Limit: 1000})); !slices.Equal(got, ids[1000:]) {
		t.Errorf("Audit after the first 1000 = %v, want %v", got, ids[1000:])
	}
}

func testAuditDetails(t *testing.T, s store.Store) {
	cases := []map[string]any{
		nil,
		{"port": 8080, "ratio": 0.25, "name": "hello", "ok": true, "none": nil,
			"list": []any{"a", 1, false}, "nested": map[string]any{"n": int64(-3), "empty": []any{}}},
		{"big": int64(1) << 52, "text": "quote \" and \u00fc and \n newline"},
	}
	for _, d := range cases {
		e := sampleAudit("alice", "p")
		e.Details = d
		e.Time = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		e.ID = mustAppend(t, s, e)
		got := mustAudit(t, s, store.AuditQuery{AfterID: e.ID - 1, Limit: 1})
		if len(got) != 1 {
			t.Fatalf("Audit of entry %d returned %d entries", e.ID, len(got))
		}
		checkAudit(t, got[0], e)
		if d == nil && got[0].Details != nil {
			t.Errorf("nil Details came back as %#v", got[0].Details)
		}
	}
	// JSON numbers come back as float64.
	es := mustAudit(t, s, store.AuditQuery{})
	if v, ok := es[1].Details["port"].(float64); !ok || v != 8080 {
		t.Errorf("Details[port] = %#v, want float64(8080)", es[1].Details["port"])
	}
	// An empty map is at least empty.
	e := sampleAudit("alice", "p")
	e.Details = map[string]any{}
	id := mustAppend(t, s, e)
	if got := mustAudit(t, s, store.AuditQuery{AfterID: id - 1}); len(got) != 1 || len(got[0].Details) != 0 {
		t.Errorf("empty Details came back as %+v", got)
	}
}

func testAuditTimes(t *testing.T, s store.Store) {
	const slack = time.Millisecond
	before := time.Now()
	zeroID := mustAppend(t, s, sampleAudit("alice", "p"))
	after := time.Now()

	given := sampleAudit("bob", "p")
	given.Time = time.Date(2024, 2, 29, 23, 59, 59, 999999999, zone)
	given.ID = mustAppend(t, s, given)

	es := mustAudit(t, s, store.AuditQuery{})
	if len(es) != 2 || es[0].ID != zeroID || es[1].ID != given.ID {
		t.Fatalf("Audit = %+v, want entries %d and %d", es, zeroID, given.ID)
	}
	z := es[0].Time
	if z.Location() != time.UTC {
		t.Errorf("zero Time location = %v, want UTC", z.Location())
	}
	if z.Before(before.Add(-slack)) || z.After(after.Add(slack)) {
		t.Errorf("zero Time stored as %v, want within [%v, %v]", z, before.UTC(), after.UTC())
	}
	// Order is by id, not time: the older given time still comes second.
	checkAudit(t, es[1], given)
}

func testConcurrentAudit(t *testing.T, s store.Store) {
	const n = 16
	ctx := t.Context()
	ids := make([]int64, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			id, err := s.AppendAudit(ctx, sampleAudit(fmt.Sprintf("w%02d", i), "p"))
			if err != nil {
				t.Errorf("AppendAudit(%d): %v", i, err)
			}
			ids[i] = id
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	es := mustAudit(t, s, store.AuditQuery{})
	got := auditIDs(es)
	if !slices.IsSorted(got) || len(slices.Compact(slices.Clone(got))) != n {
		t.Fatalf("Audit ids = %v, want %d distinct, ascending", got, n)
	}
	if want := slices.Sorted(slices.Values(ids)); !slices.Equal(got, want) {
		t.Errorf("Audit ids = %v, want the returned ids %v", got, want)
	}
	for i, e := range es {
		if e.Actor != fmt.Sprintf("w%02d", slices.Index(ids, e.ID)) {
			t.Errorf("entry %d (%d): actor %q does not match the writer that got its id", i, e.ID, e.Actor)
		}
	}
}
