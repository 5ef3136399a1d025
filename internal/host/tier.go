package host

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	apiv1 "github.com/kubestellar/ksplugins/api/v1"

	"github.com/kubestellar/ksplugins/internal/build"
	"github.com/kubestellar/ksplugins/internal/policy"
	"github.com/kubestellar/ksplugins/internal/runtime/wasm"
	"github.com/kubestellar/ksplugins/sdk"
)

// tierFor decides where a plugin runs: sandboxed when its manifest asks,
// when the configuration sandboxes everything, and in strict mode unless a
// trusted key signed it; natively otherwise.
func (h *Host) tierFor(md *sdk.PluginMetadata, signedBy string) build.Tier {
	sys := h.system.Load()
	switch {
	case md != nil && md.Security.Sandboxed, sys.EnableSandboxing:
		return build.Sandboxed
	case sys.SecurityMode == "strict" && signedBy == "":
		return build.Sandboxed
	}
	return build.Native
}

// fileTier is the tier of a prebuilt file, by its extension.
func fileTier(path string) build.Tier {
	if strings.HasSuffix(path, ".wasm") {
		return build.Sandboxed
	}
	return build.Native
}

// sandboxFor is what a sandboxed plugin gets: its manifest's limits capped
// by policy, and the grants it asks for that policy allows.
func (h *Host) sandboxFor(id string, md *sdk.PluginMetadata, granted []string) (wasm.Limits, wasm.Grants, error) {
	pol := h.system.Load().Sandbox
	lim := wasm.DefaultLimits()
	var asked sdk.SandboxConfig
	var sec sdk.SecurityConfig
	if md != nil {
		sec = md.Security
		if md.Sandbox != nil {
			asked = *md.Sandbox
		}
	}
	if asked.PoolSize > 0 {
		if asked.PoolSize > 1 && !asked.Stateless {
			return lim, wasm.Grants{}, fmt.Errorf("sandbox.pool_size: %d instances need sandbox.stateless: true, since each has its own memory", asked.PoolSize)
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
	var g wasm.Grants
	if sec.FileSystemAccess && slices.Contains(granted, PermStorage) && pol.AllowFilesystem && h.opts.DataDir != "" {
		g.DataDir = filepath.Join(h.opts.DataDir, "plugin-data", id)
	}
	if sec.NetworkAccess && slices.Contains(granted, PermNetwork) && pol.AllowNetwork {
		g.Network, g.AllowedHosts = true, asked.AllowedHosts
	}
	return lim, g, nil
}

// openSandboxed runs a WebAssembly artifact in the sandboxed runtime.
func (h *Host) openSandboxed(ctx context.Context, src apiv1.Source, art apiv1.Artifact, declared *sdk.PluginMetadata, grants []string) (sdk.KubestellarPlugin, error) {
	if h.opts.Wasm == nil {
		return nil, fmt.Errorf("load %s: the sandboxed tier is not available in this server", src.Location)
	}
	code, err := os.ReadFile(art.Path)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", src.Location, err)
	}
	id := filepath.Base(src.Location)
	if declared != nil {
		id = declared.ID
	}
	lim, sandbox, err := h.sandboxFor(id, declared, grants)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadSource, err)
	}
	opts := wasm.Options{ID: id, Limits: lim, Grants: sandbox, Logger: h.log, Output: h.outputGate(id)}
	if declared != nil {
		opts.Endpoints = declared.Endpoints
	}
	p, err := h.opts.Wasm.Load(ctx, code, opts)
	var over *wasm.BudgetError
	if errors.As(err, &over) {
		return nil, fmt.Errorf("load %s: %w", src.Location, &policy.Refusal{Rule: RuleSandboxMemory,
			Message: over.Error() + "; unload a sandboxed plugin, ask for less (sandbox.memory_mb, sandbox.pool_size) or raise " + RuleSandboxMemory})
	}
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", src.Location, err)
	}
	return p, nil
}

// RuleSandboxMemory is the policy rule of a load refused because the
// sandboxed instances' memory would pass the system configuration's
// budget; it names the setting.
const RuleSandboxMemory = "sandbox.max_total_memory_mb"

// SandboxInfo is what a sandboxed plugin runs with.
type SandboxInfo struct {
	Limits wasm.Limits `json:"limits"`
	Grants struct {
		FileSystem   bool     `json:"filesystem"`
		Network      bool     `json:"network"`
		AllowedHosts []string `json:"allowed_hosts,omitempty"`
	} `json:"grants"`
}

// sandboxInfo describes impl's limits and grants, if it is sandboxed.
func sandboxInfo(impl sdk.KubestellarPlugin) *apiv1.Sandbox {
	p, ok := impl.(*wasm.Plugin)
	if !ok {
		return nil
	}
	l, g := p.Limits(), p.Grants()
	return &apiv1.Sandbox{
		Limits: apiv1.SandboxLimits{PoolSize: l.PoolSize, QueueSize: l.QueueSize, MemoryBytes: l.Memory,
			TimeoutMs: l.Timeout.Milliseconds(), MaxRequestBytes: l.MaxRequestBytes, MaxResponseBytes: l.MaxResponseBytes},
		Grants: apiv1.SandboxGrants{FileSystem: g.DataDir != "", Network: g.Network, AllowedHosts: g.AllowedHosts},
	}
}
