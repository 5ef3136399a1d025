package pluginlog

import "sync"

// Gates keeps each plugin's Gate by plugin id. A gate is shared by every
// instance of the plugin and kept for the life of the process, so a reload
// or an unload and load again neither resets the plugin's counters nor
// refills its bucket. That is one small value per id ever loaded, and ids
// come only from operators. The zero value is ready to use; it is safe for
// concurrent use.
type Gates struct {
	mu     sync.Mutex
	limits Limits // for gates made from now on
	gates  map[string]*Gate
}

// Gate returns plugin id's gate, made on first use with onChange (see
// NewGate); a gate that already exists keeps the onChange it was made with.
func (gs *Gates) Gate(id string, onChange func(Change)) *Gate {
	gs.mu.Lock()
	defer gs.mu.Unlock()
	if g, ok := gs.gates[id]; ok {
		return g
	}
	if gs.gates == nil {
		gs.gates = map[string]*Gate{}
	}
	g := NewGate(gs.limits, onChange)
	gs.gates[id] = g
	return g
}

// SetLimits applies limits to every gate, now, and to every gate made
// later.
func (gs *Gates) SetLimits(limits Limits) {
	gs.mu.Lock()
	defer gs.mu.Unlock()
	gs.limits = limits
	for _, g := range gs.gates {
		g.SetLimits(limits)
	}
}

// Stats returns the counters of the plugins among ids that have a gate, by
// id.
func (gs *Gates) Stats(ids []string) map[string]Stats {
	out := make(map[string]Stats, len(ids))
	gs.mu.Lock()
	defer gs.mu.Unlock()
	for _, id := range ids {
		if g, ok := gs.gates[id]; ok {
			out[id] = g.Stats()
		}
	}
	return out
}
