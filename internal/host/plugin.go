package host

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	apiv1 "github.com/kubestellar/ksplugins/api/v1"

	"github.com/gin-gonic/gin"

	"github.com/kubestellar/ksplugins/internal/build"
	"github.com/kubestellar/ksplugins/internal/extension"
	"github.com/kubestellar/ksplugins/internal/health"
	"github.com/kubestellar/ksplugins/internal/install"
	"github.com/kubestellar/ksplugins/internal/manifest"
	"github.com/kubestellar/ksplugins/internal/runtime"
	"github.com/kubestellar/ksplugins/internal/traffic"
	"github.com/kubestellar/ksplugins/sdk"
)

// Plugin is one installed plugin: its identity, state and current instance.
type Plugin struct {
	id string

	// op serialises lifecycle operations (reload, enable, unload, ...) on
	// this plugin; requests never take it.
	op sync.Mutex

	mu      sync.RWMutex
	state   apiv1.State
	tier    build.Tier     // how its code is built and run
	enabled bool           // desired: serve requests when running
	config  map[string]any // the operator's configuration; nil: the manifest's
	grants  []string       // the permissions it was granted
	// kube is the access to clusters it was granted, nil if it asked for
	// none; replaced whole, never changed in place.
	kube     *apiv1.KubernetesGrant
	source   apiv1.Source
	lastErr  string
	warnings []manifest.Problem
	// healthDisabled: the health policy, not an operator, disabled it.
	healthDisabled bool
	// followed is the artifact digest Reconcile last tried to bring the
	// plugin to, so that an artifact this server cannot run is tried once,
	// not at every pass.
	followed string
	// requires are the plugins its running instance's manifest depends
	// on; unmet says which of them is not satisfied now, and why, which
	// makes a serving plugin degraded.
	requires []sdk.PluginDependency
	unmet    string
	// settled is closed once a restoring plugin is running or has
	// failed, for the restores of plugins that depend on it to wait for;
	// nil for a plugin that was never restoring.
	settled     chan struct{}
	settledOnce sync.Once
	// stopHealth ends the plugin's health checker, stopWatch its folder
	// watcher.
	stopHealth, stopWatch context.CancelFunc

	inst  atomic.Pointer[instance]
	stats traffic.Counters
	// kubeStats counts its Kubernetes requests, across instances.
	kubeStats traffic.KubeCounters
	health    health.State
	traffic   traffic.History
	// healthCheck lets one Health call run at a time: a check that hangs
	// is not started again on top of itself.
	healthCheck runtime.Guard
}

func (p *Plugin) setState(s apiv1.State) {
	p.mu.Lock()
	p.state = s
	p.mu.Unlock()
}

// servingState is the state of a running, enabled plugin: degraded while
// a dependency is unmet. The caller holds p.mu.
func (p *Plugin) servingState() apiv1.State {
	if p.unmet != "" {
		return apiv1.StateDegraded
	}
	return apiv1.StateActive
}

// serving reports whether a plugin in state s answers its endpoints.
func serving(s apiv1.State) bool { return s == apiv1.StateActive || s == apiv1.StateDegraded }

// settle marks a restoring p as running or failed, once.
func (p *Plugin) settle() {
	if p.settled != nil {
		p.settledOnce.Do(func() { close(p.settled) })
	}
}

func (p *Plugin) getState() apiv1.State {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.state
}

// instance is one loaded copy of a plugin's code, with the router built from
// its endpoints. Requests hold it through acquire/release so that a retired
// instance is cleaned up only after the requests it was serving finish.
type instance struct {
	// rt is the instance in its runtime. Only tests hand the host code
	// without one (nil).
	rt       runtime.Instance
	impl     sdk.KubestellarPlugin
	meta     sdk.PluginMetadata
	engine   *gin.Engine
	artifact apiv1.Artifact
	// ui are the plugin's UI files, nil if it has none.
	ui       *extension.Files
	loadedAt time.Time
	// kube is the Kubernetes access the instance was given, if it uses
	// clusters; close releases what it holds.
	kube *kubeAccess

	inflight atomic.Int64
	retired  atomic.Bool

	// statusCall and metricsCall let one GetStatus and one GetMetrics run
	// at a time: API polls and metric scrapes repeat them.
	statusCall, metricsCall runtime.Guard
}

// newInstance is an instance of code opened by the install pipeline.
func newInstance(o *install.Opened) *instance {
	return &instance{rt: o.Instance, impl: o.Instance.Plugin(), meta: o.Meta, artifact: o.Artifact, ui: o.UI, loadedAt: o.OpenedAt}
}

// close frees what the instance holds in its runtime (a sandboxed
// plugin's instances and memory) and the clusters callers brought it,
// after its lifecycle has ended.
func (in *instance) close(ctx context.Context, log *slog.Logger) {
	in.kube.close()
	if in.rt == nil {
		return
	}
	if err := in.rt.Close(context.WithoutCancel(ctx)); err != nil {
		log.Warn("release plugin code", "err", err)
	}
}

// describe reports the limits and grants the instance runs with, if its
// runtime confines it.
func (in *instance) describe() *apiv1.Sandbox {
	if d, ok := in.rt.(runtime.Describer); ok {
		return d.Describe()
	}
	return nil
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
