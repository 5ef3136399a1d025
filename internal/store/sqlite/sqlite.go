// Package sqlite is the embedded store.Store: one file next to the host,
// no server to run, written through the pure-Go modernc.org/sqlite driver so
// the host stays buildable without cgo.
package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/kubestellar/ksplugins/internal/store"
)

var _ store.Store = (*DB)(nil)

// DB is a store.Store backed by one SQLite file. It is safe for concurrent
// use, also by several processes: each write is one transaction holding
// SQLite's write lock, and writers queue on the busy timeout rather than
// failing with SQLITE_BUSY.
type DB struct {
	db *sql.DB
}

// Open opens (creating if needed) the database at path and brings its schema
// up to date, so that a DB is never handed out in a shape the code does not
// expect. The file and its directory are private to the owner because the
// plugins' configuration may hold secrets.
func Open(ctx context.Context, path string) (*DB, error) {
	db, err := open(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	return db, nil
}

func open(ctx context.Context, path string) (*DB, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	// Create the file ourselves: SQLite would make it world-readable, and
	// its -wal and -shm files inherit the main file's mode.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	dsn, err := dsn(path)
	if err != nil {
		return nil, err
	}
	sdb, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	// WAL lets readers run beside the single writer; more connections than
	// this only add writers waiting on the same lock.
	sdb.SetMaxOpenConns(4)
	sdb.SetMaxIdleConns(4)
	db := &DB{db: sdb}
	if err := db.migrate(ctx); err != nil {
		sdb.Close()
		return nil, err
	}
	return db, nil
}

// dsn builds a file: URI so that any path, even one holding '?' or '#',
// reaches SQLite intact. The pragmas ride in the DSN because database/sql
// opens connections behind our back and each one needs them.
// _txlock=immediate takes the write lock at BEGIN, where busy_timeout can
// wait for it, instead of failing with SQLITE_BUSY on a read-to-write
// upgrade mid-transaction.
func dsn(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	abs = filepath.ToSlash(abs)
	if !strings.HasPrefix(abs, "/") {
		abs = "/" + abs // a Windows drive letter: file:///C:/...
	}
	q := url.Values{
		"_pragma": {
			"busy_timeout(5000)",
			"journal_mode(WAL)",
			"foreign_keys(1)",
			"synchronous(NORMAL)",
		},
		"_txlock": {"immediate"},
	}
	u := url.URL{Scheme: "file", Path: abs, RawQuery: q.Encode()}
	return u.String(), nil
}

// Close releases the database; the file stays for the next Open.
func (db *DB) Close() error {
	return db.db.Close()
}

// migrations are the schema steps, applied in order; step i brings the
// database to version i+1. Append only: a released step never changes,
// since databases in the field have already run it.
func migrations() []string {
	return []string{
		`CREATE TABLE plugins (
			id              TEXT PRIMARY KEY,
			source_kind     TEXT NOT NULL,
			source_location TEXT NOT NULL,
			source_version  TEXT NOT NULL,
			artifact_path   TEXT NOT NULL,
			artifact_digest TEXT NOT NULL,
			build_key       TEXT NOT NULL DEFAULT '',
			enabled         INTEGER NOT NULL,
			config          TEXT,
			installed_at    TEXT NOT NULL,
			updated_at      TEXT NOT NULL
		) STRICT;
		CREATE TABLE settings (
			key        TEXT PRIMARY KEY,
			value      BLOB NOT NULL,
			updated_at TEXT NOT NULL
		) STRICT;`,
		`ALTER TABLE plugins ADD COLUMN source_path TEXT NOT NULL DEFAULT '';
		ALTER TABLE plugins ADD COLUMN source_pin TEXT NOT NULL DEFAULT '';`,
		`ALTER TABLE plugins ADD COLUMN tier TEXT NOT NULL DEFAULT 'native';`,
		`ALTER TABLE plugins ADD COLUMN grants TEXT;`,
		`CREATE TABLE tokens (
			name       TEXT PRIMARY KEY,
			role       TEXT NOT NULL,
			hash       TEXT NOT NULL UNIQUE,
			created_at TEXT NOT NULL,
			expires_at TEXT,
			revoked_at TEXT
		) STRICT;`,
		`CREATE TABLE audit (
			id      INTEGER PRIMARY KEY AUTOINCREMENT,
			time    TEXT NOT NULL,
			actor   TEXT NOT NULL,
			action  TEXT NOT NULL,
			target  TEXT NOT NULL,
			result  TEXT NOT NULL,
			status  INTEGER NOT NULL,
			details TEXT
		) STRICT;
		CREATE INDEX audit_actor ON audit (actor);
		CREATE INDEX audit_target ON audit (target);`,
		`ALTER TABLE plugins ADD COLUMN kubernetes TEXT;`,
		`ALTER TABLE plugins ADD COLUMN revision INTEGER NOT NULL DEFAULT 1;`,
	}
}

// migrate applies pending migrations one transaction each, so a crash leaves
// the database at some whole version, never between two.
func (db *DB) migrate(ctx context.Context) error {
	if _, err := db.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		applied_at TEXT NOT NULL
	)`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	steps := migrations()
	for {
		more, err := db.migrateStep(ctx, steps)
		if err != nil || !more {
			return err
		}
	}
}

// migrateStep applies the next pending step, if any, and reports whether it
// did. The version is read inside the step's write transaction so that two
// processes opening the same file cannot both apply it.
func (db *DB) migrateStep(ctx context.Context, steps []string) (more bool, err error) {
	err = db.write(ctx, func(tx *sql.Tx, now string) error {
		var v int
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v); err != nil {
			return fmt.Errorf("read schema version: %w", err)
		}
		switch {
		case v > len(steps):
			return fmt.Errorf("database schema version %d is newer than this binary supports (%d)", v, len(steps))
		case v == len(steps):
			return nil
		}
		if _, err := tx.ExecContext(ctx, steps[v]); err != nil {
			return fmt.Errorf("migrate to version %d: %w", v+1, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`, v+1, now); err != nil {
			return fmt.Errorf("record schema version %d: %w", v+1, err)
		}
		more = true
		return nil
	})
	return more, err
}

