package clusters

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Operation states.
const (
	OpQueued    = "queued"
	OpRunning   = "running"
	OpSucceeded = "succeeded"
	OpFailed    = "failed"
)

// Step states.
const (
	StepRunning = "running"
	StepDone    = "done"
	StepFailed  = "failed"
	StepSkipped = "skipped"
)

// Operation is one onboarding or detachment, run in the background: the
// caller gets its id at once and reads its steps and log as it goes.
type Operation struct {
	ID       string    `json:"id"`
	Kind     string    `json:"kind"` // "onboard" or "detach"
	Cluster  string    `json:"cluster"`
	State    string    `json:"state"`
	Steps    []Step    `json:"steps"`
	Log      []LogLine `json:"log"`
	Error    string    `json:"error,omitempty"`
	Created  time.Time `json:"created"`
	Finished time.Time `json:"finished,omitzero"`
}

// Step is one stage of an operation.
type Step struct {
	Name     string    `json:"name"`
	State    string    `json:"state"`
	Message  string    `json:"message,omitempty"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished,omitzero"`
}

// LogLine is one line of an operation's log.
type LogLine struct {
	Time    time.Time `json:"time"`
	Message string    `json:"message"`
}

// Publisher receives every change of every operation, to put it on the
// host's event stream.
type Publisher func(kind, message string, details map[string]any)

// operations tracks the running and recent operations. At most one
// operation runs per cluster; at most max run at once, the rest queue.
type operations struct {
	publish Publisher
	slots   chan struct{}
	keep    int // finished operations kept for reading

	mu        sync.Mutex
	byID      map[string]*Operation
	byCluster map[string]string // cluster -> id of its unfinished operation
	finished  []string          // ids, oldest first
	wg        sync.WaitGroup
}

func newOperations(max int, publish Publisher) *operations {
	if max < 1 {
		max = 1
	}
	if publish == nil {
		publish = func(string, string, map[string]any) {}
	}
	return &operations{publish: publish, slots: make(chan struct{}, max), keep: 100,
		byID: map[string]*Operation{}, byCluster: map[string]string{}}
}

// ErrBusy is returned by start when another kind of operation runs on the
// cluster.
type ErrBusy struct{ Running Operation }

func (e *ErrBusy) Error() string {
	return fmt.Sprintf("cluster %s: %s operation %s is still %s", e.Running.Cluster, e.Running.Kind, e.Running.ID, e.Running.State)
}

// start runs fn as a new operation of kind on cluster, in the background,
// bounded by ctx. If an operation of the same kind is unfinished for the
// cluster it returns that one and false instead; of another kind, ErrBusy.
func (o *operations) start(ctx context.Context, kind, cluster string, fn func(context.Context, *run) error) (Operation, bool, error) {
	o.mu.Lock()
	if id, ok := o.byCluster[cluster]; ok {
		running := snapshot(o.byID[id])
		o.mu.Unlock()
		if running.Kind == kind {
			return running, false, nil
		}
		return Operation{}, false, &ErrBusy{Running: running}
	}
	op := &Operation{ID: newID(), Kind: kind, Cluster: cluster, State: OpQueued, Created: time.Now().UTC(), Steps: []Step{}, Log: []LogLine{}}
	o.byID[op.ID] = op
	o.byCluster[cluster] = op.ID
	o.wg.Add(1)
	first := snapshot(op)
	o.mu.Unlock()
	o.publish("operation.queued", kind+" of "+cluster+" queued", o.details(first, nil))

	go func() {
		defer o.wg.Done()
		r := &run{o: o, op: op}
		select {
		case o.slots <- struct{}{}:
		case <-ctx.Done():
			r.finish(fmt.Errorf("%s of %s: %w before it started", kind, cluster, ctx.Err()))
			return
		}
		defer func() { <-o.slots }()
		r.update(func(op *Operation) { op.State = OpRunning })
		r.finish(fn(ctx, r))
	}()
	return first, true, nil
}

// get returns a copy of the operation with id.
func (o *operations) get(id string) (Operation, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	op, ok := o.byID[id]
	if !ok {
		return Operation{}, false
	}
	return snapshot(op), true
}

