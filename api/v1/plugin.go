package v1

import (
	"time"

	"github.com/kubestellar/ksplugins/sdk"
)

// Plugin is what the host reports about an installed plugin.
type Plugin struct {
	// ID is the plugin's id from its manifest, unique on the server.
	ID string `json:"id"`
	// Name is a copy of Metadata.Name, as Version, Description and Author
	// are of theirs: Metadata is their source. Empty while no instance runs.
	Name string `json:"name"`
	// Version is Metadata.Version, the running code's version; empty while
	// no instance runs (loading, failed, crash_loop).
	Version string `json:"version"`
	// Description is Metadata.Description; absent when empty.
	Description string `json:"description,omitempty"`
	// Author is Metadata.Author; absent when empty.
	Author string `json:"author,omitempty"`
	// State is where the plugin is in its lifecycle (see State).
	State State `json:"state"`
	// Enabled is the desired state the operator set, kept across reloads
	// and restarts; State says whether the plugin serves now.
	Enabled bool `json:"enabled"`
	// Tier is native, sandboxed or http-wasm: the running artifact's, else the tier
	// recorded at install.
	Tier Tier `json:"tier"`
	// Source is where the plugin was installed from.
	Source Source `json:"source"`
	// Artifact is the code the running instance was opened from; zero while
	// no instance runs.
	Artifact Artifact `json:"artifact"`
	// LoadedAt is when the running instance was opened (a reload resets
	// it); zero while no instance runs.
	LoadedAt time.Time `json:"loaded_at"`
	// BasePath is where its endpoints are served:
	// /api/plugin-endpoints/<id>, followed by each endpoint's path.
	BasePath string `json:"base_path"`
	// Endpoints are the endpoints the running instance's manifest declares;
	// an empty list (never null) while no instance runs.
	Endpoints []sdk.EndpointConfig `json:"endpoints"`
	// Permissions are those the manifest lists, as asked; an empty list
	// (never null) when none, or while no instance runs.
	Permissions []string `json:"permissions"`
	// Granted are the permissions the security mode granted at install or
	// update, including those the manifest's security section implies.
	Granted []string `json:"granted_permissions"`
	// Kubernetes is the cluster access granted; absent when the manifest
	// asks for none.
	Kubernetes *KubernetesGrant `json:"kubernetes,omitempty"`
	// Metadata is the running manifest, which Name to Author copy, plus the
	// host's loaded_at, loaded_from and status; zero while no instance runs.
	Metadata sdk.PluginMetadata `json:"metadata"`
	// Sandbox is what a sandboxed instance runs with; absent for native
	// plugins and while no instance runs.
	Sandbox *Sandbox `json:"sandbox,omitempty"`
	// Stats are the request counters since install or server start, kept
	// across reloads.
	Stats Stats `json:"stats"`
	// Health is the latest health-check record.
	Health Health `json:"health"`
	// Config is the effective configuration: the manifest's defaults under
	// the operator's values; null while no instance runs.
	Config map[string]any `json:"configuration"`
	// LastError is why the latest load, reload or restart failed (a failed
	// reload leaves the old instance serving); absent once one starts.
	LastError string `json:"last_error,omitempty"`
	// Warnings are the manifest's problems that did not refuse it, from the
	// latest install, update or reload; absent when none.
	Warnings []Problem `json:"warnings,omitempty"`
	// Dependencies are the plugins the running instance's manifest depends
	// on, each with whether it is satisfied now; an empty list (never
	// null) when none, or while no instance runs.
	Dependencies []Dependency `json:"dependencies"`
	// Dependants are the installed plugins that depend on this one,
	// sorted; an empty list (never null) when none.
	Dependants []string `json:"dependants"`
	// Replicas is how each server sharing the store (replicas on one
	// PostgreSQL database) last reported the plugin, this one included,
	// sorted by name; absent on a server of its own.
	Replicas []ReplicaStatus `json:"replicas,omitempty"`
}

// Dependency is one plugin another depends on, and whether it is
// satisfied: installed, serving (active or degraded) and in range.
type Dependency struct {
	// Plugin is the id of the plugin depended on.
	Plugin string `json:"plugin"`
	// Range is the versions asked for; absent for any.
	Range string `json:"range,omitempty"`
	// Installed is the version of Plugin running now; absent when none
	// runs.
	Installed string `json:"installed,omitempty"`
	// Satisfied is whether Plugin is installed, serving and in range.
	Satisfied bool `json:"satisfied"`
	// Reason says why it is not satisfied; absent when it is.
	Reason string `json:"reason,omitempty"`
}

// ReplicaStatus is one replica's report of one plugin.
type ReplicaStatus struct {
	// Replica is the server's name (--replica-name: by default its host
	// name and port, a pod's name on Kubernetes).
	Replica string `json:"replica"`
	// State is the plugin's state there; "absent" when the replica
	// reported without it (it has not followed the install yet, or has
	// unloaded it).
	State State `json:"state"`
	// Digest is the artifact its running instance was opened from; absent
	// while none runs there.
	Digest string `json:"digest,omitempty"`
	// Health is the latest health-check status there.
	Health HealthStatus `json:"health,omitempty"`
	// LastError is why it does not run there, or runs older code.
	LastError string `json:"last_error,omitempty"`
	// ReportedAt is when the replica reported; a replica that has not
	// reported for three report intervals is left out.
	ReportedAt time.Time `json:"reported_at"`
}

