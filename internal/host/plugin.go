package host

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/kubestellar/ksplugins/internal/build"
	"github.com/kubestellar/ksplugins/internal/manifest"
	"github.com/kubestellar/ksplugins/sdk"
)

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
//	               │ MaxRestarts in a row
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
	Tier          build.Tier    `json:"tier"`
	Path          string        `json:"path"`
	Digest        string        `json:"digest"`
	BuildKey      string        `json:"build_key,omitempty"`
	Cached        bool          `json:"cached"`
	BuildDuration time.Duration `json:"build_duration_ns,omitempty"`
}

// Plugin is one installed plugin: its identity, state and current instance.
type Plugin struct {
	id string

	// op serialises lifecycle operations (reload, enable, unload, ...) on
	// this plugin; requests never take it.
	op sync.Mutex

	mu       sync.RWMutex
	state    State
	tier     build.Tier     // how its code is built and run
	enabled  bool           // desired: serve requests when running
	config   map[string]any // the operator's configuration; nil: the manifest's
	grants   []string       // the permissions it was granted
	source   Source
	lastErr  string
	warnings []manifest.Problem
	// healthDisabled: the health policy, not an operator, disabled it.
	healthDisabled bool
	// stopHealth ends the plugin's health checker, stopWatch its folder
	// watcher.
	stopHealth, stopWatch context.CancelFunc

	inst    atomic.Pointer[instance]
	stats   stats
	health  healthState
	traffic trafficHistory
}

func (p *Plugin) setState(s State) {
	p.mu.Lock()
	p.state = s
	p.mu.Unlock()
}

func (p *Plugin) getState() State {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.state
}

// instance is one loaded copy of a plugin's code, with the router built from
// its endpoints. Requests hold it through acquire/release so that a retired
// instance is cleaned up only after the requests it was serving finish.
type instance struct {
	impl     sdk.KubestellarPlugin
	meta     sdk.PluginMetadata
	engine   *gin.Engine
	artifact Artifact
	loadedAt time.Time

	inflight atomic.Int64
	retired  atomic.Bool

	// statusCall and metricsCall let one GetStatus and one GetMetrics run
	// at a time: API polls and metric scrapes repeat them.
	statusCall, metricsCall guard
}

// acquire reserves the instance for one request; false means it was retired
// and the caller must look up the current instance again.
func (in *instance) acquire() bool {
	in.inflight.Add(1)
	if in.retired.Load() {
		in.inflight.Add(-1)
		return false
	}
	return true
}

func (in *instance) release() { in.inflight.Add(-1) }

// drain marks the instance retired and waits until its requests finish or
// the timeout passes; it returns how many are still running.
func (in *instance) drain(timeout time.Duration) int64 {
	in.retired.Store(true)
	deadline := time.Now().Add(timeout)
	for {
		n := in.inflight.Load()
		if n == 0 || time.Now().After(deadline) {
			return n
		}
		time.Sleep(2 * time.Millisecond)
	}
}
