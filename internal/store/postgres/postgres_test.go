package postgres

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kubestellar/ksplugins/internal/pgtest"
	"github.com/kubestellar/ksplugins/internal/store"
	"github.com/kubestellar/ksplugins/internal/store/storetest"
)

// server is the test binary's PostgreSQL, started by TestMain.
var server *pgtest.Server

func TestMain(m *testing.M) {
	os.Exit(pgtest.Main(m, &server))
}

func openAt(t *testing.T, url string) *DB {
	t.Helper()
	db, err := Open(t.Context(), url)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// connect is a plain connection, for looking at the database behind the
// store's back.
func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		db, err := Open(t.Context(), server.Database(t))
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return db
	})
}

// schemaVersions returns the versions schema_migrations records, in order.
func schemaVersions(t *testing.T, url string) []int {
	t.Helper()
	rows, err := connect(t, url).Query(t.Context(), `SELECT version FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	vs, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		t.Fatal(err)
	}
	return vs
}

// upTo is [1, 2, ..., n].
func upTo(n int) []int {
	vs := make([]int, n)
	for i := range vs {
		vs[i] = i + 1
	}
	return vs
}

// TestMigrateFromEmpty: every step is applied once, in order, and opening
// again applies nothing and keeps the data.
func TestMigrateFromEmpty(t *testing.T) {
	url := server.Database(t)
	db := openAt(t, url)
	if got, want := schemaVersions(t, url), upTo(len(migrations())); !slices.Equal(got, want) {
		t.Fatalf("versions after the first Open = %v, want %v", got, want)
	}
	if err := db.PutPlugin(t.Context(), store.Plugin{ID: "kept", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	db.Close()

	db = openAt(t, url)
	if got, want := schemaVersions(t, url), upTo(len(migrations())); !slices.Equal(got, want) {
		t.Errorf("versions after reopening = %v, want unchanged %v", got, want)
	}
	if p, err := db.Plugin(t.Context(), "kept"); err != nil || !p.Enabled {
		t.Errorf("Plugin after reopening = %+v, %v; want kept, enabled", p, err)
	}
}

// nextStep stands for the step a later binary adds.
const nextStep = `ALTER TABLE plugins ADD COLUMN replica text NOT NULL DEFAULT 'none'`

// TestMigrateFromPrevious opens a database at the current schema, holding
// data, with a binary that knows one step more: only that step is applied,
// and the data is kept and readable through the new column.
func TestMigrateFromPrevious(t *testing.T) {
	url := server.Database(t)
	old := openAt(t, url)
	want := store.Plugin{ID: "old", SourceKind: "folder", Enabled: true, Grants: []string{"network"},
		Config: map[string]any{"k": "v"}}
	if err := old.PutPlugin(t.Context(), want); err != nil {
		t.Fatal(err)
	}
	if err := old.PutSetting(t.Context(), "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	id, err := old.AppendAudit(t.Context(), store.AuditEntry{Actor: "a", Action: "load", Result: "ok"})
	if err != nil {
		t.Fatal(err)
	}
	old.Close()

	steps := append(migrations(), nextStep)
	db, err := open(t.Context(), url, steps)
	if err != nil {
		t.Fatalf("open with one step more: %v", err)
	}
	defer db.Close()
	if got := schemaVersions(t, url); !slices.Equal(got, upTo(len(steps))) {
		t.Errorf("versions = %v, want %v", got, upTo(len(steps)))
	}
	p, err := db.Plugin(t.Context(), "old")
	if err != nil || p.SourceKind != "folder" || !p.Enabled || !slices.Equal(p.Grants, want.Grants) || p.Config["k"] != "v" {
		t.Errorf("Plugin after the upgrade = %+v, %v; want %+v", p, err, want)
	}
	var replica string
	if err := connect(t, url).QueryRow(t.Context(), `SELECT replica FROM plugins WHERE id = 'old'`).Scan(&replica); err != nil || replica != "none" {
		t.Errorf("new column of an old row = %q, %v; want its default", replica, err)
	}
	if v, err := db.Setting(t.Context(), "k"); err != nil || string(v) != "v" {
		t.Errorf("Setting after the upgrade = %q, %v", v, err)
	}
	if es, err := db.Audit(t.Context(), store.AuditQuery{}); err != nil || len(es) != 1 || es[0].ID != id {
		t.Errorf("Audit after the upgrade = %+v, %v; want entry %d", es, err, id)
	}
	// The next id follows on from the old ones.
	if next, err := db.AppendAudit(t.Context(), store.AuditEntry{Actor: "a", Action: "load", Result: "ok"}); err != nil || next <= id {
		t.Errorf("AppendAudit after the upgrade = %d, %v; want above %d", next, err, id)
	}
}

// TestFailedStepRollsBack: a step that fails leaves the database at the
// version before it, with nothing of the step applied.
func TestFailedStepRollsBack(t *testing.T) {
	url := server.Database(t)
	openAt(t, url).Close()
	bad := `CREATE TABLE half (a integer); SELECT 1 / 0`
	if _, err := open(t.Context(), url, append(migrations(), bad)); err == nil ||
		!strings.Contains(err.Error(), fmt.Sprintf("migrate to version %d", len(migrations())+1)) {
		t.Fatalf("open with a failing step: err = %v, want it to name the version", err)
	}
	if got := schemaVersions(t, url); !slices.Equal(got, upTo(len(migrations()))) {
		t.Errorf("versions = %v, want %v", got, upTo(len(migrations())))
	}
	var exists bool
	if err := connect(t, url).QueryRow(t.Context(), `SELECT to_regclass('half') IS NOT NULL`).Scan(&exists); err != nil || exists {
		t.Errorf("table of the failed step exists = %v, %v; want rolled back", exists, err)
	}
	openAt(t, url) // the binary's own steps still open it
}

func TestFutureSchemaRefused(t *testing.T) {
	url := server.Database(t)
	openAt(t, url).Close()
	future := len(migrations()) + 1
	if _, err := connect(t, url).Exec(t.Context(),
		`INSERT INTO schema_migrations (version, applied_at) VALUES ($1, 'later')`, future); err != nil {
		t.Fatal(err)
	}
	db, err := Open(t.Context(), url)
	if err == nil {
		db.Close()
		t.Fatal("Open of a database from a newer binary succeeded")
	}
	want := fmt.Sprintf("database schema version %d is newer than this binary supports (%d)", future, len(migrations()))
	if !strings.Contains(err.Error(), want) {
		t.Errorf("Open error = %q, want it to say %q", err, want)
	}
}

// TestConcurrentOpens stands in for replicas starting together on an empty
// database: without the migration lock they would both create the tables,
// and all but one fail.
func TestConcurrentOpens(t *testing.T) {
	url := server.Database(t)
	const n = 6
	var (
		wg   sync.WaitGroup
		errs = make([]error, n)
		dbs  = make([]*DB, n)
	)
	for i := range n {
		wg.Go(func() { dbs[i], errs[i] = Open(t.Context(), url) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Open #%d: %v", i, err)
			continue
		}
		defer dbs[i].Close()
	}
	if got, want := schemaVersions(t, url), upTo(len(migrations())); !slices.Equal(got, want) {
		t.Errorf("versions = %v, want each of %v once", got, want)
	}
}

// TestMigrationLockReleased: a migration that fails, or is cancelled
// waiting for the lock, leaves the lock free for the next Open.
func TestMigrationLockReleased(t *testing.T) {
	url := server.Database(t)
	if _, err := open(t.Context(), url, append(migrations(), `SELECT 1 / 0`)); err == nil {
		t.Fatal("open with a failing step succeeded")
	}
	holder := connect(t, url)
	if _, err := holder.Exec(t.Context(), `SELECT pg_advisory_lock($1)`, migrationLock); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	if _, err := Open(ctx, url); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Open while another holds the lock: err = %v, want it to wait until the deadline", err)
	}
	if _, err := holder.Exec(t.Context(), `SELECT pg_advisory_unlock($1)`, migrationLock); err != nil {
		t.Fatal(err)
	}
	ctx, cancel = context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	db, err := Open(ctx, url)
	if err != nil {
		t.Fatalf("Open once the lock is free: %v", err)
	}
	db.Close()
}

// TestAuditCommitOrder: with appends from many goroutines, a reader that
// pages by AfterID while they run still sees every entry.
func TestAuditCommitOrder(t *testing.T) {
	db := openAt(t, server.Database(t))
	const writers, each = 8, 25
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for range each {
				if _, err := db.AppendAudit(t.Context(), store.AuditEntry{Actor: fmt.Sprint(w), Action: "x", Result: "ok"}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	var seen []int64
	var after int64
	for finished := false; ; {
		select {
		case <-done:
			finished = true
		default:
		}
		es, err := db.Audit(t.Context(), store.AuditQuery{AfterID: after, Limit: 7})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			seen = append(seen, e.ID)
			after = e.ID
		}
		if finished && len(es) == 0 {
			break
		}
	}
	if len(seen) != writers*each {
		t.Errorf("paging during the appends saw %d entries, want %d", len(seen), writers*each)
	}
}

func TestRedacted(t *testing.T) {
	tests := []struct{ in, want string }{
		{"postgres://ks:s3cret@db:5432/ks?sslmode=require", "postgres://ks:xxxxx@db:5432/ks?sslmode=require"},
		{"postgresql://ks@db/ks", "postgresql://ks@db/ks"},
		{"postgres://db/ks?password=s3cret&sslmode=disable", "postgres://db/ks?password=xxxxx&sslmode=disable"},
		{"postgres://ks:s3cret@db:port/ks", "postgres://(unparseable URL)"},
	}
	for _, tt := range tests {
		got := Redacted(tt.in)
		if got != tt.want {
			t.Errorf("Redacted(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if strings.Contains(got, "s3cret") {
			t.Errorf("Redacted(%q) = %q shows the password", tt.in, got)
		}
	}
}

// TestOpenErrorsHidePassword: whatever goes wrong, the error names the
// database without its password.
func TestOpenErrorsHidePassword(t *testing.T) {
	for _, url := range []string{
		"postgres://ks:s3cret@127.0.0.1:1/ks?sslmode=disable&connect_timeout=2", // nothing listens
		"postgres://ks:s3cret@127.0.0.1:5432/ks?sslmode=bogus",                  // refused by pgx's parser
		"postgres://ks:s3cret@db:port/ks",                                       // refused by net/url
	} {
		_, err := Open(t.Context(), url)
		if err == nil {
			t.Errorf("Open(%s) succeeded", Redacted(url))
			continue
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("Open error shows the password: %v", err)
		}
		if !strings.HasPrefix(err.Error(), "open store postgres://") {
			t.Errorf("Open error = %q, want it to name the store", err)
		}
	}
}
