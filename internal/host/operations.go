package host

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

// maxOperations is how many finished operations are remembered.
const maxOperations = 200

// operations remembers recent operations by id.
type operations struct {
	mu    sync.Mutex
	byID  map[string]*apiv1.Operation
	order []string
}

// op is the running side of an Operation: it updates the record and
// publishes progress.
type op struct {
	h  *Host
	o  *apiv1.Operation
	ps *operations
}

func (h *Host) newOp(ctx context.Context, kind, source, pluginID string) *op {
	raw := make([]byte, 8)
	_, _ = rand.Read(raw)
	o := &apiv1.Operation{ID: "op-" + hex.EncodeToString(raw), Kind: kind, Source: source, PluginID: pluginID, State: apiv1.OpRunning, Steps: []apiv1.Step{}, CreatedAt: time.Now().UTC()}
	ps := &h.ops
	ps.mu.Lock()
	if ps.byID == nil {
		ps.byID = map[string]*apiv1.Operation{}
	}
	ps.byID[o.ID] = o
	ps.order = append(ps.order, o.ID)
	for len(ps.order) > maxOperations {
		delete(ps.byID, ps.order[0])
		ps.order = ps.order[1:]
	}
	ps.mu.Unlock()
	return &op{h: h, o: o, ps: ps}
}

// step starts a step and returns the function that ends it with its error.
func (p *op) step(ctx context.Context, name, message string) func(error) {
	p.ps.mu.Lock()
	p.o.Steps = append(p.o.Steps, apiv1.Step{Name: name, State: "running", StartedAt: time.Now().UTC(), Message: message})
	i := len(p.o.Steps) - 1
	pluginID := p.o.PluginID
	p.ps.mu.Unlock()
	p.progress(ctx, pluginID, name, "running", message)
	return func(err error) {
		now := time.Now().UTC()
		state := "done"
		if err != nil {
			state = "failed"
		}
		p.ps.mu.Lock()
		s := &p.o.Steps[i]
		s.State, s.FinishedAt = state, &now
		if err != nil {
			s.Message = err.Error()
		}
		pluginID := p.o.PluginID
		p.ps.mu.Unlock()
		p.progress(ctx, pluginID, name, state, s.Message)
	}
}

func (p *op) progress(ctx context.Context, pluginID, step, state, message string) {
	p.h.publish(ctx, events.Event{Type: events.Progress, PluginID: pluginID,
		Message: fmt.Sprintf("%s %s: %s %s", p.o.Kind, p.o.ID, step, state),
		Details: map[string]any{"operation_id": p.o.ID, "kind": p.o.Kind, "step": step, "state": state, "message": message}})
}

// setPlugin records which plugin the operation is about, once known.
func (p *op) setPlugin(id string) {
	p.ps.mu.Lock()
	p.o.PluginID = id
	p.ps.mu.Unlock()
}

func (p *op) warn(ws ...string) {
	p.ps.mu.Lock()
	p.o.Warnings = append(p.o.Warnings, ws...)
	p.ps.mu.Unlock()
}

// finish ends the operation with its result or error.
func (p *op) finish(info *apiv1.Plugin, err error) {
	now := time.Now().UTC()
	p.ps.mu.Lock()
	p.o.FinishedAt, p.o.Result, p.o.Err = &now, info, err
	p.o.State = apiv1.OpSucceeded
	if err != nil {
		p.o.State = apiv1.OpFailed
	}
	p.ps.mu.Unlock()
}

// Operation returns a copy of a recent operation.
func (h *Host) Operation(id string) (apiv1.Operation, bool) {
	h.ops.mu.Lock()
	defer h.ops.mu.Unlock()
	o, ok := h.ops.byID[id]
	if !ok {
		return apiv1.Operation{}, false
	}
	c := *o
	c.Steps = append([]apiv1.Step(nil), o.Steps...)
	c.Warnings = append([]string(nil), o.Warnings...)
	return c, true
}
