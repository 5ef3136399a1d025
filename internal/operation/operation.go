// Package operation records the host's long-running operations (an install,
// an update) while they run and for a while after: the steps each went
// through, its warnings, and how it ended. A client that started one polls
// it by id or follows the progress events each step publishes.
package operation

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	apiv1 "github.com/kubestellar/ksplugins/api/v1"

	"github.com/kubestellar/ksplugins/internal/events"
)

// maxKept is how many operations a Registry remembers; the oldest go first.
const maxKept = 200

// Publish sends an event about an operation; the host attributes it to the
// context's actor.
type Publish func(ctx context.Context, e events.Event)

// Registry remembers recent operations by id. The zero value is ready to
// use; it is safe for concurrent use.
type Registry struct {
	mu    sync.Mutex
	byID  map[string]*Op
	order []string
}

// Op is the running side of one operation: it updates the record that the
// Registry answers and publishes each step's progress through publish.
type Op struct {
	r       *Registry
	o       *apiv1.Operation
	err     error // why it failed; kept whole, for the caller to classify
	publish Publish
}

// Start records a new running operation and returns it. pluginID may be
// empty until the operation learns it (SetPlugin).
func (r *Registry) Start(kind, source, pluginID string, publish Publish) *Op {
	raw := make([]byte, 8)
	_, _ = rand.Read(raw)
	o := &apiv1.Operation{ID: "op-" + hex.EncodeToString(raw), Kind: kind, Source: source, PluginID: pluginID, State: apiv1.OpRunning, Steps: []apiv1.Step{}, CreatedAt: time.Now().UTC()}
	op := &Op{r: r, o: o, publish: publish}
	r.mu.Lock()
	if r.byID == nil {
		r.byID = map[string]*Op{}
	}
	r.byID[o.ID] = op
	r.order = append(r.order, o.ID)
	for len(r.order) > maxKept {
		delete(r.byID, r.order[0])
		r.order = r.order[1:]
	}
	r.mu.Unlock()
	return op
}

// Operation returns a copy of a recent operation and, if it failed, the
// error it failed with.
func (r *Registry) Operation(id string) (o apiv1.Operation, failure error, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	op, ok := r.byID[id]
	if !ok {
		return apiv1.Operation{}, nil, false
	}
	return op.copyLocked(), op.err, true
}

// Snapshot returns a copy of the operation as it stands and, if it failed,
// the error it failed with, even once the Registry no longer remembers it.
func (op *Op) Snapshot() (apiv1.Operation, error) {
	op.r.mu.Lock()
	defer op.r.mu.Unlock()
	return op.copyLocked(), op.err
}

func (op *Op) copyLocked() apiv1.Operation {
	o := *op.o
	o.Steps = append([]apiv1.Step(nil), op.o.Steps...)
	o.Warnings = append([]string(nil), op.o.Warnings...)
	return o
}

// ID is the operation's id.
func (op *Op) ID() string { return op.o.ID }

// Source is what the operation installs or updates from.
func (op *Op) Source() string { return op.o.Source }

// PluginID is the plugin the operation is about; empty until known.
func (op *Op) PluginID() string {
	op.r.mu.Lock()
	defer op.r.mu.Unlock()
	return op.o.PluginID
}

// Step starts a step and returns the function that ends it with its error.
func (op *Op) Step(ctx context.Context, name, message string) func(error) {
	op.r.mu.Lock()
	op.o.Steps = append(op.o.Steps, apiv1.Step{Name: name, State: "running", StartedAt: time.Now().UTC(), Message: message})
	i := len(op.o.Steps) - 1
	pluginID := op.o.PluginID
	op.r.mu.Unlock()
	op.progress(ctx, pluginID, name, "running", message)
	return func(err error) {
		now := time.Now().UTC()
		state := "done"
		if err != nil {
			state = "failed"
		}
		op.r.mu.Lock()
		s := &op.o.Steps[i]
		s.State, s.FinishedAt = state, &now
		if err != nil {
			s.Message = err.Error()
		}
		message, pluginID := s.Message, op.o.PluginID
		op.r.mu.Unlock()
		op.progress(ctx, pluginID, name, state, message)
	}
}

func (op *Op) progress(ctx context.Context, pluginID, step, state, message string) {
	op.publish(ctx, events.Event{Type: events.Progress, PluginID: pluginID,
		Message: fmt.Sprintf("%s %s: %s %s", op.o.Kind, op.o.ID, step, state),
		Details: map[string]any{"operation_id": op.o.ID, "kind": op.o.Kind, "step": step, "state": state, "message": message}})
}

// SetPlugin records which plugin the operation is about, once known.
func (op *Op) SetPlugin(id string) {
	op.r.mu.Lock()
	op.o.PluginID = id
	op.r.mu.Unlock()
}

// Warn adds warnings that do not stop the operation.
func (op *Op) Warn(ws ...string) {
	op.r.mu.Lock()
	op.o.Warnings = append(op.o.Warnings, ws...)
	op.r.mu.Unlock()
}

// Finish ends the operation with its result, or with err if it failed.
func (op *Op) Finish(result *apiv1.Plugin, err error) {
	now := time.Now().UTC()
	op.r.mu.Lock()
	op.o.FinishedAt, op.o.Result, op.err = &now, result, err
	op.o.State = apiv1.OpSucceeded
	if err != nil {
		op.o.State = apiv1.OpFailed
	}
	op.r.mu.Unlock()
}
