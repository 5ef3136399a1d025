package sqlite

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/kubestellar/ksplugins/internal/store"
	"github.com/kubestellar/ksplugins/internal/store/storetest"
)

func openAt(t *testing.T, path string) *DB {
	t.Helper()
	db, err := Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return db
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return openAt(t, filepath.Join(t.TempDir(), "store.db"))
	})
}

func TestReopenKeepsData(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.db")
	db := openAt(t, path)
	want := store.Plugin{ID: "hello", SourceKind: "folder", Enabled: true, Config: map[string]any{"a": "b"}}
	if err := db.PutPlugin(t.Context(), want); err != nil {
		t.Fatal(err)
	}
	if err := db.PutSetting(t.Context(), "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	before, err := db.Plugin(t.Context(), "hello")
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db = openAt(t, path)
	defer db.Close()
	got, err := db.Plugin(t.Context(), "hello")
	if err != nil {
		t.Fatalf("Plugin after reopen: %v", err)
	}
	if got.ID != want.ID || got.SourceKind != want.SourceKind || !got.Enabled || got.Config["a"] != "b" ||
		!got.InstalledAt.Equal(before.InstalledAt) || !got.UpdatedAt.Equal(before.UpdatedAt) {
		t.Errorf("Plugin after reopen = %+v, want %+v", got, before)
	}
	if v, err := db.Setting(t.Context(), "k"); err != nil || string(v) != "v" {
		t.Errorf("Setting after reopen = %q, %v; want v", v, err)
	}
}

type migrationRow struct {
	version   int
	appliedAt string
}

func migrationRows(t *testing.T, db *DB) []migrationRow {
	t.Helper()
	rows, err := db.db.QueryContext(t.Context(), `SELECT version, applied_at FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var rs []migrationRow
	for rows.Next() {
		var r migrationRow
		if err := rows.Scan(&r.version, &r.appliedAt); err != nil {
			t.Fatal(err)
		}
		rs = append(rs, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return rs
}

func TestReopenAppliesNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.db")
	db := openAt(t, path)
	first := migrationRows(t, db)
	if len(first) != len(migrations()) {
		t.Fatalf("fresh DB has %d migration rows, want %d", len(first), len(migrations()))
	}
	for i, r := range first {
		if r.version != i+1 {
			t.Errorf("migration row %d has version %d, want %d", i, r.version, i+1)
		}
	}
	db.Close()

	for range 2 {
		db = openAt(t, path)
		if got := migrationRows(t, db); !slices.Equal(got, first) {
			t.Errorf("migration rows after reopen = %v, want unchanged %v", got, first)
		}
		db.Close()
	}
}

func TestFutureSchemaRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.db")
	db := openAt(t, path)
	future := len(migrations()) + 1
	if _, err := db.db.ExecContext(t.Context(),
		`INSERT INTO schema_migrations (version, applied_at) VALUES (?, 'later')`, future); err != nil {
		t.Fatal(err)
	}
	db.Close()

	db, err := Open(t.Context(), path)
	if err == nil {
		db.Close()
		t.Fatal("Open of a DB from a newer binary succeeded")
	}
	want := fmt.Sprintf("database schema version %d is newer than this binary supports (%d)", future, len(migrations()))
	if !strings.Contains(err.Error(), want) {
		t.Errorf("Open error = %q, want it to say %q", err, want)
	}
}

// TestPragmas checks several pooled connections at once, because the point
// of DSN pragmas is that every connection gets them, not just the first.
func TestPragmas(t *testing.T) {
	db := openAt(t, filepath.Join(t.TempDir(), "store.db"))
	defer db.Close()
	for i := range 4 {
		c, err := db.db.Conn(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		for pragma, want := range map[string]string{
			"journal_mode": "wal",
			"busy_timeout": "5000",
			"foreign_keys": "1",
			"synchronous":  "1", // NORMAL
		} {
			var got string
			if err := c.QueryRowContext(t.Context(), "PRAGMA "+pragma).Scan(&got); err != nil {
				t.Fatalf("conn %d: PRAGMA %s: %v", i, pragma, err)
			}
			if got != want {
				t.Errorf("conn %d: PRAGMA %s = %q, want %q", i, pragma, got, want)
			}
		}
	}
}

func TestPermissions(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("POSIX permissions")
	}
	root := t.TempDir()
	path := filepath.Join(root, "a", "b", "store.db")
	db := openAt(t, path)
	defer db.Close()
	if err := db.PutSetting(t.Context(), "k", []byte("secret")); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		path string
		want os.FileMode
	}{
		{filepath.Join(root, "a"), 0o700},
		{filepath.Join(root, "a", "b"), 0o700},
		{path, 0o600},
		{path + "-wal", 0o600},
	} {
		fi, err := os.Stat(c.path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != c.want {
			t.Errorf("%s mode = %v, want %v", c.path, got, c.want)
		}
	}
}

// TestTwoHandles stands in for two processes sharing one file: their
// writers must wait for each other, not fail with SQLITE_BUSY.
func TestTwoHandles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.db")
	dbs := []*DB{openAt(t, path), openAt(t, path)}
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			db := dbs[i%2]
			id := fmt.Sprintf("p%02d", i)
			if err := db.PutPlugin(t.Context(), store.Plugin{ID: id}); err != nil {
				t.Errorf("PutPlugin(%s): %v", id, err)
			}
			if err := db.PutSetting(t.Context(), "shared", []byte(id)); err != nil {
				t.Errorf("PutSetting(%s): %v", id, err)
			}
		})
	}
	wg.Wait()
	for _, db := range dbs {
		if ps, err := db.Plugins(t.Context()); err != nil || len(ps) != 16 {
			t.Errorf("Plugins = %d plugins, %v; want 16", len(ps), err)
		}
		db.Close()
	}
}

// TestOddPath guards the file: URI built from the path: characters that mean
// something in a URI must still name the file the caller gave.
func TestOddPath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "we?ird #dir%20", "store.db")
	db := openAt(t, path)
	defer db.Close()
	if err := db.PutSetting(t.Context(), "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("database not at the given path: %v", err)
	}
}

// TestUpgrade opens a database written before grants, tokens and audit
// existed: its plugins must survive with no grants, and the new tables
// must work.
func TestUpgrade(t *testing.T) {
	const oldVersion = 3
	path := filepath.Join(t.TempDir(), "store.db")
	dsn, err := dsn(path)
	if err != nil {
		t.Fatal(err)
	}
	sdb, err := sql.Open("sqlite", dsn)
	if err != nil {
		t.Fatal(err)
	}
	old := &DB{db: sdb}
	if _, err := sdb.ExecContext(t.Context(), `CREATE TABLE schema_migrations (
		version    INTEGER PRIMARY KEY,
		applied_at TEXT NOT NULL
	)`); err != nil {
		t.Fatal(err)
	}
	for {
		more, err := old.migrateStep(t.Context(), migrations()[:oldVersion])
		if err != nil {
			t.Fatal(err)
		}
		if !more {
			break
		}
	}
	if _, err := sdb.ExecContext(t.Context(), `INSERT INTO plugins
		(id, source_kind, source_location, source_version, artifact_path, artifact_digest, enabled, config, installed_at, updated_at)
		VALUES ('old', 'folder', '/srv/old', '', '/a.so', 'sha256:00', 1, '{"k":"v"}', '2024-01-02T03:04:05Z', '2024-01-02T03:04:05Z')`); err != nil {
		t.Fatal(err)
	}
	sdb.Close()

	db := openAt(t, path)
	defer db.Close()
	if got := migrationRows(t, db); len(got) != len(migrations()) {
		t.Errorf("after upgrade: %d migration rows, want %d", len(got), len(migrations()))
	}
	p, err := db.Plugin(t.Context(), "old")
	if err != nil {
		t.Fatalf("Plugin after upgrade: %v", err)
	}
	if p.Grants != nil || p.Kubernetes != nil || p.Tier != "native" || p.Config["k"] != "v" || !p.Enabled {
		t.Errorf("Plugin after upgrade = %+v, want nil Grants and Kubernetes, native tier, the old config", p)
	}
	if err := db.PutToken(t.Context(), store.Token{Name: "t", Role: "admin", Hash: "h"}); err != nil {
		t.Errorf("PutToken after upgrade: %v", err)
	}
	if _, err := db.AppendAudit(t.Context(), store.AuditEntry{Actor: "a", Action: "x", Result: "ok"}); err != nil {
		t.Errorf("AppendAudit after upgrade: %v", err)
	}
}

// TestConcurrentOpens stands in for processes starting together on a new
// file: each step is applied once, and every Open succeeds.
func TestConcurrentOpens(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.db")
	const n = 6
	var (
		wg   sync.WaitGroup
		errs = make([]error, n)
		dbs  = make([]*DB, n)
	)
	for i := range n {
		wg.Go(func() { dbs[i], errs[i] = Open(t.Context(), path) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Open #%d: %v", i, err)
			continue
		}
		defer dbs[i].Close()
	}
	if t.Failed() {
		return
	}
	rows := migrationRows(t, dbs[0])
	if len(rows) != len(migrations()) {
		t.Fatalf("%d migration rows, want %d", len(rows), len(migrations()))
	}
	for i, r := range rows {
		if r.version != i+1 {
			t.Errorf("migration row %d has version %d, want %d", i, r.version, i+1)
		}
	}
}
