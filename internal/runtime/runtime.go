// Package runtime is the contract between the host and the tiers that run
// plugin code. The host knows plugins only through it: a tier is a Runtime
// registered with the host, and nothing in the host names a concrete one.
//
// # Contract
//
// A Runtime is small on purpose: it says which tier it runs (Tier) and it
// opens an artifact of that tier into an Instance (Open). Everything a tier
// does beyond that is an optional interface the host discovers with a type
// assertion on the interface, never on a concrete type, in the manner of
// Caddy's modules: Configurable for a runtime that follows the live system
// configuration, Pinner for one that keeps its own copy of what it opened,
// Describer for an instance with limits and grants to report.
//
// # Lifecycle
//
// For one plugin instance, in order:
//
//  1. Open: the runtime loads the artifact and constructs the plugin (a
//     native plugin's NewPlugin, a sandboxed plugin's instances). The host
//     decides everything the runtime needs to know in the Spec: the
//     plugin's id, its declared manifest, its granted permissions, the
//     sandbox policy, its private folder, its logger and output gate, and
//     the time limit of a call into its code. An Open that fails leaves
//     nothing behind.
//  2. Serve: the host drives the instance through Plugin, the
//     sdk.KubestellarPlugin every tier presents: GetMetadata, Validate,
//     Initialize, OnLoad, the handlers of GetHandlers for requests,
//     OnConfigChange, Health, GetStatus and GetMetrics. The host bounds
//     and contains every such call; a runtime may contain them further (the
//     sandbox does, with its own limits).
//  3. Describe: an instance that implements Describer reports the limits
//     and grants it runs with, for the management API.
//  4. Close: after OnUnload and Cleanup, the host calls Close once; the
//     runtime frees what the instance holds. A tier that cannot free its
//     code (Go cannot unload a native plugin) returns nil.
package runtime

import (
	"context"
	"log/slog"
	"time"

	apiv1 "github.com/kubestellar/ksplugins/api/v1"

	"github.com/kubestellar/ksplugins/internal/config"
	"github.com/kubestellar/ksplugins/internal/pluginlog"
	"github.com/kubestellar/ksplugins/sdk"
)

// Runtime runs the plugin code of one tier. It is safe for concurrent use.
type Runtime interface {
	// Tier is the tier whose artifacts Open takes.
	Tier() apiv1.Tier
	// Open loads an artifact of Tier and constructs the plugin in it.
	Open(ctx context.Context, a apiv1.Artifact, spec Spec) (Instance, error)
}

// Spec is what the host decided about one plugin instance before it is
// opened.
type Spec struct {
	// ID is the plugin's id: the one its manifest declares, else the name of
	// its artifact. It names the plugin in logs and errors.
	ID string
	// Declared is the plugin.yaml the artifact was built from, nil for a
	// prebuilt file. What it declares (endpoints, sandbox limits, the access
	// it asks for) takes precedence over what the code reports.
	Declared *sdk.PluginMetadata
	// Granted are the permissions the plugin was granted.
	Granted []string
	// Sandbox caps the limits and grants a tier that confines code may
	// give.
	Sandbox config.SandboxPolicy
	// DataDir is the plugin's private folder, for a tier that can give
	// one to a plugin granted storage; empty means none.
	DataDir string
	// CallTimeout bounds each call into plugin code made while opening; a
	// tier with limits of its own (the sandbox's per-call timeout) may
	// apply those instead.
	CallTimeout time.Duration
	// Logger receives the runtime's reports about the plugin.
	Logger *slog.Logger
	// Output returns the gate that bounds what of the plugin's own output
	// reaches Logger; the host keeps one per plugin id, so that it outlives
	// reloads. Only a runtime that passes the plugin's output on calls it,
	// so that a plugin without output has no gate. Nil means none.
	Output func() *pluginlog.Gate
	// Fault, when set, is told each time the runtime discarded a copy of
	// the plugin that failed and carried on without it: a sandboxed
	// instance whose call (a request, a lifecycle call or a background
	// turn) hung, crashed or answered nonsense, replaced by a fresh one.
	// It must not block.
	Fault func(cause error)
}

// Instance is one opened copy of a plugin's code.
type Instance interface {
	// Plugin is the plugin the host drives, with whichever optional sdk
	// interfaces (sdk.EventSource) the code implements.
	Plugin() sdk.KubestellarPlugin
	// Close frees what the instance holds. The host calls it once, after
	// the plugin's OnUnload and Cleanup, or after a failed start.
	Close(ctx context.Context) error
}

// Configurable is a Runtime whose settings follow the live system
// configuration (the sandbox's memory budget). The host calls Configure at
// start and on every change.
type Configurable interface {
	Configure(sys config.System)
}

// Pinner is a Runtime that keeps its own copy of each artifact it opened,
// by digest, so that a restart finds the exact code again even if the
// original file is gone.
type Pinner interface {
	Pinned(digest string) (path string, ok bool)
}

// Describer is an Instance with limits and grants to report.
type Describer interface {
	Describe() *apiv1.Sandbox
}
