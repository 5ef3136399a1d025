package sdk

// Publisher puts a plugin's own events on the host's event stream, beside
// the host's lifecycle events, so that operators and the web page see a
// plugin's long-running work (an onboarding, say) as it happens.
//
// Kind is the plugin's own name for what happened ("operation.step");
// message is for people; details is structured data and is copied by the
// host. Publish never blocks on slow readers and is safe for concurrent use.
type Publisher interface {
	Publish(kind, message string, details map[string]any)
}

// EventSource is implemented by plugins that publish events. The host calls
// SetPublisher once, before Initialize, with a Publisher bound to the
// plugin's id. Plugins that do not implement it publish nothing.
//
// Only native plugins receive a Publisher today; the sandboxed tier has no
// call for it yet.
type EventSource interface {
	SetPublisher(p Publisher)
}
