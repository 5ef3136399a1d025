package events

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// hub is a Carrier for servers in one process: what one sends, all
// receive, the sender included, as with NOTIFY.
type hub struct {
	mu   sync.Mutex
	subs []chan []byte
}

func (h *hub) SendEvent(_ context.Context, payload []byte) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, s := range h.subs {
		s <- payload
	}
	return nil
}

func (h *hub) Events(ctx context.Context) (<-chan []byte, error) {
	ch := make(chan []byte, 64)
	h.mu.Lock()
	h.subs = append(h.subs, ch)
	h.mu.Unlock()
	context.AfterFunc(ctx, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		for i, s := range h.subs {
			if s == ch {
				h.subs = append(h.subs[:i], h.subs[i+1:]...)
				close(ch)
			}
		}
	})
	return ch, nil
}

// waitFor waits until b has an event that ok accepts.
func waitFor(t *testing.T, b *Bus, ok func(Event) bool) Event {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		for _, e := range b.Since(0) {
			if ok(e) {
				return e
			}
		}
	}
	t.Fatalf("no such event; have %+v", b.Since(0))
	return Event{}
}

// TestRelay: each server's stream carries the others' events, named for
// where they happened, once, and never its own back; an event too large
// for the carrier goes without its details.
func TestRelay(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := &hub{}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	a, b := NewBus(Options{Logger: log}), NewBus(Options{Logger: log})
	for name, bus := range map[string]*Bus{"a": a, "b": b} {
		if err := Relay(ctx, bus, c, name, log); err != nil {
			t.Fatal(err)
		}
	}
	a.Publish(Event{Type: Loaded, PluginID: "p", Message: "loaded on a"})
	got := waitFor(t, b, func(e Event) bool { return e.Message == "loaded on a" })
	if got.Replica != "a" || got.PluginID != "p" {
		t.Fatalf("relayed event %+v; want it from replica a", got)
	}
	b.Publish(Event{Type: Disabled, PluginID: "p", Message: "disabled on b", Details: map[string]any{"big": strings.Repeat("x", 10000)}})
	got = waitFor(t, a, func(e Event) bool { return e.Message == "disabled on b" })
	if got.Replica != "b" || got.Details["truncated"] != true || got.Details["big"] != nil {
		t.Fatalf("a large relayed event %+v; want it from b without its details", got)
	}
	time.Sleep(50 * time.Millisecond) // room for an echo to show
	for name, bus := range map[string]*Bus{"a": a, "b": b} {
		if n := len(bus.Since(0)); n != 2 {
			t.Fatalf("%s has %d events: %+v; want its own and the other's, once each", name, n, bus.Since(0))
		}
	}
	if own := a.Since(0)[0]; own.Replica != "" {
		t.Fatalf("a's own event is marked as from %q", own.Replica)
	}
}
