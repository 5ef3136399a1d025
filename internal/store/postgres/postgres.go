// Package postgres is the store.Store for hosts that share their desired
// state: one PostgreSQL database that several replicas open at once,
// reached through pgx's own pool rather than database/sql.
package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kubestellar/ksplugins/internal/store"
)

var _ store.Store = (*DB)(nil)

// Advisory lock keys, in the one 64-bit space every client of the database
// shares: arbitrary, fixed, and unlikely to be chosen by anything else.
const (
	// migrationLock is held while the schema is brought up to date, so
	// that replicas starting together migrate one after the other.
	migrationLock int64 = 0x6b73_706c_7567_0001
	// auditLock serializes audit appends: see AppendAudit.
	auditLock int64 = 0x6b73_706c_7567_0002
)

// DB is a store.Store backed by a PostgreSQL database. It is safe for
// concurrent use, also by several processes on one database.
type DB struct {
	pool *pgxpool.Pool
}

// IsURL reports whether s is a PostgreSQL connection URL, which is how a
// configuration value selects this store.
func IsURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// Redacted returns the connection URL without its password, whether it is
// in the user information or in a password parameter, for logs and
// errors.
func Redacted(connURL string) string {
	u, err := url.Parse(connURL)
	if err != nil {
		// url.Error quotes the whole input, so it cannot be shown either.
		scheme, _, _ := strings.Cut(connURL, "://")
		return scheme + "://(unparseable URL)"
	}
	q := u.Query()
	if q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

// Open connects to the database at connURL (postgres://...) and brings its
// schema up to date, so that a DB is never handed out in a shape the code
// does not expect.
func Open(ctx context.Context, connURL string) (*DB, error) {
	db, err := open(ctx, connURL, migrations())
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", Redacted(connURL), err)
	}
	return db, nil
}

func open(ctx context.Context, connURL string, steps []string) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(connURL)
	if err != nil {
		// pgx's message may quote the URL, password and all: see Redacted.
		return nil, errors.New("not a valid PostgreSQL connection URL")
	}
	if _, ok := cfg.ConnConfig.RuntimeParams["application_name"]; !ok {
		cfg.ConnConfig.RuntimeParams["application_name"] = "ksplugins"
	}
	if err := migrate(ctx, cfg.ConnConfig, steps); err != nil {
		return nil, err
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return &DB{pool: pool}, nil
}

// Close releases the pool's connections.
func (db *DB) Close() error {
	db.pool.Close()
	return nil
}

