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
	// Name is one of the Step constants: fetching, validating, building or
	// loading.
	Name string `json:"name"`
	// State is "running", then "done" or "failed".
	State string `json:"state"`
	// StartedAt is when the step began, in UTC.
	StartedAt time.Time `json:"started_at"`
	// FinishedAt is when it ended, in UTC; absent while it runs.
	FinishedAt *time.Time `json:"finished_at,omitempty"`
	// Message says what the step is doing; once it has failed, its error.
	Message string `json:"message,omitempty"`
}

// Operation is a long action (install, update, warm-up) that callers can follow:
// its steps are also published as progress events.
type Operation struct {
	// ID names the operation ("op-" and 16 hex digits); the server
	// remembers the latest 200 operations.
	ID string `json:"id"`
	// Kind is "install", "update", or "warm-up": the build, after a start,
	// that readies the sandboxed tier (GET /api/plugins/system/warm-up).
	Kind string `json:"kind"`
	// Source is what it installs from: the requested source, "upload:<id>",
	// or for an update the source's location, "@" and the version asked.
	Source string `json:"source,omitempty"`
	// PluginID is the plugin it is about; absent until an install has read
	// the manifest.
	PluginID string `json:"plugin_id,omitempty"`
	// State is running, then succeeded or failed.
	State OpState `json:"state"`
	// Steps are the steps begun so far, in order; an empty list at first.
	Steps []Step `json:"steps"`
	// Warnings are findings that did not stop it, such as permissions
	// withheld; absent when there are none.
	Warnings []string `json:"warnings,omitempty"`
	// CreatedAt is when it started, in UTC.
	CreatedAt time.Time `json:"created_at"`
	// FinishedAt is when it ended, in UTC; absent while it runs.
	FinishedAt *time.Time `json:"finished_at,omitempty"`
	// Result is the plugin as installed or updated; present only once the
	// operation has succeeded.
	Result *Plugin `json:"result,omitempty"`
	// Error is the failure of a failed operation, in the shape a
	// synchronous call would have answered it.
	Error *Error `json:"error,omitempty"`
	// Status is the HTTP status a synchronous call would have answered a
	// failed operation with.
	Status int `json:"status,omitempty"`
}

// WarmUp answers GET /api/plugins/system/warm-up: how far the server is in
// readying the sandboxed tier after its start.
type WarmUp struct {
	// State is "off" (the server was started with --warm-up=false, or has
	// no sandboxed tier), "waiting" (for the stored plugins to be back),
	// or the operation's: running, succeeded or failed.
	State string `json:"state"`
	// Operation is the warm-up, an operation of kind "warm-up"; absent
	// while off or waiting.
	Operation *Operation `json:"operation,omitempty"`
}
