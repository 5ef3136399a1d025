package host

import (
	"context"
	"slices"
	"strings"
	"time"

	apiv1 "github.com/kubestellar/ksplugins/api/v1"

	"github.com/kubestellar/ksplugins/internal/store"
)

// Report tells the store, when several servers share it
// (store.Replicas), what this one runs: each plugin's state, digest,
// health and last error, under Options.Replica. It reports every interval,
// and soon after every event, in the background until Close; Replicas reads
// what all of them reported.
func (h *Host) Report(interval time.Duration) {
	shared, ok := h.store.(store.Replicas)
	if !ok || h.opts.Replica == "" {
		return
	}
	h.reportEvery.Store(int64(interval))
	h.goBackground(func(ctx context.Context) {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			if err := shared.ReportReplica(ctx, h.opts.Replica, h.reports()); err != nil && ctx.Err() == nil {
				h.log.Warn("report to the shared store", "replica", h.opts.Replica, "err", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			case <-h.changed:
				// Let a burst of events (an install's progress) pass.
				select {
				case <-ctx.Done():
					return
				case <-time.After(50 * time.Millisecond):
				}
			}
		}
	})
}

// reports is this server's report of every plugin it has.
func (h *Host) reports() []store.ReplicaReport {
	ps := h.all()
	out := make([]store.ReplicaReport, 0, len(ps))
	for _, p := range ps {
		r := store.ReplicaReport{PluginID: p.id, State: string(p.getState()), Health: string(p.healthSnapshot().Status)}
		if in := p.inst.Load(); in != nil {
			r.Digest = in.artifact.Digest
		}
		p.mu.RLock()
		r.LastError = p.lastErr
		p.mu.RUnlock()
		out = append(out, r)
	}
	return out
}

// Replicas returns, by plugin id, how each server sharing the store last
// reported each plugin, those that reported within three intervals only;
// a server that reported without a plugin is listed for it as absent.
// Nil when the store is not shared, or this server does not report.
func (h *Host) Replicas(ctx context.Context) map[string][]apiv1.ReplicaStatus {
	shared, ok := h.store.(store.Replicas)
	every := time.Duration(h.reportEvery.Load())
	if !ok || every == 0 {
		return nil
	}
	reports, replicas, err := shared.ReplicaReports(ctx, time.Now().Add(-3*every))
	if err != nil {
		h.log.Warn("read the replicas' reports", "err", err)
		return nil
	}
	out := map[string][]apiv1.ReplicaStatus{}
	seen := map[string]map[string]bool{} // plugin id, replica
	for _, r := range reports {
		out[r.PluginID] = append(out[r.PluginID], apiv1.ReplicaStatus{Replica: r.Replica, State: apiv1.State(r.State), Digest: r.Digest,
			Health: apiv1.HealthStatus(r.Health), LastError: r.LastError, ReportedAt: r.ReportedAt})
		if seen[r.PluginID] == nil {
			seen[r.PluginID] = map[string]bool{}
		}
		seen[r.PluginID][r.Replica] = true
	}
	for id := range out {
		for name, at := range replicas {
			if !seen[id][name] {
				out[id] = append(out[id], apiv1.ReplicaStatus{Replica: name, State: apiv1.StateAbsent, ReportedAt: at})
			}
		}
		slices.SortFunc(out[id], func(a, b apiv1.ReplicaStatus) int { return strings.Compare(a.Replica, b.Replica) })
	}
	return out
}
