package v1

import "github.com/kubestellar/ksplugins/sdk"

// SystemConfig is the server's live configuration: what GET
// /api/plugins/system/configuration answers (secrets redacted) and what PUT
// merges its body into (fields not sent keep their values).
type SystemConfig struct {
	// SecurityMode is strict, normal or permissive.
	SecurityMode string `json:"security_mode"`
	// AllowedRepos are globs of host/owner/repo that plugins may come from.
	AllowedRepos []string `json:"allowed_repos"`
	// MaxPluginSize bounds a plugin's archive, repository or artifact, in
	// bytes.
	MaxPluginSize int64 `json:"max_plugin_size"`
	// EnableSandboxing runs every plugin in the sandboxed tier, whatever
	// its manifest says.
	EnableSandboxing bool `json:"enable_sandboxing"`
	// Sandbox caps what sandboxed plugins may ask for.
	Sandbox SandboxPolicy `json:"sandbox"`
	// PluginLogs bounds what each plugin may write to the server's log:
	// lines a second, bursts and bytes a line; the rest is dropped and
	// counted.
	PluginLogs PluginLogLimits `json:"plugin_logs"`
	// GrantedPermissions are the permissions strict mode grants, to
	// plugins that ask for them; normal mode grants what is asked.
	GrantedPermissions []string `json:"granted_permissions"`
	// Kubernetes bounds the access to clusters plugins are granted at
	// install.
	Kubernetes KubernetesSettings `json:"kubernetes"`
	// EndpointAuth is the default for plugin endpoints whose manifest does
	// not say: "none" (public) or "required" (a valid token).
	EndpointAuth string `json:"endpoint_auth"`
	// MaxRequestBytes bounds a plugin endpoint's request body.
	MaxRequestBytes int64 `json:"max_request_bytes"`
	// JWT, when set, accepts JSON Web Tokens from an identity provider.
	JWT *JWTConfig `json:"jwt,omitempty"`
	// ValidateChecksums verifies checksums given with a plugin.
	ValidateChecksums bool `json:"validate_checksums"`
	// Health holds the defaults for plugins whose manifest sets none.
	Health HealthDefaults `json:"health"`
	// Debug turns on debug logging.
	Debug bool `json:"debug"`
	// RepositoryBaseURL is where repository sources are fetched from:
	// https://github.com/owner/repo is fetched from <base>/owner/repo.git,
	// so a mirror or GitHub Enterprise serves the same sources.
	RepositoryBaseURL string `json:"repository_base_url"`
	// RepositoryToken authenticates fetches of private repositories. It is
	// never logged, and the server answers it as "********"; sending that
	// back keeps it.
	RepositoryToken string `json:"repository_token,omitempty"`
	// TrustedKeys are the ed25519 public keys ("ed25519:<base64>") whose
	// signatures the server accepts.
	TrustedKeys []string `json:"trusted_keys"`
	// MaxCacheBytes bounds the build cache; the least recently used
	// artifacts no installed plugin needs are evicted beyond it.
	MaxCacheBytes int64 `json:"max_cache_bytes"`
	// Catalogs are the plugin catalogs the server reads, each with the
	// publisher keys that must sign it.
	Catalogs []CatalogConfig `json:"catalogs"`
}

// SandboxPolicy caps the limits and grants of sandboxed plugins: a
// manifest may ask for less, never more.
type SandboxPolicy struct {
	// MaxMemoryMB caps one instance's memory.
	MaxMemoryMB int `json:"max_memory_mb"`
	// MaxTimeoutMs caps one call into a plugin.
	MaxTimeoutMs int `json:"max_timeout_ms"`
	// MaxPoolSize caps a plugin's instances.
	MaxPoolSize int `json:"max_pool_size"`
	// MaxTotalMemoryMB bounds the sum over every loaded sandboxed plugin
	// of pool_size × memory_mb: a load (or reload) that would pass it is
	// refused. The default is a quarter of the server's memory (or of its
	// control group's limit), at least 1024.
	MaxTotalMemoryMB int `json:"max_total_memory_mb"`
	// AllowNetwork lets plugins that ask for security.network_access have
	// outbound HTTP to their allowed hosts.
	AllowNetwork bool `json:"allow_network"`
	// AllowFilesystem lets plugins that ask for
	// security.filesystem_access have a private folder at /data.
	AllowFilesystem bool `json:"allow_filesystem"`
}

