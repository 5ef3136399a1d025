// Package events tells the outside world what happens to plugins.
//
// A [Bus] keeps the most recent events in a bounded ring, so a client that
// reconnects can catch up on what it missed, and fans every new event out to
// live subscribers without ever waiting for them, so a slow or stuck
// consumer cannot slow the host down. [Bus.ServeSSE] puts both together
// behind a Server-Sent Events endpoint, which browsers consume with
// EventSource and resume on their own after a dropped connection.
package events

import (
	"context"
	apiv1 "github.com/kubestellar/ksplugins/api/v1"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Type is the kind of an event: the management API's, so that what the bus
// carries is what clients read.
type Type = apiv1.EventType

// The kinds of event the host publishes.
const (
	Loaded        = apiv1.EventLoaded
	Unloaded      = apiv1.EventUnloaded
	Reloaded      = apiv1.EventReloaded
	Enabled       = apiv1.EventEnabled
	Disabled      = apiv1.EventDisabled
	HealthChanged = apiv1.EventHealthChanged
	ConfigChanged = apiv1.EventConfigChanged
	Error         = apiv1.EventError
	Progress      = apiv1.EventProgress // install or other long operation progress
	StateChanged  = apiv1.EventStateChanged
	PluginEvent   = apiv1.EventPlugin // published by a plugin itself; Details["kind"] is its own name for it
)

// Event is one thing that happened, in the shape the management API sends
// it. It is a plain value so that it can be stored, logged and sent as
// JSON alike; receivers must treat Details as read-only, because every
// receiver of an event shares the same map. Publish assigns ID (1, 2, 3,
// ..., strictly increasing per Bus) and Time (UTC, when zero).
type Event = apiv1.Event

// Defaults for the zero fields of Options.
const (
	defaultCapacity  = 1024
	defaultBuffer    = 256
	defaultHeartbeat = 15 * time.Second
)

// Options tunes a Bus. The zero value is ready to use: every zero field
// takes its default.
type Options struct {
	// Capacity bounds the memory the history takes: it is the number of
	// recent events kept for Since and for resuming subscribers. Default
	// 1024.
	Capacity int
	// Buffer is how many live events a subscriber may fall behind before
	// the bus drops it. Default 256.
	Buffer int
	// Logger receives every published event, so that the log tells the
	// same story as the event stream: at Info level, Error events at Warn.
	// Nil means slog.Default() at the time of logging.
	Logger *slog.Logger
	// Heartbeat is how often ServeSSE sends a comment on an idle stream,
	// so that proxies do not close it and a dead client is noticed.
	// Default 15s.
	Heartbeat time.Duration
}

// Bus is the host's event hub: it keeps recent history and fans events out
// to subscribers. Create one with NewBus; its methods are safe for
// concurrent use.
type Bus struct {
	capacity  int
	buffer    int
	heartbeat time.Duration
	logger    *slog.Logger

	mu     sync.Mutex
	ring   []Event // grows to capacity, then wraps; ring[head] is the oldest
	head   int
	lastID uint64
	subs   map[*Subscription]struct{}
}

// NewBus returns an empty Bus configured by opts, so that each host (and
// each test) has its own history and ID sequence.
func NewBus(opts Options) *Bus {
	b := &Bus{
		capacity:  opts.Capacity,
		buffer:    opts.Buffer,
		heartbeat: opts.Heartbeat,
		logger:    opts.Logger,
		subs:      make(map[*Subscription]struct{}),
	}
	if b.capacity <= 0 {
		b.capacity = defaultCapacity
	}
	if b.buffer <= 0 {
		b.buffer = defaultBuffer
	}
	if b.heartbeat <= 0 {
		b.heartbeat = defaultHeartbeat
	}
	return b
}

// Publish records e and returns it as recorded. It assigns the ID, sets
// Time when zero, copies Details (so the caller may reuse its map), stores
// the event in the ring (evicting the oldest when full), logs it, and hands
// it to every subscriber without ever blocking: a subscriber whose buffer is
// full is dropped (its channel closed, its Dropped reporting true), so a
// slow consumer never slows the host. It can then resume from the ring with
// the ID of the last event it received.
func (b *Bus) Publish(e Event) Event {
	e.Details = maps.Clone(e.Details)

	b.mu.Lock()
	// Stamping under the lock keeps Time in the same order as ID.
	if e.Time.IsZero() {
		e.Time = time.Now().UTC()
	}
	b.lastID++
	e.ID = b.lastID
	if len(b.ring) < b.capacity {
		b.ring = append(b.ring, e)
	} else {
		b.ring[b.head] = e
		b.head = (b.head + 1) % len(b.ring)
	}
	for s := range b.subs {
		select {
		case s.ch <- e:
		default:
			delete(b.subs, s)
			s.dropped.Store(true)
			close(s.ch)
		}
	}
	b.mu.Unlock()

	// Logging may do I/O, so it happens outside the lock. Another
	// replica's events are in that replica's log.
	if e.Replica == "" {
		b.logEvent(e)
	}
	return e
}

// logEvent writes e to the bus's logger.
func (b *Bus) logEvent(e Event) {
	l := b.logger
	if l == nil {
		l = slog.Default()
	}
	// An Error event is a plugin's failure, not the host's, hence Warn.
	level := slog.LevelInfo
	if e.Type == Error {
		level = slog.LevelWarn
	}
	ctx := context.Background()
	if !l.Enabled(ctx, level) {
		return
	}
	attrs := make([]slog.Attr, 0, 4+len(e.Details))
	attrs = append(attrs,
		slog.Uint64("event_id", e.ID),
		slog.String("event_type", string(e.Type)),
	)
	if e.PluginID != "" {
		attrs = append(attrs, slog.String("plugin_id", e.PluginID))
	}
	attrs = append(attrs, slog.String("actor", e.Actor))
	for _, k := range slices.Sorted(maps.Keys(e.Details)) {
		attrs = append(attrs, slog.Any(k, e.Details[k]))
	}
	msg := e.Message
	if msg == "" {
		msg = "plugin event"
	}
	l.LogAttrs(ctx, level, msg, attrs...)
}

// Since returns the events in the ring with ID > afterID, oldest first, so
// that a client holding the last ID it saw can catch up. It returns nil
// when there are none.
func (b *Bus) Since(afterID uint64) []Event {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.sinceLocked(afterID)
}

// sinceLocked is Since with b.mu held.
func (b *Bus) sinceLocked(afterID uint64) []Event {
	n := len(b.ring)
	if n == 0 {
		return nil
	}
	// IDs in the ring are contiguous, so the first one to return is found
	// by arithmetic rather than by search.
	skip := 0
	if oldest := b.ring[b.head].ID; afterID >= oldest {
		d := afterID - oldest + 1
		if d >= uint64(n) {
			return nil
		}
		skip = int(d)
	}
	out := make([]Event, 0, n-skip)
	for i := skip; i < n; i++ {
		out = append(out, b.ring[(b.head+i)%n])
	}
	return out
}

// SinceTime returns the events in the ring with Time after t, oldest first,
// for clients that remember when they last looked rather than what they
// last saw. It returns nil when there are none.
func (b *Bus) SinceTime(t time.Time) []Event {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []Event
	n := len(b.ring)
	for i := range n {
		if e := b.ring[(b.head+i)%n]; e.Time.After(t) {
			out = append(out, e)
		}
	}
	return out
}

// LastID returns the ID of the newest event (0 if none), so that a client
// can load the current state and then ask for what happens after it.
func (b *Bus) LastID() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.lastID
}

