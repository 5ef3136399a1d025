package host

import (
	"context"
	"time"

	apiv1 "github.com/kubestellar/ksplugins/api/v1"
)

// Defaults for the traffic history.
const (
	defaultSampleInterval = 5 * time.Second
	defaultSampleHistory  = 120 // ten minutes at the default interval
)

// sampleTraffic records every plugin's traffic each interval until ctx ends.
func (h *Host) sampleTraffic(ctx context.Context) {
	interval := h.opts.SampleInterval
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-ticker.C:
			for _, p := range h.all() {
				p.traffic.Record(now, &p.stats, interval, h.opts.SampleHistory)
			}
		}
	}
}

// MetricsHistory returns a plugin's recent traffic samples.
func (h *Host) MetricsHistory(id string) (apiv1.MetricsHistory, error) {
	p, err := h.get(id)
	if err != nil {
		return apiv1.MetricsHistory{}, err
	}
	return apiv1.MetricsHistory{IntervalSeconds: h.opts.SampleInterval.Seconds(), Samples: p.traffic.Snapshot(), Stats: p.stats.Snapshot()}, nil
}