// KubernetesSettings bound what plugins are granted of the access to
// clusters their manifests ask for. They apply at install and update;
// grants already made are kept.
type KubernetesSettings struct {
	// AllowedContexts are the contexts of the host's kubeconfig that
	// normal and strict mode may grant; empty allows every context.
	// Permissive mode grants every context asked for.
	AllowedContexts []string `json:"allowed_contexts"`
	// Granted is, by plugin id, the most strict mode grants that plugin:
	// it gets the contexts asked for that are listed here, the rules asked
	// for that a rule listed here covers, and external clusters if both
	// ask. A plugin not listed gets nothing in strict mode. PUT merges it
	// by plugin id; send null for an id to remove it.
	Granted map[string]*sdk.KubernetesAccess `json:"granted"`
	// Impersonate lists the contexts of the host's kubeconfig where a
	// plugin's requests impersonate the plugin's own user,
	// system:ksplugins:plugin:<id>, so that the cluster's RBAC limits the
	// plugin too and its audit log names the plugin; "*" is every context.
	// The host's user needs the impersonate verb on those users. It
	// applies to instances started after it changes (a reload applies it).
	// Clusters a caller brings are never impersonated: their credentials
	// are the caller's.
	Impersonate []string `json:"impersonate"`
	// ExternalDeniedNetworks are the networks (CIDR prefixes) in which the
	// host does not reach the API server of a cluster a caller brings: a
	// caller's kubeconfig, or one a plugin makes up, chooses the address
	// the host dials. The default refuses loopback, link-local (a cloud's
	// metadata address among them) and unspecified addresses; [] allows
	// every network.
	ExternalDeniedNetworks []string `json:"external_denied_networks"`
}

// PluginLogLimits bound what one plugin may write to the server's log.
type PluginLogLimits struct {
	// LinesPerSecond is the sustained rate of lines admitted.
	LinesPerSecond int `json:"lines_per_second"`
	// Burst is how many lines may be admitted at once, after a quiet spell.
	Burst int `json:"burst"`
	// MaxLineBytes caps one line; the rest of a longer line is discarded.
	MaxLineBytes int `json:"max_line_bytes"`
}

// HealthDefaults are the health-check settings a manifest may override.
type HealthDefaults struct {
	// IntervalSeconds is the time between checks.
	IntervalSeconds int `json:"interval_seconds"`
	// TimeoutSeconds bounds one check.
	TimeoutSeconds int `json:"timeout_seconds"`
	// FailureThreshold failures in a row make a plugin unhealthy.
	FailureThreshold int `json:"failure_threshold"`
	// RecoveryThreshold successes in a row make it healthy again.
	RecoveryThreshold int `json:"recovery_threshold"`
	// OnUnhealthy is "flag" (keep serving, report it) or "disable" (stop
	// serving until the plugin recovers).
	OnUnhealthy string `json:"on_unhealthy"`
}

// JWTConfig configures JWT validation: one key source, and what the token
// must say.
type JWTConfig struct {
	// HS256SecretFile names a file on the server holding the HMAC secret.
	HS256SecretFile string `json:"hs256_secret_file,omitempty"`
	// RS256PublicKeyFile names a file on the server holding an RSA public
	// key (PEM).
	RS256PublicKeyFile string `json:"rs256_public_key_file,omitempty"`
	// JWKSFile names a file on the server holding a JSON Web Key Set.
	JWKSFile string `json:"jwks_file,omitempty"`
	// JWKSURL is fetched for the keys instead (https, or http to a
	// loopback address), refreshed periodically and when a token names an
	// unknown kid.
	JWKSURL string `json:"jwks_url,omitempty"`
	// OIDCIssuer is an OpenID Connect issuer whose discovery document
	// names the JWKS URL; tokens must then carry it as their iss.
	OIDCIssuer string `json:"oidc_issuer,omitempty"`
	// Issuer, when set, is what the token's iss must be.
	Issuer string `json:"issuer,omitempty"`
	// Audience, when set, is what the token's aud must be (or contain).
	Audience string `json:"audience,omitempty"`
	// RoleClaim is the claim naming the role (default "role").
	RoleClaim string `json:"role_claim,omitempty"`
}