// Subscribe returns a subscription that delivers the ring's events with
// ID > afterID (the replay) and then live events, in order, with no gap and
// no duplicate between the two: the replay is taken and the subscription
// registered under the same lock that Publish holds. The channel's buffer
// holds the whole replay plus Options.Buffer live events, so the replay
// alone never gets a subscriber dropped.
//
// If events after afterID were already evicted, or afterID is newer than
// any event this bus published (the client saw a previous bus, for example
// before the host restarted), Missed reports true so that the caller can
// tell the client to reload its state.
//
// The caller must Close the subscription when it is done with it.
func (b *Bus) Subscribe(afterID uint64) *Subscription {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.subscribeLocked(afterID)
}

// subscribeLive subscribes to the events published from now on, reading
// the last ID under the same lock so that nothing slips in between.
func (b *Bus) subscribeLive() *Subscription {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.subscribeLocked(b.lastID)
}

// subscribeLocked is Subscribe with b.mu held.
func (b *Bus) subscribeLocked(afterID uint64) *Subscription {
	replay := b.sinceLocked(afterID)
	s := &Subscription{
		bus:    b,
		ch:     make(chan Event, len(replay)+b.buffer),
		missed: b.missedLocked(afterID),
	}
	for _, e := range replay {
		s.ch <- e
	}
	b.subs[s] = struct{}{}
	return s
}

// missedLocked reports whether a subscriber that last saw afterID cannot be
// brought up to date from the ring. b.mu must be held.
func (b *Bus) missedLocked(afterID uint64) bool {
	if afterID > b.lastID {
		return true
	}
	if len(b.ring) == 0 {
		return false
	}
	return afterID+1 < b.ring[b.head].ID
}

// Subscription is one consumer's view of a Bus: its replay followed by the
// live events, on a channel that the bus never blocks on.
type Subscription struct {
	bus     *Bus
	ch      chan Event // closed, under bus.mu, exactly once
	missed  bool
	dropped atomic.Bool
}

// C returns the channel that delivers the events. It is closed when the
// subscription ends, by Close or by the bus dropping it for being slow, so
// a consumer can range over it.
func (s *Subscription) C() <-chan Event { return s.ch }

// Close ends the subscription and closes its channel, so that the bus
// stops holding events for it. It is idempotent and safe to call
// concurrently with Publish and with itself.
func (s *Subscription) Close() {
	b := s.bus
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.subs[s]; !ok {
		return // already closed or dropped
	}
	delete(b.subs, s)
	close(s.ch)
}

// Dropped reports whether the bus ended the subscription because its
// buffer was full, so that the consumer knows it fell behind (rather than
// being closed) and should resubscribe from the last ID it saw.
func (s *Subscription) Dropped() bool { return s.dropped.Load() }

// Missed reports whether events between the subscription's afterID and the
// ring's oldest event were already evicted (or afterID is unknown to the
// bus), so that the consumer knows the replay is incomplete and its state
// must be reloaded.
func (s *Subscription) Missed() bool { return s.missed }
