package postgres

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/kubestellar/ksplugins/internal/store"
)

// next waits for the next change on changes.
func next(t *testing.T, changes <-chan store.Change) store.Change {
	t.Helper()
	select {
	case c, ok := <-changes:
		if !ok {
			t.Fatal("changes closed")
		}
		return c
	case <-time.After(10 * time.Second):
		t.Fatal("no change announced within 10 s")
	}
	return store.Change{}
}

// TestChanges: every committed write to a plugin or a setting is announced
// to every server on the database, the writer's included; a listener whose
// connection is cut says that notices may have been missed, then goes on.
func TestChanges(t *testing.T) {
	url := server.Database(t)
	a, b := openAt(t, url), openAt(t, url)
	changes, err := b.Changes(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	own, err := a.Changes(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	writes := []struct {
		write func() error
		want  store.Change
	}{
		{func() error { return a.PutPlugin(t.Context(), store.Plugin{ID: "p1", Enabled: true}) }, store.Change{Kind: store.ChangePlugin, Key: "p1"}},
		{func() error { return a.PutPlugin(t.Context(), store.Plugin{ID: "p1"}) }, store.Change{Kind: store.ChangePlugin, Key: "p1"}},
		{func() error { return a.PutSetting(t.Context(), "system", []byte("{}")) }, store.Change{Kind: store.ChangeSetting, Key: "system"}},
		{func() error { return a.DeletePlugin(t.Context(), "p1") }, store.Change{Kind: store.ChangePlugin, Key: "p1"}},
	}
	for _, w := range writes {
		if err := w.write(); err != nil {
			t.Fatal(err)
		}
		if got := next(t, changes); got != w.want {
			t.Fatalf("another server was told %+v; want %+v", got, w.want)
		}
		if got := next(t, own); got != w.want {
			t.Fatalf("the writer was told %+v; want %+v", got, w.want)
		}
	}
	// A write that does not commit is not announced.
	tx, err := a.pool.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(t.Context(), `INSERT INTO settings (key, value, updated_at) VALUES ('rolled', '', '')`); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(t.Context()); err != nil {
		t.Fatal(err)
	}

	if _, err := connect(t, url).Exec(t.Context(),
		`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query = 'LISTEN `+changesChannel+`' AND datname = current_database()`); err != nil {
		t.Fatal(err)
	}
	if got := next(t, changes); got != (store.Change{}) {
		t.Fatalf("after its connection was cut, the listener said %+v; want that anything may have changed", got)
	}
	if err := a.PutPlugin(t.Context(), store.Plugin{ID: "p2"}); err != nil {
		t.Fatal(err)
	}
	if got := next(t, changes); got != (store.Change{Kind: store.ChangePlugin, Key: "p2"}) {
		t.Fatalf("after reconnecting: %+v; want the next write's notice (and no notice of the rolled-back write)", got)
	}
}

func TestArtifacts(t *testing.T) {
	db := openAt(t, server.Database(t))
	content := bytes.Repeat([]byte("\x00asm artifact "), 1<<16)
	sum := sha256.Sum256(content)
	digest := "sha256:" + hex.EncodeToString(sum[:])

	if ok, err := db.HasArtifact(t.Context(), digest); err != nil || ok {
		t.Fatalf("HasArtifact before any put = %t, %v", ok, err)
	}
	if _, err := db.OpenArtifact(t.Context(), digest); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("OpenArtifact of an unknown digest: %v; want ErrNotFound", err)
	}
	wrong := "sha256:" + strings.Repeat("0", 64)
	if err := db.PutArtifact(t.Context(), wrong, bytes.NewReader(content)); err == nil || !strings.Contains(err.Error(), digest) {
		t.Fatalf("PutArtifact under another digest: %v; want a refusal naming the content's digest", err)
	}
	if ok, _ := db.HasArtifact(t.Context(), wrong); ok {
		t.Fatal("a refused artifact was kept")
	}
	for range 2 { // the second put of the same artifact changes nothing
		if err := db.PutArtifact(t.Context(), digest, bytes.NewReader(content)); err != nil {
			t.Fatal(err)
		}
	}
	if ok, err := db.HasArtifact(t.Context(), digest); err != nil || !ok {
		t.Fatalf("HasArtifact after a put = %t, %v", ok, err)
	}
	r, err := db.OpenArtifact(t.Context(), digest)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(got, content) {
		t.Fatalf("OpenArtifact read %d bytes, %v; want the %d put", len(got), err, len(content))
	}
}

// TestUpgradeToReplicas brings a database made before replicas (schema
// version 1) with a plugin in it up to date: the plugin is kept, and
// changes to it are announced from then on.
func TestUpgradeToReplicas(t *testing.T) {
	url := server.Database(t)
	old, err := open(t.Context(), url, migrations()[:1])
	if err != nil {
		t.Fatal(err)
	}
	old.Close()
	// As the binary of schema version 1 wrote it.
	if _, err := connect(t, url).Exec(t.Context(), `INSERT INTO plugins (id, source_kind, source_location, source_version, source_path,
		source_pin, tier, artifact_path, artifact_digest, build_key, enabled, installed_at, updated_at)
		VALUES ('kept', 'folder', '', '', '', '', 'native', '', '', '', true, '2026-01-01T00:00:00.000000000Z', '2026-01-01T00:00:00.000000000Z')`); err != nil {
		t.Fatal(err)
	}

	db := openAt(t, url)
	if got := schemaVersions(t, url); len(got) != len(migrations()) {
		t.Fatalf("versions after the upgrade = %v; want all %d", got, len(migrations()))
	}
	changes, err := db.Changes(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	p, err := db.Plugin(t.Context(), "kept")
	if err != nil || p.SourceKind != "folder" || !p.Enabled || p.Revision != 1 {
		t.Fatalf("the plugin after the upgrade = %+v, %v; want it at revision 1", p, err)
	}
	p.Enabled = false
	if err := db.PutPlugin(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	if got := next(t, changes); got != (store.Change{Kind: store.ChangePlugin, Key: "kept"}) {
		t.Fatalf("after the upgrade a change was announced as %+v", got)
	}
}

// TestReplicaReports: a replica's report replaces its previous one whole;
// a replica that has not reported since the time asked is left out, its
// plugins with it.
func TestReplicaReports(t *testing.T) {
	db := openAt(t, server.Database(t))
	ctx := t.Context()
	if err := db.ReportReplica(ctx, "a", []store.ReplicaReport{{PluginID: "p", State: "active", Digest: "sha256:1", Health: "healthy"},
		{PluginID: "q", State: "failed", LastError: "no"}}); err != nil {
		t.Fatal(err)
	}
	if err := db.ReportReplica(ctx, "a", []store.ReplicaReport{{PluginID: "p", State: "disabled", Digest: "sha256:1"}}); err != nil {
		t.Fatal(err)
	}
	if err := db.ReportReplica(ctx, "b", nil); err != nil {
		t.Fatal(err)
	}
	reports, replicas, err := db.ReplicaReports(ctx, time.Now().Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if len(reports) != 1 || reports[0].Replica != "a" || reports[0].PluginID != "p" || reports[0].State != "disabled" || reports[0].ReportedAt.IsZero() {
		t.Fatalf("reports = %+v; want a's latest only", reports)
	}
	if len(replicas) != 2 || replicas["a"].IsZero() || replicas["b"].IsZero() {
		t.Fatalf("replicas = %v; want a and b, b with no plugin", replicas)
	}
	reports, replicas, err = db.ReplicaReports(ctx, time.Now().Add(time.Minute))
	if err != nil || len(reports) != 0 || len(replicas) != 0 {
		t.Fatalf("reports since a time to come = %+v, %v, %v; want none", reports, replicas, err)
	}
}
