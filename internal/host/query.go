package host

import (
	"context"
	"time"

	apiv1 "github.com/kubestellar/ksplugins/api/v1"

	"github.com/kubestellar/ksplugins/internal/runtime"
	"github.com/kubestellar/ksplugins/internal/traffic"
	"github.com/kubestellar/ksplugins/sdk"
)

// List returns every plugin, sorted by id.
func (h *Host) List() []apiv1.Plugin {
	ps := h.all()
	out := make([]apiv1.Plugin, 0, len(ps))
	for _, p := range ps {
		out = append(out, h.info(p))
	}
	return out
}

// Get returns one plugin.
func (h *Host) Get(id string) (apiv1.Plugin, error) {
	p, err := h.get(id)
	if err != nil {
		return apiv1.Plugin{}, err
	}
	return h.info(p), nil
}

// Status returns the plugin's own report of its status, with the host's
// state and counters filled in.
func (h *Host) Status(ctx context.Context, id string) (sdk.PluginStatus, error) {
	p, err := h.get(id)
	if err != nil {
		return sdk.PluginStatus{}, err
	}
	st := sdk.PluginStatus{State: sdk.StateUnloaded, Health: sdk.HealthUnknown}
	if in := p.inst.Load(); in != nil {
		if st, err = runtime.Guarded(ctx, &in.statusCall, h.opts.CallTimeout, in.impl.GetStatus); err != nil {
			st = sdk.PluginStatus{State: sdk.StateError, Health: sdk.HealthUnknown,
				Errors: []sdk.PluginError{{Code: sdk.ErrorCodeRuntime, Message: "GetStatus: " + err.Error(), Timestamp: time.Now().UTC().Format(time.RFC3339)}}}
		}
		if st.Uptime == "" {
			st.Uptime = time.Since(in.loadedAt).Round(time.Second).String()
		}
	}
	st.RequestCount = int64(p.stats.Snapshot().Requests)
	return st, nil
}

// Histograms returns the latency histograms of every plugin's endpoints,
// by plugin id, for the Prometheus exporter.
func (h *Host) Histograms() map[string][]traffic.Histogram {
	out := map[string][]traffic.Histogram{}
	for _, p := range h.all() {
		out[p.id] = p.stats.Histograms()
	}
	return out
}

// PluginMetrics returns each running plugin's own GetMetrics, by id; a
// plugin whose call fails or hangs reports the error instead, and while a
// hung call has not returned, later ones report runtime.ErrStillRunning at once.
func (h *Host) PluginMetrics(ctx context.Context, timeout time.Duration) map[string]map[string]any {
	out := map[string]map[string]any{}
	for _, p := range h.all() {
		in := p.inst.Load()
		if in == nil {
			continue
		}
		m, err := runtime.Guarded(ctx, &in.metricsCall, timeout, in.impl.GetMetrics)
		if err != nil {
			m = map[string]any{"error": "GetMetrics: " + err.Error()}
		}
		out[p.id] = m
	}
	return out
}