// write runs fn as one transaction. BEGIN takes the write lock (see dsn)
// and the clock is read only once it is held, so timestamps follow commit
// order: a writer that waited cannot stamp an older time than the one it
// overwrites.
func (db *DB) write(ctx context.Context, fn func(tx *sql.Tx, now string) error) error {
	tx, err := db.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(tx, time.Now().UTC().Format(time.RFC3339Nano)); err != nil {
		return err
	}
	return tx.Commit()
}

func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	return t.UTC(), err
}

// formatTime is how every timestamp is stored: UTC, so that the text sorts
// and compares like the time it stands for.
func formatTime(t time.Time) string {
	return t.UTC().Format(time.RFC3339Nano)
}

// timeOr formats t, or returns now if t is zero.
func timeOr(t time.Time, now string) string {
	if t.IsZero() {
		return now
	}
	return formatTime(t)
}

// nullTime formats an optional time; nil is stored as NULL.
func nullTime(t *time.Time) any {
	if t == nil {
		return nil
	}
	return formatTime(*t)
}

// parseNullTime is the inverse of nullTime.
func parseNullTime(s sql.NullString) (*time.Time, error) {
	if !s.Valid {
		return nil, nil
	}
	t, err := parseTime(s.String)
	if err != nil {
		return nil, err
	}
	return &t, nil
}

