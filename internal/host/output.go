package host

import (
	"context"
	"fmt"
	"sync"

	"github.com/kubestellar/ksplugins/internal/events"
	"github.com/kubestellar/ksplugins/internal/pluginlog"
)

// pluginOutputs keeps each plugin's log gate (package pluginlog) by id. A
// gate is shared by every instance of the plugin and kept for the life of
// the process, so a reload or an unload and load again neither resets the
// plugin's counters nor refills its bucket. That is one small value per id
// ever loaded, and ids come only from operators. The zero value is ready.
type pluginOutputs struct {
	mu     sync.Mutex
	limits pluginlog.Limits // the configuration's; zero until SetSystem
	gates  map[string]*pluginlog.Gate
}

// outputGate returns plugin id's gate, made on first use.
func (h *Host) outputGate(id string) *pluginlog.Gate {
	o := &h.output
	o.mu.Lock()
	defer o.mu.Unlock()
	if g, ok := o.gates[id]; ok {
		return g
	}
	if o.gates == nil {
		o.gates = map[string]*pluginlog.Gate{}
	}
	g := pluginlog.NewGate(o.limits, func(c pluginlog.Change) { h.outputChanged(id, c) })
	o.gates[id] = g
	return g
}

// setLimits applies the configuration's limits to every gate, now.
func (o *pluginOutputs) setLimits(l pluginlog.Limits) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.limits = l
	for _, g := range o.gates {
		g.SetLimits(l)
	}
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
		Message:  fmt.Sprintf("plugin %s writes more than its log limits (%s); its lines are being dropped", id, c.Limits),
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
	loaded := h.all()
	out := make(map[string]pluginlog.Stats, len(loaded))
	o := &h.output
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, p := range loaded {
		if g, ok := o.gates[p.id]; ok {
			out[p.id] = g.Stats()
		}
	}
	return out
}
