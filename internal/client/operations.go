package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"

	apiv1 "github.com/kubestellar/ksplugins/api/v1"
)

// PollInterval is how often WaitOperation asks for an operation's progress.
const PollInterval = 250 * time.Millisecond

// OperationError returns a failed operation's failure as an *APIError, with
// the status a synchronous call would have answered; nil unless the
// operation failed.
func OperationError(op *apiv1.Operation) error {
	if op.State != apiv1.OpFailed {
		return nil
	}
	if op.Error == nil {
		return &APIError{Status: op.Status, Message: fmt.Sprintf("operation %s failed", op.ID)}
	}
	e := &APIError{Status: op.Status, Code: op.Error.Code, Message: op.Error.Message}
	if op.Error.Details != nil {
		// The details were decoded as free-form JSON; keep them as sent.
		e.Details, _ = json.Marshal(op.Error.Details)
	}
	return e
}

// Operation returns a recent operation's progress.
func (c *Client) Operation(ctx context.Context, id string) (*apiv1.Operation, error) {
	if id == "" {
		return nil, fmt.Errorf("an operation id is required")
	}
	return call[apiv1.Operation](ctx, c, http.MethodGet, "/api/plugins/operations/"+url.PathEscape(id), nil, nil)
}

// WaitOperation follows an operation every PollInterval until it ends. It
// calls onStep (when non-nil) in order for every step that is new or whose
// state changed since the last poll; a step that started and finished
// between two polls is reported once, finished. It returns the finished
// operation, with OperationError(op) as the error when the operation
// failed. When ctx ends first, it returns ctx's error: the operation goes
// on in the server.
func (c *Client) WaitOperation(ctx context.Context, id string, onStep func(step apiv1.Step)) (*apiv1.Operation, error) {
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
			if i < len(seen) && seen[i] == step.State {
				continue
			}
			if i >= len(seen) {
				seen = append(seen, step.State)
			} else {
				seen[i] = step.State
			}
			if onStep != nil {
				onStep(step)
			}
		}
		switch op.State {
		case apiv1.OpSucceeded:
			return op, nil
		case apiv1.OpFailed:
			return op, OperationError(op)
		}
		timer.Reset(PollInterval)
	}
}
