package api

import (
	apiv1 "github.com/kubestellar/ksplugins/api/v1"
	"github.com/kubestellar/ksplugins/internal/build"
	"github.com/kubestellar/ksplugins/internal/pluginlog"
	"github.com/kubestellar/ksplugins/internal/store"
)

// The conversions between the server's own types and the wire types of
// package apiv1. The server's types may change with the server; the wire
// types only grow. Most conversions are Go struct conversions, so that a
// field added to one side and not the other stops the build.

// cacheToWire is the build cache as the API shows it.
func cacheToWire(c build.CacheInfo) apiv1.CacheInfo {
	return apiv1.CacheInfo{Dir: c.Dir, Entries: c.Entries, Bytes: c.Bytes, Stats: apiv1.BuildStats(c.Stats)}
}

// logStatsToWire is each plugin's log counters as the API shows them.
func logStatsToWire(in map[string]pluginlog.Stats) map[string]apiv1.LogStats {
	out := make(map[string]apiv1.LogStats, len(in))
	for id, st := range in {
		out[id] = apiv1.LogStats(st)
	}
	return out
}

func tokenToWire(t store.Token) apiv1.Token {
	return apiv1.Token{Name: t.Name, Role: t.Role, CreatedAt: t.CreatedAt, ExpiresAt: t.ExpiresAt, RevokedAt: t.RevokedAt}
}

func auditToWire(e store.AuditEntry) apiv1.AuditEntry {
	return apiv1.AuditEntry(e)
}
