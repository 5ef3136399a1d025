package api

import (
	apiv1 "github.com/kubestellar/ksplugins/api/v1"
	"github.com/kubestellar/ksplugins/internal/build"
	"github.com/kubestellar/ksplugins/internal/config"
	"github.com/kubestellar/ksplugins/internal/pluginlog"
	"github.com/kubestellar/ksplugins/internal/store"
)

// The conversions between the server's own types and the wire types of
// package apiv1. The server's types may change with the server; the wire
// types only grow. Most conversions are Go struct conversions, so that a
// field added to one side and not the other stops the build.

// systemToWire is the live configuration as the API shows it.
func systemToWire(s config.System) apiv1.SystemConfig {
	w := apiv1.SystemConfig{
		SecurityMode:       s.SecurityMode,
		AllowedRepos:       s.AllowedRepos,
		MaxPluginSize:      s.MaxPluginSize,
		EnableSandboxing:   s.EnableSandboxing,
		Sandbox:            apiv1.SandboxPolicy(s.Sandbox),
		PluginLogs:         apiv1.PluginLogLimits(s.PluginLogs),
		GrantedPermissions: s.GrantedPermissions,
		EndpointAuth:       s.EndpointAuth,
		MaxRequestBytes:    s.MaxRequestBytes,
		ValidateChecksums:  s.ValidateChecksums,
		Health:             apiv1.HealthDefaults(s.Health),
		Debug:              s.Debug,
		RepositoryBaseURL:  s.RepositoryBaseURL,
		RepositoryToken:    s.RepositoryToken,
		TrustedKeys:        s.TrustedKeys,
		MaxCacheBytes:      s.MaxCacheBytes,
	}
	if s.JWT != nil {
		jwt := apiv1.JWTConfig(*s.JWT)
		w.JWT = &jwt
	}
	return w
}

// systemFromWire is the live configuration an API body describes.
func systemFromWire(w apiv1.SystemConfig) config.System {
	s := config.System{
		SecurityMode:       w.SecurityMode,
		AllowedRepos:       w.AllowedRepos,
		MaxPluginSize:      w.MaxPluginSize,
		EnableSandboxing:   w.EnableSandboxing,
		Sandbox:            config.SandboxPolicy(w.Sandbox),
		PluginLogs:         pluginlog.Limits(w.PluginLogs),
		GrantedPermissions: w.GrantedPermissions,
		EndpointAuth:       w.EndpointAuth,
		MaxRequestBytes:    w.MaxRequestBytes,
		ValidateChecksums:  w.ValidateChecksums,
		Health:             config.HealthDefaults(w.Health),
		Debug:              w.Debug,
		RepositoryBaseURL:  w.RepositoryBaseURL,
		RepositoryToken:    w.RepositoryToken,
		TrustedKeys:        w.TrustedKeys,
		MaxCacheBytes:      w.MaxCacheBytes,
	}
	if w.JWT != nil {
		jwt := config.JWTConfig(*w.JWT)
		s.JWT = &jwt
	}
	return s
}

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
