package client

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// PollInterval is how often WaitOperation asks for an operation's progress.
const PollInterval = 250 * time.Millisecond

// The states of an operation.
const (
	OpRunning   = "running"
	OpSucceeded = "succeeded"
	OpFailed    = "failed"
)

// Operation is a long action (an install) that the server runs in the
// background, as GET /api/plugins/operations/:id shows it.
type Operation struct {
	// ID names the operation ("op-...").
	ID string `json:"id"`
	// Kind is what the operation does, such as "install".
	Kind string `json:"kind"`
	// Source is what is being installed.
	Source string `json:"source,omitempty"`
	// PluginID is the plugin the operation is about, once known.
	PluginID string `json:"plugin_id,omitempty"`
	// State is OpRunning, OpSucceeded or OpFailed.
	State string `json:"state"`
	// Steps are the stages so far, in order: each with "name" (fetching,
	// validating, building, loading), "state" (running, done, failed),
	// "started_at", "finished_at" and "message".
	Steps []map[string]any `json:"steps"`
	// Warnings are things the operator should know about the install.
	Warnings []string `json:"warnings,omitempty"`
	// Result is the plugin's record when the operation succeeded.
	Result map[string]any `json:"result,omitempty"`
	// Error is the failure when the operation failed, its Status set to
	// the HTTP status a synchronous call would have answered.
	Error *APIError `json:"error,omitempty"`
	// Status is the HTTP status of the failure.
	Status int `json:"status,omitempty"`
}

// Err returns the operation's failure as an *APIError, or nil unless it
// failed.
func (op *Operation) Err() error {
	if op.State != OpFailed {
		return nil
	}
	if op.Error == nil {
		return &APIError{Status: op.Status, Message: fmt.Sprintf("operation %s failed", op.ID)}
	}
	e := *op.Error
	e.Status = op.Status
	return &e
}

// Operation returns a recent operation's progress.
func (c *Client) Operation(ctx context.Context, id string) (*Operation, error) {
	if id == "" {
		return nil, fmt.Errorf("an operation id is required")
	}
	var op Operation
	if err := c.do(ctx, http.MethodGet, "/api/plugins/operations/"+url.PathEscape(id), nil, nil, &op); err != nil {
		return nil, err
	}
	return &op, nil
}

// WaitOperation follows an operation every PollInterval until it ends. It
// calls onStep (when non-nil) in order for every step that is new or whose
// state changed since the last poll; a step that started and finished
// between two polls is reported once, finished. It returns the finished
// operation, with op.Err() as the error when the operation failed. When
// ctx ends first, it returns ctx's error: the operation goes on in the
// server.
func (c *Client) WaitOperation(ctx context.Context, id string, onStep func(step map[string]any)) (*Operation, error) {
	var seen []string // the last reported state of each step
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-timer.C:
		}
		op, err := c.Operation(ctx, id)
		if err != nil {
			return nil, err
		}
		for i, step := range op.Steps {
			state, _ := step["state"].(string)
			if i < len(seen) && seen[i] == state {
				continue
			}
			if i >= len(seen) {
				seen = append(seen, state)
			} else {
				seen[i] = state
			}
			if onStep != nil {
				onStep(step)
			}
		}
		switch op.State {
		case OpSucceeded:
			return op, nil
		case OpFailed:
			return op, op.Err()
		}
		timer.Reset(PollInterval)
	}
}