// CacheReport answers GET /api/plugins/cache/info.
type CacheReport struct {
	// Cache is the build cache now.
	Cache CacheInfo `json:"cache"`
	// MaxBytes is the configured bound of the cache.
	MaxBytes int64 `json:"max_bytes"`
}

// CacheInfo describes the build cache.
type CacheInfo struct {
	// Dir is the cache's folder on the server.
	Dir string `json:"dir"`
	// Entries is how many artifacts it holds.
	Entries int `json:"entries"`
	// Bytes is their size.
	Bytes int64 `json:"bytes"`
	// Stats are the builder's counters.
	Stats BuildStats `json:"stats"`
}

// BuildStats are the builder's counters.
type BuildStats struct {
	// Builds counts the builds that ran the compiler.
	Builds uint64 `json:"builds"`
	// Failures counts the Builds that failed.
	Failures uint64 `json:"failures"`
	// Hits found the artifact already in the cache.
	Hits uint64 `json:"hits"`
	// Shared waited for an identical build already running.
	Shared uint64 `json:"shared"`
	// Tampered found a cache entry modified and rebuilt it.
	Tampered uint64 `json:"tampered"`
}

// CachePurge answers DELETE /api/plugins/cache.
type CachePurge struct {
	// Removed is how many cached builds were removed.
	Removed int `json:"removed"`
	// FreedBytes is the space they took.
	FreedBytes int64 `json:"freed_bytes"`
}

// SystemMetrics answers GET /api/plugins/system/metrics: the JSON view of
// the figures /metrics exposes.
type SystemMetrics struct {
	// Plugins counts the plugins.
	Plugins PluginCounts `json:"plugins"`
	// RequestsTotal sums every plugin's Stats.Requests.
	RequestsTotal uint64 `json:"requests_total"`
	// ServerErrorsTotal sums every plugin's Stats.ServerErrors (5xx).
	ServerErrorsTotal uint64 `json:"server_errors_total"`
	// ClientErrorsTotal sums every plugin's Stats.ClientErrors (4xx).
	ClientErrorsTotal uint64 `json:"client_errors_total"`
	// PerPlugin are each plugin's counters, by plugin ID.
	PerPlugin map[string]Stats `json:"per_plugin"`
	// PluginMetrics are each plugin's GetMetrics(), free-form, by plugin
	// ID.
	PluginMetrics map[string]map[string]any `json:"plugin_metrics"`
	// PluginLogs are each plugin's log counters, by plugin ID.
	PluginLogs map[string]LogStats `json:"plugin_logs"`
	// Process describes the server process.
	Process ProcessStats `json:"process"`
	// BuildCache are the builder's counters, when the server builds.
	BuildCache *BuildStats `json:"build_cache,omitempty"`
}

// PluginCounts count plugins by state and by health.
type PluginCounts struct {
	// Total is how many plugins are installed.
	Total int `json:"total"`
	// ByState counts them by lifecycle state; every state is present.
	ByState map[State]int `json:"by_state"`
	// ByHealth counts them by health; every status is present.
	ByHealth map[HealthStatus]int `json:"by_health"`
}

// LogStats count what one plugin wrote to the server's log.
type LogStats struct {
	// Logged is how many lines were admitted to the log.
	Logged uint64 `json:"logged"`
	// Dropped is how many lines were not, for exceeding the rate.
	Dropped uint64 `json:"dropped"`
	// Truncated is how many admitted lines were cut at the line limit.
	Truncated uint64 `json:"truncated"`
	// Dropping is true while lines are being dropped.
	Dropping bool `json:"dropping"`
}

// ProcessStats describe the server process.
type ProcessStats struct {
	// Goroutines is how many goroutines run.
	Goroutines int `json:"goroutines"`
	// HeapAllocBytes is the Go runtime's allocated heap (HeapAlloc), in
	// bytes.
	HeapAllocBytes uint64 `json:"heap_alloc_bytes"`
	// SysBytes is the memory the Go runtime obtained from the system (Sys),
	// in bytes.
	SysBytes uint64 `json:"sys_bytes"`
	// UptimeSeconds is how long the API has served.
	UptimeSeconds float64 `json:"uptime_seconds"`
	// GoVersion is the Go release the server was built with.
	GoVersion string `json:"go_version"`
}
