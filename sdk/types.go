package sdk

import "fmt"

// Plugin states, as reported in PluginStatus.State and PluginMetadata.Status.
const (
	StateLoading   = "loading"
	StateLoaded    = "loaded"
	StateError     = "error"
	StateUnloading = "unloading"
	StateUnloaded  = "unloaded"
)

// Health values, as reported in PluginStatus.Health.
const (
	HealthHealthy   = "healthy"
	HealthUnhealthy = "unhealthy"
	HealthUnknown   = "unknown"
	HealthDegraded  = "degraded"
)

// Error codes used in PluginError.Code.
const (
	ErrorCodeValidation    = "VALIDATION_ERROR"
	ErrorCodeDependency    = "DEPENDENCY_ERROR"
	ErrorCodePermission    = "PERMISSION_ERROR"
	ErrorCodeConfiguration = "CONFIGURATION_ERROR"
	ErrorCodeRuntime       = "RUNTIME_ERROR"
	ErrorCodeSecurity      = "SECURITY_ERROR"
)

// PluginMetadata describes a plugin. It is both what GetMetadata returns and
// the shape of plugin.yaml.
type PluginMetadata struct {
	ID          string `json:"id" yaml:"id"`
	Name        string `json:"name" yaml:"name"`
	Version     string `json:"version" yaml:"version"`
	Description string `json:"description" yaml:"description"`
	Author      string `json:"author" yaml:"author"`
	Homepage    string `json:"homepage,omitempty" yaml:"homepage,omitempty"`
	Repository  string `json:"repository,omitempty" yaml:"repository,omitempty"`
	License     string `json:"license,omitempty" yaml:"license,omitempty"`

	Endpoints    []EndpointConfig    `json:"endpoints" yaml:"endpoints"`
	UIComponents []UIComponentConfig `json:"ui_components,omitempty" yaml:"ui_components,omitempty"`
	// Dependencies are plugin.yaml's dependencies that are plain strings:
	// Go module requirements, as the seed's manifests wrote them.
	Dependencies []string `json:"dependencies,omitempty" yaml:"dependencies,omitempty"`
	// PluginDependencies are plugin.yaml's dependencies that name plugins
	// ({plugin: id, version: range}): plugins that must be installed, in
	// range, before this one loads, and that it may call through
	// PluginCaller. The manifest reader splits the one list into the two;
	// a plugin without a manifest reports them here from GetMetadata.
	PluginDependencies []PluginDependency     `json:"plugin_dependencies,omitempty" yaml:"-"`
	Permissions        []string               `json:"permissions,omitempty" yaml:"permissions,omitempty"`
	Compatibility      map[string]string      `json:"compatibility,omitempty" yaml:"compatibility,omitempty"`
	Configuration      map[string]interface{} `json:"configuration,omitempty" yaml:"configuration,omitempty"`
	Security           SecurityConfig         `json:"security" yaml:"security"`
	Health             HealthConfig           `json:"health" yaml:"health"`
	// Sandbox tunes the sandboxed tier; the host caps every value by policy.
	Sandbox *SandboxConfig `json:"sandbox,omitempty" yaml:"sandbox,omitempty"`
	// Kubernetes declares the access to clusters the plugin needs, which
	// the host grants at install and mediates on every request.
	Kubernetes *KubernetesAccess `json:"kubernetes,omitempty" yaml:"kubernetes,omitempty"`

	// Filled in by the host, never read from plugin.yaml.
	LoadedAt   string `json:"loaded_at,omitempty" yaml:"-"`
	LoadedFrom string `json:"loaded_from,omitempty" yaml:"-"`
	Status     string `json:"status,omitempty" yaml:"-"`
}

// PluginDependency is another plugin a plugin needs: its id and the
// versions that will do.
type PluginDependency struct {
	// Plugin is the id of the plugin depended on.
	Plugin string `json:"plugin" yaml:"plugin"`
	// Version is a semantic version range such as ">=1.2 <2" or "^1.4"
	// (comparisons joined by spaces or commas mean all of them, "||"
	// either side); empty means any version.
	Version string `json:"version,omitempty" yaml:"version,omitempty"`
}

// EndpointConfig declares one HTTP endpoint of a plugin, served at
// /api/plugin-endpoints/{plugin-id}{path}. Path may hold :name parameters
// and one trailing *name wildcard.
type EndpointConfig struct {
	Path        string            `json:"path" yaml:"path"`
	Method      string            `json:"method" yaml:"method"`
	Handler     string            `json:"handler" yaml:"handler"`
	Description string            `json:"description,omitempty" yaml:"description,omitempty"`
	Middleware  []string          `json:"middleware,omitempty" yaml:"middleware,omitempty"`
	RateLimit   *RateLimitConfig  `json:"rate_limit,omitempty" yaml:"rate_limit,omitempty"`
	Auth        *AuthConfig       `json:"auth,omitempty" yaml:"auth,omitempty"`
	Validation  *ValidationConfig `json:"validation,omitempty" yaml:"validation,omitempty"`
}

