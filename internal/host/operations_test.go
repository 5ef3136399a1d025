package host

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	apiv1 "github.com/kubestellar/ksplugins/api/v1"
	"github.com/kubestellar/ksplugins/internal/events"
)

// TestOperationFinishedBeforeItsLastEvent: a client that reads the
// operation when its last event arrives finds it finished. The bus logs
// each event inside Publish, so a log handler sees the operation exactly as
// it is when the event goes out.
func TestOperationFinishedBeforeItsLastEvent(t *testing.T) {
	seen := &opAtEvent{states: map[string]apiv1.OpState{}, recorded: make(chan struct{}, 1)}
	h := newTestHost(t, func(o *Options) {
		o.Events = events.NewBus(events.Options{Logger: slog.New(seen)})
	})
	seen.host.Store(h)
	op := h.StartLoad(context.Background(), LoadRequest{LoadRequest: apiv1.LoadRequest{Source: t.TempDir() + "/no-such-plugin"}})
	for {
		if state, ok := seen.state(op.ID); ok {
			if state != apiv1.OpFailed {
				t.Fatalf("operation was %q when its error event went out; want failed", state)
			}
			return
		}
		select {
		case <-seen.recorded:
		case <-time.After(10 * time.Second):
			t.Fatal("no error event for the failed install")
		}
	}
}

// opAtEvent is a log handler that records, for each error event about an
// operation, the operation's state at that moment, and then signals
// recorded.
type opAtEvent struct {
	host     atomic.Pointer[Host]
	mu       sync.Mutex
	states   map[string]apiv1.OpState
	recorded chan struct{}
}

func (o *opAtEvent) Enabled(context.Context, slog.Level) bool { return true }
func (o *opAtEvent) WithAttrs([]slog.Attr) slog.Handler       { return o }
func (o *opAtEvent) WithGroup(string) slog.Handler            { return o }

func (o *opAtEvent) Handle(_ context.Context, r slog.Record) error {
	var typ, id string
	r.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "event_type":
			typ = a.Value.String()
		case "operation_id":
			id = a.Value.String()
		}
		return true
	})
	h := o.host.Load()
	if typ != string(events.Error) || id == "" || h == nil {
		return nil
	}
	op, _, _ := h.Operation(id)
	o.mu.Lock()
	o.states[id] = op.State
	o.mu.Unlock()
	select {
	case o.recorded <- struct{}{}:
	default: // a signal is already waiting
	}
	return nil
}

func (o *opAtEvent) state(id string) (apiv1.OpState, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	s, ok := o.states[id]
	return s, ok
}