// StateAbsent is a ReplicaStatus's State when the replica does not have
// the plugin.
const StateAbsent State = "absent"

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
//	active ◄──────► degraded  (a dependency gone, disabled or out of
//	                           range, after a forced change; back once it
//	                           returns)
//
//	restore ──► restoring ──► active | disabled
//	                 │   (in the background, several at once)
//	                 ▼   retry with backoff
//	              failed ─────────────────► active | disabled
//	                 │ the server's restart limit, in a row
//	                 ▼
//	             crash_loop  (until reload or unload)
//
// A failed first load leaves no trace. Reload keeps the desired state
// (enabled or not) and swaps the instance underneath; a failed reload keeps
// the old instance serving. A reload of a failed or crash_loop plugin is
// how an operator retries it.
type State string

// The states of a plugin.
const (
	StateLoading State = "loading"
	// StateRestoring is a stored plugin that the server, starting, has
	// not brought back yet: its endpoints answer 503 plugin_restoring
	// with Retry-After until it is active, disabled or failed.
	StateRestoring State = "restoring"
	StateActive    State = "active"
	// StateDegraded is an enabled plugin that runs and serves while a
	// plugin it depends on is not installed, not serving or out of
	// range (after a forced unload, say): its calls to that plugin
	// fail, and its last error says why. It is active again once the
	// dependency is back.
	StateDegraded  State = "degraded"
	StateDisabled  State = "disabled"
	StateFailed    State = "failed"
	StateCrashLoop State = "crash_loop"
	StateUnloading State = "unloading"
)

// States lists every state, for reports that show each one.
func States() []State {
	return []State{StateLoading, StateRestoring, StateActive, StateDegraded, StateDisabled, StateFailed, StateCrashLoop, StateUnloading}
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
	// TierHTTPWasm is a prebuilt WebAssembly module that exports the
	// http-wasm handler interface (handle_request, handle_response), in
	// any language, run by the WebAssembly runtime under the sandbox's
	// limits.
	TierHTTPWasm Tier = "http-wasm"
)

// Known reports whether t is one of the tiers above.
func (t Tier) Known() bool {
	switch t {
	case TierNative, TierSandboxed, TierHTTPWasm:
		return true
	}
	return false
}

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
	// Kind is folder, file, git or upload (see SourceKind).
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
	// Tier is what the artifact was built for: native (.so) or sandboxed
	// (.wasm).
	Tier Tier `json:"tier"`
	// Path is the file on the server the code was opened from: a build cache
	// entry, a runtime's pinned copy, or a file source's own .so file.
	Path string `json:"path"`
	// Digest is "sha256:" and the hex SHA-256 of the artifact file.
	Digest string `json:"digest"`
	// BuildKey is the hex SHA-256 of the build's inputs, naming its cache
	// entry; absent for a prebuilt .so file, which is not built.
	BuildKey string `json:"build_key,omitempty"`
	// UIDigest is "sha256:" and the digest of the plugin's UI files (its
	// ui/ folder), stored with the artifact in its cache entry; absent when
	// it has none, or when the code was not opened from a build cache
	// entry (its UI files are then not served).
	UIDigest string `json:"ui_digest,omitempty"`
	// Cached is whether existing code was reused rather than built now: a
	// build cache hit, and always for a plugin restored at startup.
	Cached bool `json:"cached"`
	// BuildDuration is how long the build took, in nanoseconds (the cached
	// build's own time when Cached); absent when not built or not known.
	BuildDuration time.Duration `json:"build_duration_ns,omitempty"`
}

// Sandbox is what a sandboxed plugin runs with.
type Sandbox struct {
	// Limits are the bounds in force: the manifest's asks, capped by the
	// server's sandbox policy.
	Limits SandboxLimits `json:"limits"`
	// Grants are the capabilities in force.
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
	// MaxRequestBytes caps a request body passed in.
	MaxRequestBytes int64 `json:"max_request_bytes"`
	// MaxResponseBytes caps a response body passed out.
	MaxResponseBytes int64 `json:"max_response_bytes"`
}

// SandboxGrants are the capabilities a sandboxed plugin was given.
type SandboxGrants struct {
	// FileSystem is whether a private data folder is mounted at /data;
	// without it the plugin sees no file system at all.
	FileSystem bool `json:"filesystem"`
	// Network is whether outbound HTTP is allowed, to AllowedHosts only.
	Network bool `json:"network"`
	// AllowedHosts are the "host" (any port) or "host:port" entries it may
	// call, redirects included; absent when none.
	AllowedHosts []string `json:"allowed_hosts,omitempty"`
}

// Permission is a right a plugin may ask for in its manifest.
type Permission struct {
	// Name is what a manifest lists, such as "cluster.read" or
	// "network.egress".
	Name string `json:"name"`
	// Description says what the permission allows.
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