// migrations are the schema steps, applied in order; step i brings the
// database to version i+1. Append only: a released step never changes,
// since databases in the field have already run it.
//
// Times are text in timeLayout rather than timestamptz, which keeps only
// microseconds: callers' times come back to the nanosecond, as from the
// SQLite store. Keys and times compare bytewise (COLLATE "C"), so that
// "sorted by id" does not depend on the database's locale and times
// compare as instants. JSON is json rather than jsonb, which refuses the
// \u0000 that encoding/json writes for a NUL character, and nothing
// queries inside it.
func migrations() []string {
	return []string{
		`CREATE TABLE plugins (
			id              text COLLATE "C" PRIMARY KEY,
			source_kind     text NOT NULL,
			source_location text NOT NULL,
			source_version  text NOT NULL,
			source_path     text NOT NULL,
			source_pin      text NOT NULL,
			tier            text NOT NULL,
			artifact_path   text NOT NULL,
			artifact_digest text NOT NULL,
			build_key       text NOT NULL,
			enabled         boolean NOT NULL,
			grants          text[],
			kubernetes      json,
			config          json,
			installed_at    text COLLATE "C" NOT NULL,
			updated_at      text COLLATE "C" NOT NULL
		);
		CREATE TABLE settings (
			key        text COLLATE "C" PRIMARY KEY,
			value      bytea NOT NULL,
			updated_at text COLLATE "C" NOT NULL
		);
		CREATE TABLE tokens (
			name       text COLLATE "C" PRIMARY KEY,
			role       text NOT NULL,
			hash       text NOT NULL UNIQUE,
			created_at text COLLATE "C" NOT NULL,
			expires_at text COLLATE "C",
			revoked_at text COLLATE "C"
		);
		CREATE TABLE audit (
			id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
			time    text COLLATE "C" NOT NULL,
			actor   text NOT NULL,
			action  text NOT NULL,
			target  text NOT NULL,
			result  text NOT NULL,
			status  integer NOT NULL,
			details json
		);
		CREATE INDEX audit_actor ON audit (actor, id);
		CREATE INDEX audit_target ON audit (target, id);`,
		// Replicas: every committed change to a plugin or a setting is a
		// notice on changesChannel (see Changes), sent by the database
		// itself, so no writer can forget it; built artifacts are kept by
		// digest for the replicas that did not build them.
		`CREATE FUNCTION ksplugins_notify_change() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF TG_TABLE_NAME = 'plugins' THEN
				PERFORM pg_notify('` + changesChannel + `', 'plugin:' || COALESCE(NEW.id, OLD.id));
			ELSE
				PERFORM pg_notify('` + changesChannel + `', 'setting:' || COALESCE(NEW.key, OLD.key));
			END IF;
			RETURN NULL;
		END $$;
		CREATE TRIGGER plugins_changed AFTER INSERT OR UPDATE OR DELETE ON plugins
			FOR EACH ROW EXECUTE FUNCTION ksplugins_notify_change();
		CREATE TRIGGER settings_changed AFTER INSERT OR UPDATE OR DELETE ON settings
			FOR EACH ROW EXECUTE FUNCTION ksplugins_notify_change();
		ALTER TABLE plugins ADD COLUMN revision bigint NOT NULL DEFAULT 1;
		CREATE TABLE replicas (
			name        text COLLATE "C" PRIMARY KEY,
			reported_at text COLLATE "C" NOT NULL
		);
		CREATE TABLE replica_plugins (
			replica    text COLLATE "C" NOT NULL REFERENCES replicas (name) ON DELETE CASCADE,
			plugin_id  text COLLATE "C" NOT NULL,
			state      text NOT NULL,
			digest     text NOT NULL,
			health     text NOT NULL,
			last_error text NOT NULL,
			PRIMARY KEY (replica, plugin_id)
		);
		CREATE TABLE artifacts (
			digest     text COLLATE "C" PRIMARY KEY,
			size       bigint NOT NULL,
			content    bytea NOT NULL,
			created_at text COLLATE "C" NOT NULL
		);`,
	}
}

// migrate applies pending steps on a connection of its own, holding the
// migration lock for the whole run, and one transaction each, so a crash
// leaves the database at some whole version, never between two. The lock
// is a session lock: closing the connection releases it however migrate
// ends, even on a cancelled ctx.
func migrate(ctx context.Context, cfg *pgx.ConnConfig, steps []string) error {
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, migrationLock); err != nil {
		return fmt.Errorf("take the migration lock: %w", err)
	}
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    integer PRIMARY KEY,
		applied_at text NOT NULL
	)`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	for {
		more, err := migrateStep(ctx, conn, steps)
		if err != nil || !more {
			return err
		}
	}
}

// migrateStep applies the next pending step, if any, and reports whether it
// did.
func migrateStep(ctx context.Context, conn *pgx.Conn, steps []string) (more bool, err error) {
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		var v int
		if err := tx.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v); err != nil {
			return fmt.Errorf("read schema version: %w", err)
		}
		switch {
		case v > len(steps):
			return fmt.Errorf("database schema version %d is newer than this binary supports (%d)", v, len(steps))
		case v == len(steps):
			return nil
		}
		// No arguments: the simple protocol, which runs a step's several
		// statements in one call.
		if _, err := tx.Exec(ctx, steps[v]); err != nil {
			return fmt.Errorf("migrate to version %d: %w", v+1, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)`,
			v+1, formatTime(time.Now())); err != nil {
			return fmt.Errorf("record schema version %d: %w", v+1, err)
		}
		more = true
		return nil
	})
	return more, err
}