// nullJSON encodes v as JSON text, or returns NULL when isNil, so that "not
// set" stays distinct from an empty value.
func nullJSON(v any, isNil bool) (any, error) {
	if isNil {
		return nil, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return string(b), nil
}

const pluginColumns = `id, source_kind, source_location, source_version, source_path, source_pin,
	tier, artifact_path, artifact_digest, build_key, enabled, grants, kubernetes, config, installed_at, updated_at, revision`

// rowScanner is a row to scan: *sql.Row or *sql.Rows.
type rowScanner interface{ Scan(...any) error }

// queryAll runs a query and scans every row it returns; errors say what
// was being done.
func queryAll[T any](ctx context.Context, db *sql.DB, what, query string, args []any, scan func(rowScanner) (T, error)) ([]T, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}

// Plugins returns every plugin, sorted by id.
func (db *DB) Plugins(ctx context.Context) ([]store.Plugin, error) {
	return queryAll(ctx, db.db, "list plugins", `SELECT `+pluginColumns+` FROM plugins ORDER BY id`, nil, scanPlugin)
}

// Plugin returns one plugin, or an error wrapping store.ErrNotFound.
func (db *DB) Plugin(ctx context.Context, id string) (store.Plugin, error) {
	row := db.db.QueryRowContext(ctx, `SELECT `+pluginColumns+` FROM plugins WHERE id = ?`, id)
	p, err := scanPlugin(row)
	if errors.Is(err, sql.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return store.Plugin{}, fmt.Errorf("get plugin %s: %w", id, err)
	}
	return p, nil
}

func scanPlugin(row rowScanner) (store.Plugin, error) {
	var (
		p                    store.Plugin
		grants, kube, config sql.NullString
		installed, updated   string
	)
	err := row.Scan(&p.ID, &p.SourceKind, &p.SourceLocation, &p.SourceVersion, &p.SourcePath, &p.SourcePin,
		&p.Tier, &p.ArtifactPath, &p.ArtifactDigest, &p.BuildKey, &p.Enabled, &grants, &kube, &config, &installed, &updated, &p.Revision)
	if err != nil {
		return p, err
	}
	if grants.Valid {
		// Decoding "[]" into the nil slice leaves it empty but non-nil.
		if err := json.Unmarshal([]byte(grants.String), &p.Grants); err != nil {
			return p, fmt.Errorf("decode grants of %s: %w", p.ID, err)
		}
	}
	if kube.Valid {
		if err := json.Unmarshal([]byte(kube.String), &p.Kubernetes); err != nil {
			return p, fmt.Errorf("decode kubernetes grant of %s: %w", p.ID, err)
		}
	}
	if config.Valid {
		if err := json.Unmarshal([]byte(config.String), &p.Config); err != nil {
			return p, fmt.Errorf("decode config of %s: %w", p.ID, err)
		}
	}
	if p.InstalledAt, err = parseTime(installed); err != nil {
		return p, fmt.Errorf("installed_at of %s: %w", p.ID, err)
	}
	if p.UpdatedAt, err = parseTime(updated); err != nil {
		return p, fmt.Errorf("updated_at of %s: %w", p.ID, err)
	}
	return p, nil
}

// PutPlugin inserts or replaces a plugin with an upsert, so the first
// install time survives a replace without a separate read.
func (db *DB) PutPlugin(ctx context.Context, p store.Plugin) error {
	return db.putPlugin(ctx, p, false)
}

// CreatePlugin inserts a plugin, or returns an error wrapping
// store.ErrExists.
func (db *DB) CreatePlugin(ctx context.Context, p store.Plugin) error {
	return db.putPlugin(ctx, p, true)
}

// putPlugin is PutPlugin, or CreatePlugin with create.
func (db *DB) putPlugin(ctx context.Context, p store.Plugin, create bool) error {
	// NULL keeps "none" distinct from an empty value.
	config, err := nullJSON(p.Config, p.Config == nil)
	if err != nil {
		return fmt.Errorf("put plugin %s: encode config: %w", p.ID, err)
	}
	grants, err := nullJSON(p.Grants, p.Grants == nil)
	if err != nil {
		return fmt.Errorf("put plugin %s: encode grants: %w", p.ID, err)
	}
	kube, err := nullJSON(p.Kubernetes, p.Kubernetes == nil)
	if err != nil {
		return fmt.Errorf("put plugin %s: encode kubernetes grant: %w", p.ID, err)
	}
	err = db.write(ctx, func(tx *sql.Tx, now string) error {
		if err := store.CheckWrite(p, create, func() (int64, bool, error) {
			var stored int64
			err := tx.QueryRowContext(ctx, `SELECT revision FROM plugins WHERE id = ?`, p.ID).Scan(&stored)
			if errors.Is(err, sql.ErrNoRows) {
				return 0, false, nil
			}
			return stored, err == nil, err
		}); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO plugins (`+pluginColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)
			ON CONFLICT(id) DO UPDATE SET
				source_kind = excluded.source_kind,
				source_location = excluded.source_location,
				source_version = excluded.source_version,
				source_path = excluded.source_path,
				source_pin = excluded.source_pin,
				tier = excluded.tier,
				artifact_path = excluded.artifact_path,
				artifact_digest = excluded.artifact_digest,
				build_key = excluded.build_key,
				enabled = excluded.enabled,
				grants = excluded.grants,
				kubernetes = excluded.kubernetes,
				config = excluded.config,
				updated_at = excluded.updated_at,
				revision = plugins.revision + 1`,
			p.ID, p.SourceKind, p.SourceLocation, p.SourceVersion, p.SourcePath, p.SourcePin,
			p.Tier, p.ArtifactPath, p.ArtifactDigest, p.BuildKey, p.Enabled, grants, kube, config, now, now)
		return err
	})
	if err != nil {
		return fmt.Errorf("put plugin %s: %w", p.ID, err)
	}
	return nil
}

// DeletePlugin removes a plugin, or returns an error wrapping
// store.ErrNotFound so callers can tell "already gone" from a failure.
func (db *DB) DeletePlugin(ctx context.Context, id string) error {
	err := db.write(ctx, func(tx *sql.Tx, _ string) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM plugins WHERE id = ?`, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return cmp.Or(err, store.ErrNotFound)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete plugin %s: %w", id, err)
	}
	return nil
}

// Setting returns a named setting's value, or an error wrapping
// store.ErrNotFound.
func (db *DB) Setting(ctx context.Context, key string) ([]byte, error) {
	var v []byte
	err := db.db.QueryRowContext(ctx, `SELECT value FROM settings WHERE key = ?`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("get setting %s: %w", key, err)
	}
	return v, nil
}

// PutSetting sets a named setting; a nil value is stored as empty, since a
// setting that exists is never NULL.
func (db *DB) PutSetting(ctx context.Context, key string, value []byte) error {
	if value == nil {
		value = []byte{}
	}
	err := db.write(ctx, func(tx *sql.Tx, now string) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?)
			ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
			key, value, now)
		return err
	})
	if err != nil {
		return fmt.Errorf("put setting %s: %w", key, err)
	}
	return nil
}

const tokenColumns = `name, role, hash, created_at, expires_at, revoked_at`

func scanToken(row rowScanner) (store.Token, error) {
	var (
		t                store.Token
		created          string
		expires, revoked sql.NullString
	)
	if err := row.Scan(&t.Name, &t.Role, &t.Hash, &created, &expires, &revoked); err != nil {
		return t, err
	}
	var err error
	if t.CreatedAt, err = parseTime(created); err != nil {
		return t, fmt.Errorf("created_at of token %s: %w", t.Name, err)
	}
	if t.ExpiresAt, err = parseNullTime(expires); err != nil {
		return t, fmt.Errorf("expires_at of token %s: %w", t.Name, err)
	}
	if t.RevokedAt, err = parseNullTime(revoked); err != nil {
		return t, fmt.Errorf("revoked_at of token %s: %w", t.Name, err)
	}
	return t, nil
}

// PutToken adds a token, or returns an error wrapping store.ErrExists when
// its name, or its hash, is already taken: two tokens with one hash could
// not be told apart by TokenByHash. A zero CreatedAt is set to now.
func (db *DB) PutToken(ctx context.Context, t store.Token) error {
	err := db.write(ctx, func(tx *sql.Tx, now string) error {
		// DO NOTHING without a conflict target covers both the name and
		// the hash, so a taken key is told apart from a failure without
		// depending on the driver's error codes.
		res, err := tx.ExecContext(ctx, `INSERT INTO tokens (`+tokenColumns+`)
			VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT DO NOTHING`,
			t.Name, t.Role, t.Hash, timeOr(t.CreatedAt, now), nullTime(t.ExpiresAt), nullTime(t.RevokedAt))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 1 {
			return err
		}
		var nameTaken bool
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM tokens WHERE name = ?)`, t.Name).
			Scan(&nameTaken); err != nil {
			return err
		}
		if nameTaken {
			return fmt.Errorf("name %w", store.ErrExists)
		}
		return fmt.Errorf("another token with this hash %w", store.ErrExists)
	})
	if err != nil {
		return fmt.Errorf("put token %s: %w", t.Name, err)
	}
	return nil
}

