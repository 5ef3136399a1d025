package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kubestellar/ksplugins/internal/store"
)

var _ store.Replicas = (*DB)(nil)

// ReportReplica implements store.Replicas, in one transaction, so that a
// reader sees a replica's whole report or its previous one.
func (db *DB) ReportReplica(ctx context.Context, replica string, plugins []store.ReplicaReport) error {
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO replicas (name, reported_at) VALUES ($1, $2)
			ON CONFLICT (name) DO UPDATE SET reported_at = excluded.reported_at`, replica, now()); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM replica_plugins WHERE replica = $1`, replica); err != nil {
			return err
		}
		rows := make([][]any, len(plugins))
		for i, p := range plugins {
			rows[i] = []any{replica, p.PluginID, p.State, p.Digest, p.Health, p.LastError}
		}
		_, err := tx.CopyFrom(ctx, pgx.Identifier{"replica_plugins"},
			[]string{"replica", "plugin_id", "state", "digest", "health", "last_error"}, pgx.CopyFromRows(rows))
		return err
	})
	if err != nil {
		return fmt.Errorf("report replica %s: %w", replica, err)
	}
	return nil
}

// ReplicaReports implements store.Replicas.
func (db *DB) ReplicaReports(ctx context.Context, since time.Time) ([]store.ReplicaReport, map[string]time.Time, error) {
	after := formatTime(since)
	type seen struct {
		name string
		at   time.Time
	}
	list, err := queryAll(ctx, db.pool, "list replicas", `SELECT name, reported_at FROM replicas WHERE reported_at >= $1`,
		[]any{after}, func(row pgx.Row) (seen, error) {
			var (
				s  seen
				at string
			)
			if err := row.Scan(&s.name, &at); err != nil {
				return s, err
			}
			var err error
			s.at, err = parseTime(at)
			return s, err
		})
	if err != nil {
		return nil, nil, err
	}
	replicas := make(map[string]time.Time, len(list))
	for _, s := range list {
		replicas[s.name] = s.at
	}
	reports, err := queryAll(ctx, db.pool, "list replica reports", `SELECT p.replica, p.plugin_id, p.state, p.digest, p.health, p.last_error, r.reported_at
		FROM replica_plugins p JOIN replicas r ON r.name = p.replica
		WHERE r.reported_at >= $1 ORDER BY p.plugin_id, p.replica`, []any{after}, func(row pgx.Row) (store.ReplicaReport, error) {
		var (
			r  store.ReplicaReport
			at string
		)
		if err := row.Scan(&r.Replica, &r.PluginID, &r.State, &r.Digest, &r.Health, &r.LastError, &at); err != nil {
			return r, err
		}
		var err error
		r.ReportedAt, err = parseTime(at)
		return r, err
	})
	if err != nil {
		return nil, nil, err
	}
	return reports, replicas, nil
}