// timeLayout is how every time is stored: UTC, to the nanosecond, and
// fixed in width, so that the text sorts and compares like the instant it
// stands for (RFC3339Nano drops trailing zeros, which breaks that).
const timeLayout = "2006-01-02T15:04:05.000000000Z07:00"

func formatTime(t time.Time) string {
	return t.UTC().Format(timeLayout)
}

func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	return t.UTC(), err
}

// now is the time a write is stamped with.
func now() string {
	return formatTime(time.Now())
}

// timeOr formats t, or returns now if t is zero.
func timeOr(t time.Time, now string) string {
	if t.IsZero() {
		return now
	}
	return formatTime(t)
}

// nullTime formats an optional time; nil is stored as NULL.
func nullTime(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := formatTime(*t)
	return &s
}

// parseNullTime is the inverse of nullTime.
func parseNullTime(s *string) (*time.Time, error) {
	if s == nil {
		return nil, nil
	}
	t, err := parseTime(*s)
	if err != nil {
		return nil, err
	}
	return &t, nil
}

// nullJSON encodes v as JSON, or returns nil (NULL) when isNil, so that
// "not set" stays distinct from an empty value.
func nullJSON(v any, isNil bool) ([]byte, error) {
	if isNil {
		return nil, nil
	}
	return json.Marshal(v)
}

// decodeJSON decodes b into v unless b is nil (NULL).
func decodeJSON(b []byte, v any) error {
	if b == nil {
		return nil
	}
	return json.Unmarshal(b, v)
}

// queryAll runs a query and scans every row it returns; errors say what
// was being done.
func queryAll[T any](ctx context.Context, db *pgxpool.Pool, what, query string, args []any, scan func(pgx.Row) (T, error)) ([]T, error) {
	rows, err := db.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (T, error) { return scan(row) })
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}

const pluginColumns = `id, source_kind, source_location, source_version, source_path, source_pin,
	tier, artifact_path, artifact_digest, build_key, enabled, grants, kubernetes, config, installed_at, updated_at, revision`

// Plugins returns every plugin, sorted by id.
func (db *DB) Plugins(ctx context.Context) ([]store.Plugin, error) {
	return queryAll(ctx, db.pool, "list plugins", `SELECT `+pluginColumns+` FROM plugins ORDER BY id`, nil, scanPlugin)
}