// UIComponentConfig declares a page or widget the plugin contributes to the UI.
//
// A component with an Entry is shown by the manager page: the host serves
// the plugin's ui/ folder (see docs/web.md) and the page frames Entry, an
// HTML file in that folder, in a sandbox at the extension point Slot. A
// component without one (the seed's manifests) is declared only.
type UIComponentConfig struct {
	Name      string `json:"name" yaml:"name"`
	Route     string `json:"route" yaml:"route"`
	Component string `json:"component" yaml:"component"`
	// Entry is the component's HTML file, a path inside the plugin's ui/
	// folder such as "index.html".
	Entry string `json:"entry,omitempty" yaml:"entry,omitempty"`
	// Slot is the extension point that shows it: UISlotDetailTab (the
	// default), UISlotPage or UISlotCard.
	Slot        string            `json:"slot,omitempty" yaml:"slot,omitempty"`
	Title       string            `json:"title,omitempty" yaml:"title,omitempty"`
	Icon        string            `json:"icon,omitempty" yaml:"icon,omitempty"`
	Description string            `json:"description,omitempty" yaml:"description,omitempty"`
	Props       map[string]string `json:"props,omitempty" yaml:"props,omitempty"`
	Permissions []string          `json:"permissions,omitempty" yaml:"permissions,omitempty"`
}

// Extension points of the manager page, the values of
// UIComponentConfig.Slot.
const (
	// UISlotDetailTab is a tab in the plugin's detail view.
	UISlotDetailTab = "detail-tab"
	// UISlotPage is a page of its own in the navigation.
	UISlotPage = "page"
	// UISlotCard is a card on the overview.
	UISlotCard = "card"
)

// SecurityConfig is what a plugin asks of the host's security policy.
type SecurityConfig struct {
	Checksum         string   `json:"checksum,omitempty" yaml:"checksum,omitempty"`
	SignatureKey     string   `json:"signature_key,omitempty" yaml:"signature_key,omitempty"`
	TrustedOrigins   []string `json:"trusted_origins,omitempty" yaml:"trusted_origins,omitempty"`
	Sandboxed        bool     `json:"sandboxed" yaml:"sandboxed"`
	NetworkAccess    bool     `json:"network_access" yaml:"network_access"`
	FileSystemAccess bool     `json:"filesystem_access" yaml:"filesystem_access"`
}

// SandboxConfig sets a sandboxed plugin's limits and grants. Zero values
// take the host's defaults.
type SandboxConfig struct {
	// PoolSize is how many instances serve requests at once (default 1).
	// Each instance has its own memory, so more than one is allowed only
	// for a plugin that declares itself Stateless.
	PoolSize  int  `json:"pool_size,omitempty" yaml:"pool_size,omitempty"`
	Stateless bool `json:"stateless,omitempty" yaml:"stateless,omitempty"`
	// QueueSize is how many requests may wait for a free instance before
	// the host answers 503 (default 64).
	QueueSize int `json:"queue_size,omitempty" yaml:"queue_size,omitempty"`
	// MemoryMB caps one instance's memory (default 128).
	MemoryMB int `json:"memory_mb,omitempty" yaml:"memory_mb,omitempty"`
	// TimeoutMs caps one request (default 5000); past it the instance is
	// replaced and the client gets 504.
	TimeoutMs int `json:"timeout_ms,omitempty" yaml:"timeout_ms,omitempty"`
	// MaxRequestBytes and MaxResponseBytes cap bodies (defaults 1 MiB, 4 MiB).
	MaxRequestBytes  int `json:"max_request_bytes,omitempty" yaml:"max_request_bytes,omitempty"`
	MaxResponseBytes int `json:"max_response_bytes,omitempty" yaml:"max_response_bytes,omitempty"`
	// AllowedHosts are the host[:port] names the plugin may call over HTTP,
	// when security.network_access is granted.
	AllowedHosts []string `json:"allowed_hosts,omitempty" yaml:"allowed_hosts,omitempty"`
}

// HealthConfig sets how the host checks a plugin's health.
type HealthConfig struct {
	Enabled         bool   `json:"enabled" yaml:"enabled"`
	Endpoint        string `json:"endpoint,omitempty" yaml:"endpoint,omitempty"`
	IntervalSeconds int    `json:"interval_seconds,omitempty" yaml:"interval_seconds,omitempty"`
	TimeoutSeconds  int    `json:"timeout_seconds,omitempty" yaml:"timeout_seconds,omitempty"`
}