// Tokens returns every token, revoked ones included, sorted by name.
func (db *DB) Tokens(ctx context.Context) ([]store.Token, error) {
	return queryAll(ctx, db.db, "list tokens", `SELECT `+tokenColumns+` FROM tokens ORDER BY name`, nil, scanToken)
}

// TokenByHash returns the token whose secret hashes to hash, or an error
// wrapping store.ErrNotFound. The hash is left out of the error: it is
// what a caller presented, and logs are no place for it.
func (db *DB) TokenByHash(ctx context.Context, hash string) (store.Token, error) {
	row := db.db.QueryRowContext(ctx, `SELECT `+tokenColumns+` FROM tokens WHERE hash = ?`, hash)
	t, err := scanToken(row)
	if errors.Is(err, sql.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return store.Token{}, fmt.Errorf("get token by hash: %w", err)
	}
	return t, nil
}

// RevokeToken marks a token revoked at the given time (now if zero), or
// returns an error wrapping store.ErrNotFound. A token already revoked
// keeps its first revocation time.
func (db *DB) RevokeToken(ctx context.Context, name string, at time.Time) error {
	err := db.write(ctx, func(tx *sql.Tx, now string) error {
		// SQLite counts a matched row as changed even when COALESCE keeps
		// its value, so zero rows means no such token.
		res, err := tx.ExecContext(ctx, `UPDATE tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE name = ?`,
			timeOr(at, now), name)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return cmp.Or(err, store.ErrNotFound)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("revoke token %s: %w", name, err)
	}
	return nil
}

// Audit limits: what a query without one gets, and the most any gets.
const (
	defaultAuditLimit = 100
	maxAuditLimit     = 1000
	// auditKept is how many of the newest records the log keeps: anonymous
	// callers of plugin endpoints add records too, and must not fill the
	// disk. Older ones are pruned every auditPruneEvery records.
	auditKept       = 100_000
	auditPruneEvery = 1000
)

// AppendAudit records an entry and returns its ID; a zero Time is set to
// now. IDs only grow: AUTOINCREMENT never reuses one.
func (db *DB) AppendAudit(ctx context.Context, e store.AuditEntry) (int64, error) {
	details, err := nullJSON(e.Details, e.Details == nil)
	if err != nil {
		return 0, fmt.Errorf("append audit %s: encode details: %w", e.Action, err)
	}
	var id int64
	err = db.write(ctx, func(tx *sql.Tx, now string) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO audit (time, actor, action, target, result, status, details)
			VALUES (?, ?, ?, ?, ?, ?, ?)`,
			timeOr(e.Time, now), e.Actor, e.Action, e.Target, e.Result, e.Status, details)
		if err != nil {
			return err
		}
		if id, err = res.LastInsertId(); err != nil || id%auditPruneEvery != 0 {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM audit WHERE id <= ?`, id-auditKept)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("append audit %s: %w", e.Action, err)
	}
	return id, nil
}

