package v1

import "time"

// The steps of an install, in order. An operation reports each as it goes.
const (
	StepFetching   = "fetching"
	StepValidating = "validating"
	StepBuilding   = "building"
	StepLoading    = "loading"
)

// OpState is where an operation is.
type OpState string

// The states of an operation.
const (
	OpRunning   OpState = "running"
	OpSucceeded OpState = "succeeded"
	OpFailed    OpState = "failed"
)

// Step is one stage of an operation.
type Step struct {
	Name       string     `json:"name"`
	State      string     `json:"state"` // running, done, failed
	StartedAt  time.Time  `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
	Message    string     `json:"message,omitempty"`
}

// Operation is a long action (install, update) that callers can follow:
// its steps are also published as progress events.
type Operation struct {
	ID         string     `json:"id"`
	Kind       string     `json:"kind"`
	Source     string     `json:"source,omitempty"`
	PluginID   string     `json:"plugin_id,omitempty"`
	State      OpState    `json:"state"`
	Steps      []Step     `json:"steps"`
	Warnings   []string   `json:"warnings,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
	Result     *Plugin    `json:"result,omitempty"`
	// Error is the failure of a failed operation, in the shape a
	// synchronous call would have answered it.
	Error *Error `json:"error,omitempty"`
	// Status is the HTTP status a synchronous call would have answered a
	// failed operation with.
	Status int `json:"status,omitempty"`
}