// list returns copies of every operation kept, newest first.
func (o *operations) list() []Operation {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make([]Operation, 0, len(o.byID))
	for _, op := range o.byID {
		out = append(out, snapshot(op))
	}
	slices.SortFunc(out, func(a, b Operation) int { return b.Created.Compare(a.Created) })
	return out
}

// wait blocks until every operation has ended; their context must have
// been cancelled for that to be soon.
func (o *operations) wait() { o.wg.Wait() }

func (o *operations) details(op Operation, step *Step) map[string]any {
	d := map[string]any{"operation": op.ID, "operation_kind": op.Kind, "cluster": op.Cluster, "state": op.State}
	if step != nil {
		d["step"] = step.Name
		d["step_state"] = step.State
		if step.Message != "" {
			d["step_message"] = step.Message
		}
	}
	if op.Error != "" {
		d["error"] = op.Error
	}
	return d
}

func snapshot(op *Operation) Operation {
	c := *op
	c.Steps = slices.Clone(op.Steps)
	c.Log = slices.Clone(op.Log)
	return c
}

func newID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "op-" + hex.EncodeToString(b[:])
}

// run is an operation's handle for the code doing its work.
type run struct {
	o  *operations
	op *Operation
}

func (r *run) update(fn func(*Operation)) Operation {
	r.o.mu.Lock()
	defer r.o.mu.Unlock()
	fn(r.op)
	return snapshot(r.op)
}

// step runs fn as the named step, recording when it started and how it
// ended. A step that returns errSkip is recorded as skipped, with its
// message, and does not fail the operation.
func (r *run) step(name string, fn func() error) error {
	op := r.update(func(op *Operation) {
		op.Steps = append(op.Steps, Step{Name: name, State: StepRunning, Started: time.Now().UTC()})
	})
	r.o.publish("operation.step", op.Kind+" of "+op.Cluster+": "+name, r.o.details(op, &op.Steps[len(op.Steps)-1]))
	err := fn()
	var skip *skipError
	op = r.update(func(op *Operation) {
		s := &op.Steps[len(op.Steps)-1]
		s.Finished = time.Now().UTC()
		switch {
		case err == nil:
			s.State = StepDone
		case errors.As(err, &skip):
			s.State, s.Message = StepSkipped, skip.reason
		default:
			s.State, s.Message = StepFailed, err.Error()
		}
	})
	last := op.Steps[len(op.Steps)-1]
	r.o.publish("operation.step", op.Kind+" of "+op.Cluster+": "+name+" "+last.State, r.o.details(op, &last))
	if skip != nil {
		r.logf("%s skipped: %s", name, skip.reason)
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// logf adds a line to the operation's log.
func (r *run) logf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	op := r.update(func(op *Operation) {
		op.Log = append(op.Log, LogLine{Time: time.Now().UTC(), Message: msg})
	})
	d := r.o.details(op, nil)
	d["log"] = msg
	r.o.publish("operation.log", msg, d)
}

func (r *run) finish(err error) {
	o := r.o
	o.mu.Lock()
	op := r.op
	op.Finished = time.Now().UTC()
	op.State = OpSucceeded
	if err != nil {
		op.State, op.Error = OpFailed, err.Error()
	}
	delete(o.byCluster, op.Cluster)
	o.finished = append(o.finished, op.ID)
	for len(o.finished) > o.keep {
		delete(o.byID, o.finished[0])
		o.finished = o.finished[1:]
	}
	done := snapshot(op)
	o.mu.Unlock()
	msg := done.Kind + " of " + done.Cluster + " " + done.State
	if err != nil {
		msg += ": " + done.Error
	}
	o.publish("operation.finished", msg, o.details(done, nil))
}

// skipError marks a step that had nothing to do, with why.
type skipError struct{ reason string }

func (e *skipError) Error() string { return "skipped: " + e.reason }

func skipf(format string, args ...any) error { return &skipError{reason: fmt.Sprintf(format, args...)} }

// running returns the unfinished operation on cluster, if any.
func (o *operations) running(cluster string) (Operation, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	id, ok := o.byCluster[cluster]
	if !ok {
		return Operation{}, false
	}
	return snapshot(o.byID[id]), true
}
