package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kubestellar/ksplugins/internal/events"
	"github.com/kubestellar/ksplugins/internal/store"
)

var (
	_ store.Notifier = (*DB)(nil)
	_ events.Carrier = (*DB)(nil)
)

// The LISTEN/NOTIFY channels: changesChannel carries what the database's
// triggers announce of each committed change to plugins and settings, as
// "plugin:<id>" or "setting:<key>"; eventsChannel the servers' events.
const (
	changesChannel = "ksplugins_changes"
	eventsChannel  = "ksplugins_events"
)

// Changes implements store.Notifier. PostgreSQL delivers a notice only
// after its transaction commits, so a reader who is told reads the change.
// After its connection was lost and found again it sends an empty Change:
// notices sent meanwhile are gone, and the reader should look at
// everything.
func (db *DB) Changes(ctx context.Context) (<-chan store.Change, error) {
	notices, err := db.notices(ctx, changesChannel)
	if err != nil {
		return nil, err
	}
	out := make(chan store.Change, 64)
	go func() {
		defer close(out)
		for n := range notices {
			var c store.Change
			if !n.gap {
				c.Kind, c.Key, _ = strings.Cut(n.payload, ":")
			}
			select {
			case out <- c:
			case <-ctx.Done():
			}
		}
	}()
	return out, nil
}

// SendEvent implements events.Carrier.
func (db *DB) SendEvent(ctx context.Context, payload []byte) error {
	if _, err := db.pool.Exec(ctx, `SELECT pg_notify($1, $2)`, eventsChannel, string(payload)); err != nil {
		return fmt.Errorf("send event: %w", err)
	}
	return nil
}

// Events implements events.Carrier. Events sent while its connection was
// lost are not delivered: a client that must not miss any reads the
// server whose events they are.
func (db *DB) Events(ctx context.Context) (<-chan []byte, error) {
	notices, err := db.notices(ctx, eventsChannel)
	if err != nil {
		return nil, err
	}
	out := make(chan []byte, 256)
	go func() {
		defer close(out)
		for n := range notices {
			if n.gap {
				continue
			}
			select {
			case out <- []byte(n.payload):
			case <-ctx.Done():
			}
		}
	}()
	return out, nil
}

// notice is one notification, or, with gap, word that notices may have
// been missed.
type notice struct {
	payload string
	gap     bool
}

// notices listens on channel with a connection of its own until ctx is
// done, then closes what it returns. When the connection is lost it
// connects again, with backoff, and sends a gap.
func (db *DB) notices(ctx context.Context, channel string) (<-chan notice, error) {
	conn, err := db.listen(ctx, channel)
	if err != nil {
		return nil, err
	}
	out := make(chan notice, 64)
	send := func(n notice) {
		select {
		case out <- n:
		case <-ctx.Done():
		}
	}
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
				send(notice{payload: n.Payload})
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
			if conn, _ = db.listen(ctx, channel); conn != nil {
				send(notice{gap: true})
			}
		}
	}()
	return out, nil
}

// listen takes a connection out of the pool for good, so that no other
// query ever runs on a connection that listens, and listens on channel
// with it.
func (db *DB) listen(ctx context.Context, channel string) (*pgx.Conn, error) {
	pooled, err := db.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", channel, err)
	}
	conn := pooled.Hijack()
	if _, err := conn.Exec(ctx, "LISTEN "+channel); err != nil {
		conn.Close(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("listen on %s: %w", channel, err)
	}
	return conn, nil
}