// Plugin returns one plugin, or an error wrapping store.ErrNotFound.
func (db *DB) Plugin(ctx context.Context, id string) (store.Plugin, error) {
	p, err := scanPlugin(db.pool.QueryRow(ctx, `SELECT `+pluginColumns+` FROM plugins WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return store.Plugin{}, fmt.Errorf("get plugin %s: %w", id, err)
	}
	return p, nil
}

func scanPlugin(row pgx.Row) (store.Plugin, error) {
	var (
		p                  store.Plugin
		kube, config       []byte
		installed, updated string
	)
	// A NULL text[] scans as a nil slice and '{}' as an empty one, so
	// "never granted" and "granted nothing" stay apart.
	err := row.Scan(&p.ID, &p.SourceKind, &p.SourceLocation, &p.SourceVersion, &p.SourcePath, &p.SourcePin,
		&p.Tier, &p.ArtifactPath, &p.ArtifactDigest, &p.BuildKey, &p.Enabled, &p.Grants, &kube, &config, &installed, &updated, &p.Revision)
	if err != nil {
		return p, err
	}
	if err := decodeJSON(kube, &p.Kubernetes); err != nil {
		return p, fmt.Errorf("decode kubernetes grant of %s: %w", p.ID, err)
	}
	if err := decodeJSON(config, &p.Config); err != nil {
		return p, fmt.Errorf("decode config of %s: %w", p.ID, err)
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
//
// updated_at never goes back: two writers race for the row lock with times
// read before it, and the later time must win even when its writer loses,
// or UpdatedAt could fall before InstalledAt.
func (db *DB) PutPlugin(ctx context.Context, p store.Plugin) error {
	return db.putPlugin(ctx, p, false)
}

// CreatePlugin inserts a plugin, or returns an error wrapping
// store.ErrExists.
func (db *DB) CreatePlugin(ctx context.Context, p store.Plugin) error {
	return db.putPlugin(ctx, p, true)
}

// putPlugin is PutPlugin, or CreatePlugin with create. The revision is
// checked on the row locked for the write (FOR UPDATE), so that two
// writers of one revision cannot both pass the check.
func (db *DB) putPlugin(ctx context.Context, p store.Plugin, create bool) error {
	config, err := nullJSON(p.Config, p.Config == nil)
	if err != nil {
		return fmt.Errorf("put plugin %s: encode config: %w", p.ID, err)
	}
	kube, err := nullJSON(p.Kubernetes, p.Kubernetes == nil)
	if err != nil {
		return fmt.Errorf("put plugin %s: encode kubernetes grant: %w", p.ID, err)
	}
	err = pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if err := store.CheckWrite(p, create, func() (int64, bool, error) {
			var stored int64
			err := tx.QueryRow(ctx, `SELECT revision FROM plugins WHERE id = $1 FOR UPDATE`, p.ID).Scan(&stored)
			if errors.Is(err, pgx.ErrNoRows) {
				return 0, false, nil
			}
			return stored, err == nil, err
		}); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `INSERT INTO plugins (`+pluginColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15, 1)
			ON CONFLICT (id) DO `+map[bool]string{true: `NOTHING`, false: `UPDATE SET
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
				updated_at = GREATEST(plugins.updated_at, excluded.updated_at),
				revision = plugins.revision + 1`}[create],
			p.ID, p.SourceKind, p.SourceLocation, p.SourceVersion, p.SourcePath, p.SourcePin,
			p.Tier, p.ArtifactPath, p.ArtifactDigest, p.BuildKey, p.Enabled, p.Grants, kube, config, now())
		if err == nil && create && tag.RowsAffected() == 0 {
			err = store.ErrExists // created by another writer since the check
		}
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
	tag, err := db.pool.Exec(ctx, `DELETE FROM plugins WHERE id = $1`, id)
	if err == nil && tag.RowsAffected() == 0 {
		err = store.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("delete plugin %s: %w", id, err)
	}
	return nil
}

// Setting returns a named setting's value, or an error wrapping
// store.ErrNotFound.
func (db *DB) Setting(ctx context.Context, key string) ([]byte, error) {
	var v []byte
	err := db.pool.QueryRow(ctx, `SELECT value FROM settings WHERE key = $1`, key).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
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
	_, err := db.pool.Exec(ctx, `INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, $3)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
		key, value, now())
	if err != nil {
		return fmt.Errorf("put setting %s: %w", key, err)
	}
	return nil
}

const tokenColumns = `name, role, hash, created_at, expires_at, revoked_at`

func scanToken(row pgx.Row) (store.Token, error) {
	var (
		t                store.Token
		created          string
		expires, revoked *string
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
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		// DO NOTHING without a conflict target covers both the name and
		// the hash, so a taken key is told apart from a failure without
		// depending on error codes.
		tag, err := tx.Exec(ctx, `INSERT INTO tokens (`+tokenColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT DO NOTHING`,
			t.Name, t.Role, t.Hash, timeOr(t.CreatedAt, now()), nullTime(t.ExpiresAt), nullTime(t.RevokedAt))
		if err != nil || tag.RowsAffected() == 1 {
			return err
		}
		var nameTaken bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM tokens WHERE name = $1)`, t.Name).
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
	return queryAll(ctx, db.pool, "list tokens", `SELECT `+tokenColumns+` FROM tokens ORDER BY name`, nil, scanToken)
}

// TokenByHash returns the token whose secret hashes to hash, or an error
// wrapping store.ErrNotFound. The hash is left out of the error: it is
// what a caller presented, and logs are no place for it.
func (db *DB) TokenByHash(ctx context.Context, hash string) (store.Token, error) {
	t, err := scanToken(db.pool.QueryRow(ctx, `SELECT `+tokenColumns+` FROM tokens WHERE hash = $1`, hash))
	if errors.Is(err, pgx.ErrNoRows) {
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
	// PostgreSQL counts a matched row even when COALESCE keeps its value,
	// so zero rows means no such token.
	tag, err := db.pool.Exec(ctx, `UPDATE tokens SET revoked_at = COALESCE(revoked_at, $1) WHERE name = $2`,
		timeOr(at, now()), name)
	if err == nil && tag.RowsAffected() == 0 {
		err = store.ErrNotFound
	}
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
	// disk. Older ones are pruned when an id is a multiple of
	// auditPruneEvery (ids a rolled-back append used are skipped, which
	// only puts the pruning off to the next multiple).
	auditKept       = 100_000
	auditPruneEvery = 1000
)

// AppendAudit records an entry and returns its ID; a zero Time is set to
// now.
//
// Appends take turns on an advisory lock held until commit, so that ids
// become visible in the order they were drawn: a reader paging with
// AfterID would otherwise pass an id whose transaction had not committed
// yet, and never see that entry.
func (db *DB) AppendAudit(ctx context.Context, e store.AuditEntry) (int64, error) {
	details, err := nullJSON(e.Details, e.Details == nil)
	if err != nil {
		return 0, fmt.Errorf("append audit %s: encode details: %w", e.Action, err)
	}
	var id int64
	err = pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, auditLock); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `INSERT INTO audit (time, actor, action, target, result, status, details)
			VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
			timeOr(e.Time, now()), e.Actor, e.Action, e.Target, e.Result, e.Status, details).Scan(&id); err != nil {
			return err
		}
		if id%auditPruneEvery != 0 {
			return nil
		}
		_, err := tx.Exec(ctx, `DELETE FROM audit WHERE id <= $1`, id-auditKept)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("append audit %s: %w", e.Action, err)
	}
	return id, nil
}

