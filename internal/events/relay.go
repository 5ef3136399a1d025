package events

import (
	"context"
	"encoding/json"
	"log/slog"
)

// Carrier moves encoded events between the servers that share a database
// (PostgreSQL's NOTIFY, for replicas): what one sends, every one receives,
// the sender included.
type Carrier interface {
	// SendEvent sends one encoded event.
	SendEvent(ctx context.Context, payload []byte) error
	// Events delivers what every server sends until ctx is done, then
	// closes the channel.
	Events(ctx context.Context) (<-chan []byte, error)
}

// maxPayload bounds an encoded event a carrier is given: PostgreSQL's
// NOTIFY takes less than 8000 bytes. An event over it is sent without its
// details.
const maxPayload = 7500

// Relay makes b's stream carry the events of every server sharing c, until
// ctx is done: b's own events go out named replica, and what the others
// send is published on b with its Replica set, so that a client of any
// server sees what happens on all. A subscriber that falls behind loses
// events, as any of the bus's subscribers would; Relay takes up again from
// the events published after that.
func Relay(ctx context.Context, b *Bus, c Carrier, replica string, log *slog.Logger) error {
	in, err := c.Events(ctx)
	if err != nil {
		return err
	}
	go func() {
		for payload := range in {
			var e Event
			if json.Unmarshal(payload, &e) != nil || e.Replica == "" || e.Replica == replica {
				continue
			}
			e.ID = 0
			b.Publish(e)
		}
	}()
	// Subscribed before Relay returns: every event published after it is
	// relayed.
	sub := b.subscribeLive()
	go func() {
		for {
			stop := context.AfterFunc(ctx, sub.Close)
			for e := range sub.C() {
				if e.Replica != "" {
					continue // another's, relayed here
				}
				e.Replica = replica
				payload, err := json.Marshal(e)
				if err == nil && len(payload) > maxPayload {
					e.Details = map[string]any{"truncated": true}
					payload, err = json.Marshal(e)
				}
				if err != nil || len(payload) > maxPayload {
					continue
				}
				if err := c.SendEvent(ctx, payload); err != nil && ctx.Err() == nil {
					log.Warn("relay an event to the other replicas", "event_id", e.ID, "err", err)
				}
			}
			stop()
			if ctx.Err() != nil {
				return
			}
			if sub.Dropped() {
				log.Warn("events were not relayed to the other replicas: the relay fell behind")
			}
			sub = b.subscribeLive()
		}
	}()
	return nil
}
