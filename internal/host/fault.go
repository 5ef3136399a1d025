package host

import (
	"context"
	"fmt"

	"github.com/kubestellar/ksplugins/internal/events"
)

// instanceFault reports a copy of plugin id that its runtime discarded and
// replaced (a sandboxed instance whose request, lifecycle call or
// background turn hung or crashed) as an error event: the plugin keeps
// serving, but an operator should know its code failed.
func (h *Host) instanceFault(id string, cause error) {
	h.publish(context.Background(), events.Event{
		Type:     events.Error,
		PluginID: id,
		Actor:    "system",
		Message:  fmt.Sprintf("an instance failed and was replaced: %v", cause),
		Details:  map[string]any{"reason": "instance_replaced"},
	})
}
