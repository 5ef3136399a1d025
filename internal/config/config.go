// Package config holds the server's settings: those fixed at start (from
// flags and environment) and the live system configuration that operators
// read and change through the API.
package config

import (
	"fmt"
	"maps"
	"net/netip"
	"net/url"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	apiv1 "github.com/kubestellar/ksplugins/api/v1"
	"github.com/kubestellar/ksplugins/internal/auth/jwt"
	"github.com/kubestellar/ksplugins/internal/manifest"
	"github.com/kubestellar/ksplugins/internal/pluginlog"
	"github.com/kubestellar/ksplugins/internal/policy"
	"github.com/kubestellar/ksplugins/sdk"
)

// Security modes.
const (
	ModeStrict     = "strict"
	ModeNormal     = "normal"
	ModePermissive = "permissive"
)

// Settings are fixed for the life of the process.
type Settings struct {
	// Addr is the listen address (KSPLUGINS_ADDR, default ":4000").
	Addr string
	// DataDir holds the store and tokens (KSPLUGINS_DATA_DIR, default "./data").
	DataDir string
	// DatabaseURL, when set, selects the PostgreSQL store at that
	// postgres:// URL instead of the SQLite file in DataDir
	// (KSPLUGINS_DATABASE_URL). Only in the environment, never a flag: it
	// may carry a password, which a command line shows to every user.
	DatabaseURL string
	// PluginDir holds plugin files (PLUGIN_DIR, default
	// "./dynamic_plugins/cache"); `ksplugins build` writes there.
	PluginDir string
	// CacheDir holds the build cache (PLUGIN_CACHE_DIR, default
	// "./dynamic_plugins/build_cache").
	CacheDir string
	// Token, when set, is the admin token (KSPLUGINS_TOKEN); otherwise one is
	// generated at first start and kept in DataDir.
	Token string
	// GoCmd is the go command used for builds (KSPLUGINS_GO, default "go").
	GoCmd string
	// LogFormat is "text" or "json" (KSPLUGINS_LOG_FORMAT).
	LogFormat string
	// InsecureLocal serves every request as admin without credentials, on
	// a loopback address only (--insecure-listen-local).
	InsecureLocal bool
	// Watch rebuilds and swaps plugins loaded from folders when their files
	// change (PLUGIN_WATCH).
	Watch bool
	// Kubeconfig is the host's kubeconfig (KUBECONFIG): plugins reach the
	// contexts they were granted through the host, with its credentials.
	// Empty: the service account of the pod the host runs in, if it runs
	// in one (see InClusterContext); else no plugin has Kubernetes access.
	Kubeconfig string
	// InClusterContext names the context that the service account's
	// in-cluster configuration becomes when the host runs in a pod without
	// a kubeconfig (KSPLUGINS_IN_CLUSTER_CONTEXT, default "in-cluster"):
	// plugins are granted it by that name.
	InClusterContext string
	// WarmUp readies the sandboxed tier in the background after a start
	// (--warm-up, KSPLUGINS_WARM_UP, default true): see Host.WarmUp.
	WarmUp bool
	// ReconcileInterval is how often a server sharing its store with
	// others (PostgreSQL) compares all its plugins with the store, beside
	// following each change it is told of (--reconcile-interval,
	// KSPLUGINS_RECONCILE_INTERVAL, default 30s).
	ReconcileInterval time.Duration
	// CatalogRefresh is how often the configured plugin catalogs are
	// read again (--catalog-refresh, KSPLUGINS_CATALOG_REFRESH, default
	// 10m); 0 reads them only when asked.
	CatalogRefresh time.Duration
	// ShutdownDelay is how long a stopping server keeps serving after its
	// readiness turned to "draining", so that a load balancer stops
	// sending it requests first (--shutdown-delay,
	// KSPLUGINS_SHUTDOWN_DELAY, default 0); ShutdownGrace then bounds how
	// long requests in flight may take to finish (--shutdown-grace,
	// KSPLUGINS_SHUTDOWN_GRACE, default 15s).
	ShutdownDelay, ShutdownGrace time.Duration
	// ReplicaName names this server among those sharing a PostgreSQL
	// database, in the plugins' per-replica status (--replica-name,
	// KSPLUGINS_REPLICA_NAME, default the host name and the listen port).
	ReplicaName string
	// System is the initial live configuration.
	System System
}

