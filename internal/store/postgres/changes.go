package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kubestellar/ksplugins/internal/store"
)

var _ store.Notifier = (*DB)(nil)

// changesChannel is the LISTEN/NOTIFY channel the database's triggers
// announce each committed change to plugins and settings on, as
// "plugin:<id>" or "setting:<key>".
const changesChannel = "ksplugins_changes"

// Changes implements store.Notifier with LISTEN on a connection of its
// own. PostgreSQL delivers a notice only after its transaction commits, so
// a reader who is told reads the change. When the connection is lost it
// connects again, with backoff, and sends an empty Change: notices sent
// while it was away are gone, and the reader should look at everything.
func (db *DB) Changes(ctx context.Context) (<-chan store.Change, error) {
	conn, err := db.listen(ctx)
	if err != nil {
		return nil, err
	}
	out := make(chan store.Change, 64)
	go func() {
		defer close(out)
		wait := 100 * time.Millisecond
		for {
			for conn != nil {
				n, err := conn.WaitForNotification(ctx)
				if err != nil {
					conn.Close(context.WithoutCancel(ctx))
					conn = nil
					break
				}
				wait = 100 * time.Millisecond
				kind, key, _ := strings.Cut(n.Payload, ":")
				select {
				case out <- store.Change{Kind: kind, Key: key}:
				case <-ctx.Done():
				}
			}
			if ctx.Err() != nil {
				return
			}
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			wait = min(2*wait, 10*time.Second)
			if conn, _ = db.listen(ctx); conn != nil {
				select {
				case out <- store.Change{}:
				case <-ctx.Done():
				}
			}
		}
	}()
	return out, nil
}

// listen takes a connection out of the pool for good, so that no other
// query ever runs on a connection that listens, and listens on
// changesChannel with it.
func (db *DB) listen(ctx context.Context) (*pgx.Conn, error) {
	pooled, err := db.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("listen for changes: %w", err)
	}
	conn := pooled.Hijack()
	if _, err := conn.Exec(ctx, "LISTEN "+changesChannel); err != nil {
		conn.Close(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("listen for changes: %w", err)
	}
	return conn, nil
}
