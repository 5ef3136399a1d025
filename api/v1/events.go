package v1

import "time"

// EventType is the kind of an event, so that clients can react to the
// changes they care about without parsing messages.
type EventType string

// The kinds of event the server publishes.
const (
	EventLoaded        EventType = "loaded"
	EventUnloaded      EventType = "unloaded"
	EventReloaded      EventType = "reloaded"
	EventEnabled       EventType = "enabled"
	EventDisabled      EventType = "disabled"
	EventHealthChanged EventType = "health_changed"
	EventConfigChanged EventType = "config_changed"
	EventError         EventType = "error"
	// EventProgress is a step of an operation; Details holds
	// "operation_id", "step", "state" and "message".
	EventProgress     EventType = "progress"
	EventStateChanged EventType = "state_changed"
	// EventPlugin is published by a plugin itself; Details["kind"] is the
	// plugin's own name for it.
	EventPlugin EventType = "plugin"
)

// Event is one thing that happened, as GET /api/plugins/events lists it
// and as each Server-Sent Event's data carries it.
type Event struct {
	// ID orders events and lets a client resume (Last-Event-ID).
	ID uint64 `json:"id"`
	// Time is when the event happened.
	Time time.Time `json:"time"`
	// Type is the kind of event.
	Type EventType `json:"type"`
	// PluginID names the plugin the event is about, if any.
	PluginID string `json:"plugin_id,omitempty"`
	// Actor says who caused the event: "admin", "system", a user name.
	Actor string `json:"actor,omitempty"`
	// Message is a human-readable account of the event.
	Message string `json:"message"`
	// Details carries structured data specific to the event type.
	Details map[string]any `json:"details,omitempty"`
	// Replica names the server the event happened on when it is another
	// one sharing this server's database (replicas relay their events to
	// each other); absent for this server's own events.
	Replica string `json:"replica,omitempty"`
}

// EventList answers GET /api/plugins/events?since=...
type EventList struct {
	// Events are the recent events asked for, oldest first.
	Events []Event `json:"events"`
	// LastID is the newest event's ID, to resume from.
	LastID uint64 `json:"last_id"`
}