// FromEnv returns the settings given by the environment, with defaults.
func FromEnv() Settings {
	s := Settings{
		Addr:        env("KSPLUGINS_ADDR", ":4000"),
		DataDir:     env("KSPLUGINS_DATA_DIR", "./data"),
		DatabaseURL: os.Getenv("KSPLUGINS_DATABASE_URL"),
		PluginDir:   env("PLUGIN_DIR", "./dynamic_plugins/cache"),
		CacheDir:    env("PLUGIN_CACHE_DIR", "./dynamic_plugins/build_cache"),
		Token:       os.Getenv("KSPLUGINS_TOKEN"),
		GoCmd:       env("KSPLUGINS_GO", "go"),
		LogFormat:   env("KSPLUGINS_LOG_FORMAT", "text"),
		Kubeconfig:  os.Getenv("KUBECONFIG"),
		System:      DefaultSystem(),

		InClusterContext: env("KSPLUGINS_IN_CLUSTER_CONTEXT", "in-cluster"),
		ReplicaName:      os.Getenv("KSPLUGINS_REPLICA_NAME"),
	}
	s.System.SecurityMode = env("PLUGIN_SECURITY_MODE", ModeNormal)
	s.System.Debug, _ = strconv.ParseBool(os.Getenv("PLUGIN_DEBUG"))
	s.Watch, _ = strconv.ParseBool(os.Getenv("PLUGIN_WATCH"))
	s.WarmUp = true
	if v, err := strconv.ParseBool(os.Getenv("KSPLUGINS_WARM_UP")); err == nil {
		s.WarmUp = v
	}
	s.ReconcileInterval = durationEnv("KSPLUGINS_RECONCILE_INTERVAL", 30*time.Second)
	s.CatalogRefresh = durationEnv("KSPLUGINS_CATALOG_REFRESH", 10*time.Minute)
	s.ShutdownDelay = durationEnv("KSPLUGINS_SHUTDOWN_DELAY", 0)
	s.ShutdownGrace = durationEnv("KSPLUGINS_SHUTDOWN_GRACE", 15*time.Second)
	return s
}

// durationEnv is the duration in the environment variable key, or def when
// it is unset or not a duration of zero or more.
func durationEnv(key string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(os.Getenv(key)); err == nil && d >= 0 {
		return d
	}
	return def
}

