package wasm

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	apiv1 "github.com/kubestellar/ksplugins/api/v1"

	"github.com/kubestellar/ksplugins/internal/config"
	"github.com/kubestellar/ksplugins/internal/manifest"
	"github.com/kubestellar/ksplugins/internal/policy"
	"github.com/kubestellar/ksplugins/internal/runtime"
	"github.com/kubestellar/ksplugins/sdk"
)

// TestConfine decides limits and grants from the manifest, the grant and
// the policy: the manifest may ask for less than the policy allows, never
// more, and reaches the network or a folder only when it asks, was granted
// and policy allows.
func TestConfine(t *testing.T) {
	const mib = 1 << 20
	pol := config.SandboxPolicy{MaxMemoryMB: 256, MaxTimeoutMs: 10000, MaxPoolSize: 4, AllowNetwork: true, AllowFilesystem: true}
	both := sdk.SecurityConfig{NetworkAccess: true, FileSystemAccess: true}
	granted := []string{policy.PermNetwork, policy.PermStorage}
	md := func(sec sdk.SecurityConfig, sb *sdk.SandboxConfig) *sdk.PluginMetadata {
		return &sdk.PluginMetadata{ID: "p", Security: sec, Sandbox: sb}
	}
	tests := []struct {
		name      string
		spec      runtime.Spec
		limits    Limits
		dataDir   string
		network   bool
		badConfig bool
	}{
		{"no manifest: defaults", runtime.Spec{Sandbox: pol}, DefaultLimits(), "", false, false},
		{"asks for less", runtime.Spec{Sandbox: pol, Declared: md(sdk.SecurityConfig{}, &sdk.SandboxConfig{MemoryMB: 32, TimeoutMs: 100, QueueSize: 3})},
			Limits{PoolSize: 1, QueueSize: 3, Memory: 32 * mib, Timeout: 100 * time.Millisecond, MaxRequestBytes: 1 << 20, MaxResponseBytes: 4 << 20}, "", false, false},
		{"asks for more than policy", runtime.Spec{Sandbox: pol, Declared: md(sdk.SecurityConfig{}, &sdk.SandboxConfig{MemoryMB: 1024, TimeoutMs: 60000, PoolSize: 8, Stateless: true})},
			Limits{PoolSize: 4, QueueSize: 64, Memory: 256 * mib, Timeout: 10 * time.Second, MaxRequestBytes: 1 << 20, MaxResponseBytes: 4 << 20}, "", false, false},
		{"a pool of stateful instances", runtime.Spec{Sandbox: pol, Declared: md(sdk.SecurityConfig{}, &sdk.SandboxConfig{PoolSize: 2})}, Limits{}, "", false, true},
		{"asked, granted, allowed", runtime.Spec{Sandbox: pol, Declared: md(both, nil), Granted: granted, DataDir: "/data/p"}, DefaultLimits(), "/data/p", true, false},
		{"asked, not granted", runtime.Spec{Sandbox: pol, Declared: md(both, nil), DataDir: "/data/p"}, DefaultLimits(), "", false, false},
		{"granted, not asked", runtime.Spec{Sandbox: pol, Declared: md(sdk.SecurityConfig{}, nil), Granted: granted, DataDir: "/data/p"}, DefaultLimits(), "", false, false},
		{"policy forbids", runtime.Spec{Sandbox: config.SandboxPolicy{MaxMemoryMB: 256, MaxTimeoutMs: 10000, MaxPoolSize: 4}, Declared: md(both, nil), Granted: granted, DataDir: "/data/p"}, DefaultLimits(), "", false, false},
		{"no folder to give", runtime.Spec{Sandbox: pol, Declared: md(both, nil), Granted: granted}, DefaultLimits(), "", true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lim, g, err := Confine(tt.spec)
			if tt.badConfig {
				if _, ok := errors.AsType[*manifest.Error](err); !ok {
					t.Fatalf("err = %v; want a manifest error", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if lim != tt.limits {
				t.Errorf("limits = %+v; want %+v", lim, tt.limits)
			}
			if g.DataDir != tt.dataDir || g.Network != tt.network {
				t.Errorf("grants = %+v; want folder %q, network %v", g, tt.dataDir, tt.network)
			}
		})
	}
}

// TestOpen opens a module as the host does, through the runtime interface:
// the instance describes its limits, and a load past the memory budget
// the configuration sets is a policy refusal that names the setting.
func TestOpen(t *testing.T) {
	ctx := context.Background()
	r := newRuntime(t)
	path := filepath.Join(t.TempDir(), "hello.wasm")
	if err := os.WriteFile(path, fixtures.hello, 0o600); err != nil {
		t.Fatal(err)
	}
	var rt runtime.Runtime = r
	spec := runtime.Spec{ID: "hello", Sandbox: config.DefaultSystem().Sandbox,
		Declared: &sdk.PluginMetadata{ID: "hello", Sandbox: &sdk.SandboxConfig{MemoryMB: 64}}}
	in, err := rt.Open(ctx, apiv1.Artifact{Tier: apiv1.TierSandboxed, Path: path}, spec)
	if err != nil {
		t.Fatal(err)
	}
	if d := in.(runtime.Describer).Describe(); d.Limits.MemoryBytes != 64<<20 || d.Grants.Network || d.Grants.FileSystem {
		t.Errorf("Describe = %+v", d)
	}
	if got := in.Plugin().GetMetadata().ID; got == "" {
		t.Error("the plugin reports no id")
	}

	sys := config.DefaultSystem()
	sys.Sandbox.MaxTotalMemoryMB = 100
	rt.(runtime.Configurable).Configure(sys)
	_, err = rt.Open(ctx, apiv1.Artifact{Tier: apiv1.TierSandboxed, Path: path}, spec)
	refusal, ok := errors.AsType[*policy.Refusal](err)
	if !ok || refusal.Rule != RuleMemoryBudget || !strings.Contains(refusal.Message, RuleMemoryBudget) {
		t.Fatalf("over the budget: %v; want a refusal of %s", err, RuleMemoryBudget)
	}
	if err := in.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := rt.Open(ctx, apiv1.Artifact{Tier: apiv1.TierSandboxed, Path: path}, spec); err != nil {
		t.Fatalf("after Close gave its memory back: %v", err)
	}
}

// TestOpenRefusesWhatIsNotAPlugin: a file the tier cannot open is a
// runtime.OpenError, as the contract says, so that the API answers 422
// invalid_plugin and not 500.
func TestOpenRefusesWhatIsNotAPlugin(t *testing.T) {
	ctx := context.Background()
	r := newRuntime(t)
	dir := t.TempDir()
	tests := []struct {
		name string
		code []byte // nil: no file at all
	}{
		{"missing file", nil},
		{"not WebAssembly", []byte("#!/bin/sh\necho hi\n")},
		{"a module without the guest adapter", []byte("\x00asm\x01\x00\x00\x00")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "-")+".wasm")
			if tt.code != nil {
				if err := os.WriteFile(path, tt.code, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			_, err := r.Open(ctx, apiv1.Artifact{Tier: apiv1.TierSandboxed, Path: path}, runtime.Spec{ID: "x", Sandbox: config.DefaultSystem().Sandbox})
			oerr, ok := errors.AsType[*runtime.OpenError](err)
			if !ok || oerr.Path != path {
				t.Fatalf("Open: %v (%T); want a *runtime.OpenError for %s", err, err, path)
			}
		})
	}
}