// Audit returns the entries q selects, oldest first. The filters are
// added only when set, so that the planner can use the (actor, id) and
// (target, id) indexes.
func (db *DB) Audit(ctx context.Context, q store.AuditQuery) ([]store.AuditEntry, error) {
	limit := q.Limit
	switch {
	case limit <= 0:
		limit = defaultAuditLimit
	case limit > maxAuditLimit:
		limit = maxAuditLimit
	}
	query := `SELECT id, time, actor, action, target, result, status, details FROM audit WHERE id > $1`
	args := []any{q.AfterID}
	if q.Actor != "" {
		args = append(args, q.Actor)
		query += fmt.Sprintf(` AND actor = $%d`, len(args))
	}
	if q.Target != "" {
		args = append(args, q.Target)
		query += fmt.Sprintf(` AND target = $%d`, len(args))
	}
	args = append(args, limit)
	query += fmt.Sprintf(` ORDER BY id LIMIT $%d`, len(args))

	return queryAll(ctx, db.pool, "query audit", query, args, scanAudit)
}

func scanAudit(row pgx.Row) (store.AuditEntry, error) {
	var (
		e       store.AuditEntry
		ts      string
		details []byte
	)
	if err := row.Scan(&e.ID, &ts, &e.Actor, &e.Action, &e.Target, &e.Result, &e.Status, &details); err != nil {
		return e, err
	}
	var err error
	if e.Time, err = parseTime(ts); err != nil {
		return e, fmt.Errorf("time of entry %d: %w", e.ID, err)
	}
	if err := decodeJSON(details, &e.Details); err != nil {
		return e, fmt.Errorf("decode details of entry %d: %w", e.ID, err)
	}
	return e, nil
}