func env(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// System is the live configuration, read and changed through
// /api/plugins/system/configuration: the management API's, so that what
// the server keeps, stores and validates is what the API shows.
type System = apiv1.SystemConfig

// SandboxPolicy caps the limits and grants of sandboxed plugins.
type SandboxPolicy = apiv1.SandboxPolicy

// HealthDefaults are the health-check settings a manifest may override.
type HealthDefaults = apiv1.HealthDefaults

// KubernetesSettings bound the access to clusters plugins are granted.
type KubernetesSettings = apiv1.KubernetesSettings

// JWTConfig configures JWT validation.
type JWTConfig = apiv1.JWTConfig

// Redacted is how secrets appear in API answers; sending it back in a PUT
// keeps the stored secret.
const Redacted = "********"

// Redact returns s with its secrets replaced by Redacted.
func Redact(s System) System {
	if s.RepositoryToken != "" {
		s.RepositoryToken = Redacted
	}
	return s
}

// DefaultSystem is the seed's default security configuration.
func DefaultSystem() System {
	return System{
		SecurityMode:       ModeNormal,
		AllowedRepos:       []string{"github.com/kubestellar/*"},
		MaxPluginSize:      100 << 20,
		EnableSandboxing:   false,
		Sandbox:            SandboxPolicy{MaxMemoryMB: 512, MaxTimeoutMs: 60000, MaxPoolSize: 16, MaxTotalMemoryMB: DefaultTotalSandboxMB(), AllowNetwork: true, AllowFilesystem: true},
		PluginLogs:         pluginlog.DefaultLimits(),
		ValidateChecksums:  true,
		Health:             HealthDefaults{IntervalSeconds: 30, TimeoutSeconds: 5, FailureThreshold: 3, RecoveryThreshold: 1, OnUnhealthy: "flag"},
		RepositoryBaseURL:  "https://github.com",
		TrustedKeys:        []string{},
		Catalogs:           []apiv1.CatalogConfig{},
		MaxCacheBytes:      2 << 30,
		GrantedPermissions: []string{},
		Kubernetes: apiv1.KubernetesSettings{AllowedContexts: []string{}, Granted: map[string]*sdk.KubernetesAccess{}, Impersonate: []string{},
			ExternalDeniedNetworks: []string{"127.0.0.0/8", "::1/128", "169.254.0.0/16", "fe80::/10", "0.0.0.0/8", "::/128"}},
		EndpointAuth:    "none",
		MaxRequestBytes: 10 << 20,
	}
}

// Validate returns every problem with s, each at its JSON field path.
func Validate(s System) []manifest.Problem {
	var ps []manifest.Problem
	bad := func(field, format string, args ...any) {
		ps = append(ps, manifest.Problem{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	switch s.SecurityMode {
	case ModeStrict, ModeNormal, ModePermissive:
	default:
		bad("security_mode", "must be one of strict, normal, permissive; got %q", s.SecurityMode)
	}
	for i, g := range s.AllowedRepos {
		parts := strings.Split(g, "/")
		if _, err := path.Match(g, ""); err != nil || len(parts) < 2 || len(parts) > 3 || strings.ContainsAny(g, " \\") || strings.Contains(strings.Join(parts[1:], "/"), ":") {
			bad(fmt.Sprintf("allowed_repos[%d]", i), "must be a glob of host/owner[/repo], such as github.com/kubestellar/*; got %q", g)
		}
	}
	if u, err := url.Parse(s.RepositoryBaseURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		bad("repository_base_url", "must be an http(s) URL without credentials, query or fragment, such as https://github.com; got %q", s.RepositoryBaseURL)
	} else if _, err := policy.TokenOrigin(s.RepositoryBaseURL); err != nil && s.RepositoryToken != "" {
		// The token is only ever sent to repository_base_url's origin, and
		// only where it cannot be read on the way.
		bad("repository_token", "cannot be used with repository_base_url %q: %v", s.RepositoryBaseURL, err)
	}
	for i, k := range s.TrustedKeys {
		if _, err := policy.ParsePublicKey(k); err != nil {
			bad(fmt.Sprintf("trusted_keys[%d]", i), "must be an ed25519 public key as ed25519:<base64 of 32 bytes>: %v", err)
		}
	}
	ps = append(ps, validateCatalogs(s.Catalogs)...)
	if sb := s.Sandbox; sb.MaxMemoryMB < 16 || sb.MaxMemoryMB > 4096 {
		bad("sandbox.max_memory_mb", "must be between 16 and 4096; got %d", sb.MaxMemoryMB)
	}
	if sb := s.Sandbox; sb.MaxTimeoutMs < 10 || sb.MaxTimeoutMs > 600000 {
		bad("sandbox.max_timeout_ms", "must be between 10 and 600000; got %d", sb.MaxTimeoutMs)
	}
	if sb := s.Sandbox; sb.MaxPoolSize < 1 || sb.MaxPoolSize > 256 {
		bad("sandbox.max_pool_size", "must be between 1 and 256; got %d", sb.MaxPoolSize)
	}
	if sb := s.Sandbox; sb.MaxTotalMemoryMB < 16 || sb.MaxTotalMemoryMB > 1<<24 {
		bad("sandbox.max_total_memory_mb", "must be between 16 and %d; got %d", 1<<24, sb.MaxTotalMemoryMB)
	}
	if pl := s.PluginLogs; pl.LinesPerSecond < 1 || pl.LinesPerSecond > 100000 {
		bad("plugin_logs.lines_per_second", "must be between 1 and 100000; got %d", pl.LinesPerSecond)
	}
	if pl := s.PluginLogs; pl.Burst < 1 || pl.Burst > 1000000 {
		bad("plugin_logs.burst", "must be between 1 and 1000000; got %d", pl.Burst)
	}
	if pl := s.PluginLogs; pl.MaxLineBytes < 256 || pl.MaxLineBytes > 1<<20 {
		bad("plugin_logs.max_line_bytes", "must be between 256 and %d; got %d", 1<<20, pl.MaxLineBytes)
	}
	ps = append(ps, validateKubernetes(s.Kubernetes)...)
	if s.EndpointAuth != "none" && s.EndpointAuth != "required" {
		bad("endpoint_auth", "must be none or required; got %q", s.EndpointAuth)
	}
	if s.MaxRequestBytes < 1<<10 || s.MaxRequestBytes > 1<<30 {
		bad("max_request_bytes", "must be between 1024 and %d; got %d", int64(1<<30), s.MaxRequestBytes)
	}
	if j := s.JWT; j != nil {
		n := 0
		for _, f := range []string{j.HS256SecretFile, j.RS256PublicKeyFile, j.JWKSFile, j.JWKSURL, j.OIDCIssuer} {
			if f != "" {
				n++
			}
		}
		if n != 1 {
			bad("jwt", "must name exactly one of hs256_secret_file, rs256_public_key_file, jwks_file, jwks_url, oidc_issuer")
		}
		if j.JWKSURL != "" {
			if err := jwt.CheckFetchURL(j.JWKSURL); err != nil {
				bad("jwt.jwks_url", "%v", err)
			}
		}
		if j.OIDCIssuer != "" {
			if err := jwt.CheckFetchURL(j.OIDCIssuer); err != nil {
				bad("jwt.oidc_issuer", "%v", err)
			}
			if j.Issuer != "" && j.Issuer != j.OIDCIssuer {
				bad("jwt.issuer", "must be empty or equal jwt.oidc_issuer (%q); got %q", j.OIDCIssuer, j.Issuer)
			}
		}
	}
	if s.MaxCacheBytes < 16<<20 {
		bad("max_cache_bytes", "must be at least %d bytes; got %d", int64(16<<20), s.MaxCacheBytes)
	}
	if s.MaxPluginSize < 1<<10 || s.MaxPluginSize > 10<<30 {
		bad("max_plugin_size", "must be between 1024 and %d bytes; got %d", int64(10<<30), s.MaxPluginSize)
	}
	h := s.Health
	if h.IntervalSeconds < 1 || h.IntervalSeconds > 86400 {
		bad("health.interval_seconds", "must be between 1 and 86400; got %d", h.IntervalSeconds)
	}
	if h.TimeoutSeconds < 1 || h.TimeoutSeconds > 3600 {
		bad("health.timeout_seconds", "must be between 1 and 3600; got %d", h.TimeoutSeconds)
	} else if h.TimeoutSeconds >= h.IntervalSeconds && h.IntervalSeconds >= 1 {
		bad("health.timeout_seconds", "must be less than health.interval_seconds (%d); got %d", h.IntervalSeconds, h.TimeoutSeconds)
	}
	if h.FailureThreshold < 1 || h.FailureThreshold > 100 {
		bad("health.failure_threshold", "must be between 1 and 100; got %d", h.FailureThreshold)
	}
	if h.RecoveryThreshold < 1 || h.RecoveryThreshold > 100 {
		bad("health.recovery_threshold", "must be between 1 and 100; got %d", h.RecoveryThreshold)
	}
	if h.OnUnhealthy != "flag" && h.OnUnhealthy != "disable" {
		bad("health.on_unhealthy", "must be flag or disable; got %q", h.OnUnhealthy)
	}
	return ps
}

// validateKubernetes checks the bounds of the access to clusters plugins
// are granted: context names as a manifest's, and each plugin's grant as a
// manifest's kubernetes section.
func validateKubernetes(k KubernetesSettings) []manifest.Problem {
	ps := manifest.ValidateKubernetes("kubernetes", &sdk.KubernetesAccess{Contexts: k.AllowedContexts})
	for i := range ps {
		ps[i].Field = strings.Replace(ps[i].Field, "kubernetes.contexts", "kubernetes.allowed_contexts", 1)
	}
	for i, c := range k.Impersonate {
		if c == "*" {
			continue
		}
		for _, p := range manifest.ValidateKubernetes("kubernetes", &sdk.KubernetesAccess{Contexts: []string{c}}) {
			p.Field = fmt.Sprintf("kubernetes.impersonate[%d]", i)
			ps = append(ps, p)
		}
	}
	for i, n := range k.ExternalDeniedNetworks {
		if _, err := netip.ParsePrefix(n); err != nil {
			ps = append(ps, manifest.Problem{Field: fmt.Sprintf("kubernetes.external_denied_networks[%d]", i), Message: fmt.Sprintf("must be a network in CIDR form, such as 10.0.0.0/8 or fd00::/8; got %q", n)})
		}
	}
	for _, id := range slices.Sorted(maps.Keys(k.Granted)) {
		field := "kubernetes.granted." + id
		if p := manifest.ValidateID(field, id); p != nil {
			ps = append(ps, *p)
		}
		ps = append(ps, manifest.ValidateKubernetes(field, k.Granted[id])...)
	}
	return ps
}

// DeniedNetworks returns k's external_denied_networks, parsed. Validate
// has checked them; one that does not parse is left out.
func DeniedNetworks(k KubernetesSettings) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(k.ExternalDeniedNetworks))
	for _, n := range k.ExternalDeniedNetworks {
		if p, err := netip.ParsePrefix(n); err == nil {
			out = append(out, p.Masked())
		}
	}
	return out
}
