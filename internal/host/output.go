package host

import (
	"context"
	"fmt"

	"github.com/kubestellar/ksplugins/internal/events"
	"github.com/kubestellar/ksplugins/internal/pluginlog"
)

// outputGate returns plugin id's log gate (see pluginlog.Gates).
func (h *Host) outputGate(id string) *pluginlog.Gate {
	return h.output.Gate(id, func(c pluginlog.Change) { h.outputChanged(id, c) })
}

// outputChanged reports a plugin that started or stopped dropping log
// lines: one event (logged at Warn by the bus) when it starts, one line when
// it is back within its limits, and nothing for each line dropped between.
func (h *Host) outputChanged(id string, c pluginlog.Change) {
	if !c.Dropping {
		h.log.Info("the plugin writes within its log limits again", "plugin_id", id, "dropped", c.Dropped)
		return
	}
	h.publish(context.Background(), events.Event{
		Type:     events.Error,
		PluginID: id,
		Actor:    "system",
		Message:  fmt.Sprintf("plugin %s writes more than its log limits (%s); its lines are being dropped", id, pluginlog.Describe(c.Limits)),
		Details: map[string]any{
			"reason":           "log_limit",
			"lines_per_second": c.Limits.LinesPerSecond,
			"burst":            c.Limits.Burst,
			"max_line_bytes":   c.Limits.MaxLineBytes,
		},
	})
}

// OutputStats returns the log counters of every plugin loaded whose output
// passes a gate (today, the sandboxed ones), by id.
func (h *Host) OutputStats() map[string]pluginlog.Stats {
	var ids []string
	for _, p := range h.all() {
		ids = append(ids, p.id)
	}
	return h.output.Stats(ids)
}