// RateLimitConfig limits the request rate of one endpoint.
type RateLimitConfig struct {
	Enabled      bool `json:"enabled" yaml:"enabled"`
	RPM          int  `json:"rpm" yaml:"rpm"`
	Burst        int  `json:"burst" yaml:"burst"`
	WindowSizeMs int  `json:"window_ms,omitempty" yaml:"window_ms,omitempty"`
}

// AuthConfig says who may call one endpoint.
type AuthConfig struct {
	Required    bool     `json:"required" yaml:"required"`
	Roles       []string `json:"roles,omitempty" yaml:"roles,omitempty"`
	Permissions []string `json:"permissions,omitempty" yaml:"permissions,omitempty"`
	Scopes      []string `json:"scopes,omitempty" yaml:"scopes,omitempty"`
}

// ValidationConfig describes what a valid request to one endpoint looks like.
type ValidationConfig struct {
	Schema      string                 `json:"schema,omitempty" yaml:"schema,omitempty"`
	Rules       map[string]interface{} `json:"rules,omitempty" yaml:"rules,omitempty"`
	Required    []string               `json:"required,omitempty" yaml:"required,omitempty"`
	ContentType []string               `json:"content_type,omitempty" yaml:"content_type,omitempty"`
}

// PluginError is an error a plugin reports, with a machine-readable code.
type PluginError struct {
	Code      string                 `json:"code" yaml:"code"`
	Message   string                 `json:"message" yaml:"message"`
	Details   string                 `json:"details,omitempty" yaml:"details,omitempty"`
	Timestamp string                 `json:"timestamp" yaml:"timestamp"`
	Context   map[string]interface{} `json:"context,omitempty" yaml:"context,omitempty"`
}

// Error implements error.
func (e *PluginError) Error() string {
	if e.Details == "" {
		return fmt.Sprintf("%s: %s", e.Code, e.Message)
	}
	return fmt.Sprintf("%s: %s (%s)", e.Code, e.Message, e.Details)
}

// PluginStatus is a plugin's report of its own state.
type PluginStatus struct {
	State        string                 `json:"state" yaml:"state"`
	Health       string                 `json:"health" yaml:"health"`
	LastCheck    string                 `json:"last_check" yaml:"last_check"`
	Errors       []PluginError          `json:"errors,omitempty" yaml:"errors,omitempty"`
	Metrics      map[string]interface{} `json:"metrics,omitempty" yaml:"metrics,omitempty"`
	Uptime       string                 `json:"uptime" yaml:"uptime"`
	RequestCount int64                  `json:"request_count" yaml:"request_count"`
}

// KubernetesAccess is what a plugin may do on clusters, in the shape of
// Kubernetes RBAC: the host's kubeconfig contexts it may reach, and rules of
// what it may do there. The plugin holds no credentials: the host makes
// every request on its behalf, and only a request that a rule allows.
type KubernetesAccess struct {
	// Contexts names the contexts of the host's kubeconfig the plugin may
	// reach (for example its1, wds1).
	Contexts []string `json:"contexts,omitempty" yaml:"contexts,omitempty"`
	// Rules say what the plugin may do in those contexts; a request is
	// allowed when one rule matches it.
	Rules []KubernetesRule `json:"rules,omitempty" yaml:"rules,omitempty"`
	// ExternalClusters asks to reach clusters whose kubeconfig a caller
	// brings in a request (to onboard or validate a cluster). Those
	// kubeconfigs are read as data only, and the host, not the plugin,
	// holds the credentials they carry.
	ExternalClusters bool `json:"external_clusters,omitempty" yaml:"external_clusters,omitempty"`
}

// KubernetesRule allows verbs on resources, like an RBAC PolicyRule. An
// empty Namespaces or ResourceNames allows every namespace or name; "*"
// matches every value in any list.
type KubernetesRule struct {
	// APIGroups are API groups ("" is the core group).
	APIGroups []string `json:"apiGroups" yaml:"apiGroups"`
	// Resources are resource names, with a subresource after a slash
	// (managedclusters/status, certificatesigningrequests/approval).
	Resources []string `json:"resources" yaml:"resources"`
	// Verbs are get, list, watch, create, update, patch, delete and
	// deletecollection.
	Verbs []string `json:"verbs" yaml:"verbs"`
	// Namespaces limits the rule to these namespaces.
	Namespaces []string `json:"namespaces,omitempty" yaml:"namespaces,omitempty"`
	// ResourceNames limits the rule to objects of these names.
	ResourceNames []string `json:"resourceNames,omitempty" yaml:"resourceNames,omitempty"`
}
