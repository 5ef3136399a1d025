package wasm

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	apiv1 "github.com/kubestellar/ksplugins/api/v1"

	"github.com/kubestellar/ksplugins/internal/config"
	"github.com/kubestellar/ksplugins/internal/manifest"
	"github.com/kubestellar/ksplugins/internal/policy"
	"github.com/kubestellar/ksplugins/internal/runtime"
	"github.com/kubestellar/ksplugins/sdk"
)

// RuleMemoryBudget is the policy rule of a load refused because the
// sandboxed instances' memory would pass the system configuration's
// budget; it names the setting.
const RuleMemoryBudget = "sandbox.max_total_memory_mb"

var (
	_ runtime.Runtime      = (*Runtime)(nil)
	_ runtime.Configurable = (*Runtime)(nil)
	_ runtime.Instance     = (*Plugin)(nil)
	_ runtime.Describer    = (*Plugin)(nil)
)

// Tier is apiv1.TierSandboxed.
func (r *Runtime) Tier() apiv1.Tier { return apiv1.TierSandboxed }

// Configure applies the system configuration's memory budget.
func (r *Runtime) Configure(sys config.System) {
	r.SetMemoryBudget(int64(sys.Sandbox.MaxTotalMemoryMB) << 20)
}

// Open loads the module at a.Path with the limits and grants Confine
// decides for spec. A load the memory budget refuses is a
// *policy.Refusal of RuleMemoryBudget; a file that is not a sandboxed
// plugin is a *runtime.OpenError, and a guest whose GetMetadata fails a
// *runtime.PluginError.
func (r *Runtime) Open(ctx context.Context, a apiv1.Artifact, spec runtime.Spec) (runtime.Instance, error) {
	code, err := os.ReadFile(a.Path)
	if err != nil {
		return nil, &runtime.OpenError{Path: a.Path, Err: err}
	}
	lim, grants, err := Confine(spec)
	if err != nil {
		return nil, err
	}
	opts := Options{ID: spec.ID, Limits: lim, Grants: grants, Logger: spec.Logger, Fault: spec.Fault}
	if spec.Output != nil {
		opts.Output = spec.Output()
	}
	if spec.Declared != nil {
		opts.Endpoints = spec.Declared.Endpoints
	}
	p, err := r.Load(ctx, code, opts)
	if over, ok := errors.AsType[*BudgetError](err); ok {
		return nil, &policy.Refusal{Rule: RuleMemoryBudget,
			Message: over.Error() + "; unload a sandboxed plugin, ask for less (sandbox.memory_mb, sandbox.pool_size) or raise " + RuleMemoryBudget}
	}
	switch {
	case errors.Is(err, errNotAPlugin):
		return nil, &runtime.OpenError{Path: a.Path, Err: err}
	case errors.Is(err, errGuestMetadata):
		return nil, &runtime.PluginError{ID: spec.ID, Step: "GetMetadata", Err: err}
	}
	if err != nil {
		return nil, err
	}
	return p, nil
}

// Confine decides what a plugin gets: its manifest's limits capped by the
// sandbox policy, and the access it asks for that it was granted and
// policy allows. A manifest whose sandbox settings contradict each other
// is a *manifest.Error.
func Confine(spec runtime.Spec) (Limits, Grants, error) {
	pol := spec.Sandbox
	lim := DefaultLimits()
	var asked sdk.SandboxConfig
	var sec sdk.SecurityConfig
	if md := spec.Declared; md != nil {
		sec = md.Security
		if md.Sandbox != nil {
			asked = *md.Sandbox
		}
	}
	if asked.PoolSize > 0 {
		if asked.PoolSize > 1 && !asked.Stateless {
			return lim, Grants{}, &manifest.Error{File: "plugin.yaml", Problems: []manifest.Problem{{Field: "sandbox.pool_size",
				Message: fmt.Sprintf("%d instances need sandbox.stateless: true, since each has its own memory", asked.PoolSize)}}}
		}
		lim.PoolSize = min(asked.PoolSize, pol.MaxPoolSize)
	}
	if asked.QueueSize > 0 {
		lim.QueueSize = asked.QueueSize
	}
	if asked.MemoryMB > 0 {
		lim.Memory = int64(asked.MemoryMB) << 20
	}
	lim.Memory = min(lim.Memory, int64(pol.MaxMemoryMB)<<20)
	if asked.TimeoutMs > 0 {
		lim.Timeout = time.Duration(asked.TimeoutMs) * time.Millisecond
	}
	lim.Timeout = min(lim.Timeout, time.Duration(pol.MaxTimeoutMs)*time.Millisecond)
	if asked.MaxRequestBytes > 0 {
		lim.MaxRequestBytes = int64(asked.MaxRequestBytes)
	}
	if asked.MaxResponseBytes > 0 {
		lim.MaxResponseBytes = int64(asked.MaxResponseBytes)
	}
	var g Grants
	if sec.FileSystemAccess && slices.Contains(spec.Granted, policy.PermStorage) && pol.AllowFilesystem && spec.DataDir != "" {
		g.DataDir = spec.DataDir
	}
	if sec.NetworkAccess && slices.Contains(spec.Granted, policy.PermNetwork) && pol.AllowNetwork {
		g.Network, g.AllowedHosts = true, asked.AllowedHosts
	}
	return lim, g, nil
}

// Plugin is p itself: the sandbox presents the guest as an
// sdk.KubestellarPlugin.
func (p *Plugin) Plugin() sdk.KubestellarPlugin { return p }

// Describe reports the limits and grants p runs with.
func (p *Plugin) Describe() *apiv1.Sandbox {
	l, g := p.Limits(), p.Grants()
	return &apiv1.Sandbox{
		Limits: l.SandboxLimits(),
		Grants: apiv1.SandboxGrants{FileSystem: g.DataDir != "", Network: g.Network, AllowedHosts: g.AllowedHosts},
	}
}
