package v1

import (
	"time"

	"github.com/kubestellar/ksplugins/sdk"
)

// Plugin is what the host reports about an installed plugin.
type Plugin struct {
	ID          string               `json:"id"`
	Name        string               `json:"name"`
	Version     string               `json:"version"`
	Description string               `json:"description,omitempty"`
	Author      string               `json:"author,omitempty"`
	State       State                `json:"state"`
	Enabled     bool                 `json:"enabled"`
	Tier        Tier                 `json:"tier"`
	Source      Source               `json:"source"`
	Artifact    Artifact             `json:"artifact"`
	LoadedAt    time.Time            `json:"loaded_at"`
	BasePath    string               `json:"base_path"`
	Endpoints   []sdk.EndpointConfig `json:"endpoints"`
	Permissions []string             `json:"permissions"`
	Granted     []string             `json:"granted_permissions"`
	Kubernetes  *KubernetesGrant     `json:"kubernetes,omitempty"`
	Metadata    sdk.PluginMetadata   `json:"metadata"`
	Sandbox     *Sandbox             `json:"sandbox,omitempty"`
	Stats       Stats                `json:"stats"`
	Health      Health               `json:"health"`
	Config      map[string]any       `json:"configuration"`
	LastError   string               `json:"last_error,omitempty"`
	Warnings    []Problem            `json:"warnings,omitempty"`
}

// KubernetesGrant is the access to clusters a plugin was granted at
// install, decided by the security mode from its manifest's kubernetes
// section; a plugin without that section has none. It is kept across
// restarts and reloads, and decided again when the plugin is updated.
type KubernetesGrant struct {
	// Contexts are the contexts of the host's kubeconfig the plugin may
	// reach.
	Contexts []string `json:"contexts"`
	// Rules say what it may do there.
	Rules []sdk.KubernetesRule `json:"rules"`
	// ExternalClusters is whether it may reach clusters whose kubeconfig
	// a caller brings in a request.
	ExternalClusters bool `json:"external_clusters"`
	// Withheld says what the manifest asked for and was not granted, and
	// why.
	Withheld []string `json:"withheld,omitempty"`
}

// State is where a plugin is in its lifecycle.
//
//	           load                enable/disable
//	(none) ──────────► loading ──► active ◄──────► disabled
//	                      │          │                │
//	                      ▼          └───── unload ───┴──► unloading ──► (gone)
//	                   (gone)
//
//	restore ──► loading ──► active | disabled
//	               │
//	               ▼   retry with backoff
//	            failed ─────────────────► active | disabled
//	               │ the server's restart limit, in a row
//	               ▼
//	           crash_loop  (until reload or unload)
//
// A failed first load leaves no trace. Reload keeps the desired state
// (enabled or not) and swaps the instance underneath; a failed reload keeps
// the old instance serving. A reload of a failed or crash_loop plugin is
// how an operator retries it.
type State string

// The states of a plugin.
const (
	StateLoading   State = "loading"
	StateActive    State = "active"
	StateDisabled  State = "disabled"
	StateFailed    State = "failed"
	StateCrashLoop State = "crash_loop"
	StateUnloading State = "unloading"
)

// States lists every state, for reports that show each one.
func States() []State {
	return []State{StateLoading, StateActive, StateDisabled, StateFailed, StateCrashLoop, StateUnloading}
}

// Tier is how a plugin's code is built and run.
type Tier string

// The tiers.
const (
	// TierNative is -buildmode=plugin, loaded into the host process.
	TierNative Tier = "native"
	// TierSandboxed is GOOS=wasip1 GOARCH=wasm -buildmode=c-shared, run by
	// the WebAssembly runtime.
	TierSandboxed Tier = "sandboxed"
)

// SourceKind says where a plugin comes from.
type SourceKind string

// The kinds of source.
const (
	SourceFolder SourceKind = "folder" // a plugin folder, built by the host
	SourceFile   SourceKind = "file"   // a prebuilt native .so file
	SourceGit    SourceKind = "git"    // a repository at a version
	SourceUpload SourceKind = "upload" // an uploaded archive
)

// Source is where a plugin was loaded from, enough to load it again.
type Source struct {
	Kind SourceKind `json:"kind"`
	// Location is the folder, file or repository URL, or the upload id.
	Location string `json:"location"`
	// Version is what the operator asked for (a tag, branch or commit).
	Version string `json:"version,omitempty"`
	// Path is the plugin's folder inside a repository.
	Path string `json:"path,omitempty"`
	// Pin is what the version resolved to: the commit of a repository, the
	// digest of an upload.
	Pin string `json:"pin,omitempty"`
}

// Artifact identifies the code an instance runs.
type Artifact struct {
	Tier          Tier          `json:"tier"`
	Path          string        `json:"path"`
	Digest        string        `json:"digest"`
	BuildKey      string        `json:"build_key,omitempty"`
	Cached        bool          `json:"cached"`
	BuildDuration time.Duration `json:"build_duration_ns,omitempty"`
}

// Sandbox is what a sandboxed plugin runs with.
type Sandbox struct {
	Limits SandboxLimits `json:"limits"`
	Grants SandboxGrants `json:"grants"`
}

// SandboxLimits bound a sandboxed plugin's instances.
type SandboxLimits struct {
	// PoolSize is how many instances serve at once.
	PoolSize int `json:"pool_size"`
	// QueueSize is how many requests may wait for a free instance.
	QueueSize int `json:"queue_size"`
	// MemoryBytes caps one instance's linear memory.
	MemoryBytes int64 `json:"memory_bytes"`
	// TimeoutMs caps one call into the plugin.
	TimeoutMs int64 `json:"timeout_ms"`
	// MaxRequestBytes and MaxResponseBytes cap bodies in and out.
	MaxRequestBytes  int64 `json:"max_request_bytes"`
	MaxResponseBytes int64 `json:"max_response_bytes"`
}

// SandboxGrants are the capabilities a sandboxed plugin was given.
type SandboxGrants struct {
	FileSystem   bool     `json:"filesystem"`
	Network      bool     `json:"network"`
	AllowedHosts []string `json:"allowed_hosts,omitempty"`
}

// Permission is a right a plugin may ask for in its manifest.
type Permission struct {
	Name        string `json:"name"`
	Description string `json:"description"`
}

// Problem is one finding in a manifest or a request, located by its field
// path.
type Problem struct {
	// Field is a path such as "endpoints[2].method" or
	// "health.interval_seconds"; "" means the whole document.
	Field string `json:"field"`
	// Message says what is wrong, phrased to follow the field.
	Message string `json:"message"`
}

// String renders the problem as "field: message", the form authors see.
func (p Problem) String() string {
	if p.Field == "" {
		return p.Message
	}
	return p.Field + ": " + p.Message
}