// Audit returns the entries q selects, oldest first. The filters are
// added only when set, so that SQLite can use the actor and target
// indexes, whose entries are in id order within one actor or target.
func (db *DB) Audit(ctx context.Context, q store.AuditQuery) ([]store.AuditEntry, error) {
	limit := q.Limit
	switch {
	case limit <= 0:
		limit = defaultAuditLimit
	case limit > maxAuditLimit:
		limit = maxAuditLimit
	}
	query := `SELECT id, time, actor, action, target, result, status, details FROM audit WHERE id > ?`
	args := []any{q.AfterID}
	if q.Actor != "" {
		query += ` AND actor = ?`
		args = append(args, q.Actor)
	}
	if q.Target != "" {
		query += ` AND target = ?`
		args = append(args, q.Target)
	}
	query += ` ORDER BY id LIMIT ?`
	args = append(args, limit)

	return queryAll(ctx, db.db, "query audit", query, args, scanAudit)
}

func scanAudit(row rowScanner) (store.AuditEntry, error) {
	var (
		e       store.AuditEntry
		ts      string
		details sql.NullString
	)
	if err := row.Scan(&e.ID, &ts, &e.Actor, &e.Action, &e.Target, &e.Result, &e.Status, &details); err != nil {
		return e, err
	}
	var err error
	if e.Time, err = parseTime(ts); err != nil {
		return e, fmt.Errorf("time of entry %d: %w", e.ID, err)
	}
	if details.Valid {
		if err := json.Unmarshal([]byte(details.String), &e.Details); err != nil {
			return e, fmt.Errorf("decode details of entry %d: %w", e.ID, err)
		}
	}
	return e, nil
}
