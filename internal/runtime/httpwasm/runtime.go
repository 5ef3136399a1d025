// Package httpwasm runs plugins of the http-wasm tier: a prebuilt
// WebAssembly module, written in any language, that exports the http-wasm
// handler interface (handle_request and handle_response, with the host
// functions of the module "http_handler"; https://http-wasm.io) and serves
// the plugin's endpoints through it.
//
// It confines a guest as the sandboxed tier does (package
// internal/runtime/wasm), with the same settings and the same memory
// budget: each instance has its own linear memory capped by the
// manifest's sandbox.memory_mb, a pool of sandbox.pool_size instances and
// a bounded queue serve requests, every call carries the per-call timeout,
// and an instance that times out or traps is discarded and replaced. A
// guest has no file system, environment or network: what it reaches is
// the request it is handed.
//
// The guest is a handler at the end of the chain: a plugin endpoint has no
// next handler behind it. When handle_request returns next=1 the host calls
// handle_response at once, and the answer is whatever the guest set (a
// status of 200 and an empty body unless it set others).
//
// A spinning guest is stopped at its loops, as the sandboxed tier's are
// (package interrupt): each loop spends fuel and, when it runs out, calls
// WASI's sched_yield, where a call past its time ends and where the host's
// garbage collector can stop the world. Most http-wasm guests import
// nothing from WASI, so the rewrite adds the import
// (interrupt.InstrumentAddingYield).
package httpwasm

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	apiv1 "github.com/kubestellar/ksplugins/api/v1"

	"github.com/kubestellar/ksplugins/internal/manifest"
	"github.com/kubestellar/ksplugins/internal/pinned"
	"github.com/kubestellar/ksplugins/internal/policy"
	"github.com/kubestellar/ksplugins/internal/runtime"
	"github.com/kubestellar/ksplugins/internal/runtime/wasm"
	"github.com/kubestellar/ksplugins/internal/runtime/wasmmodule"
	"github.com/kubestellar/ksplugins/sdk"
)

// ManifestSection is the custom section in which a module may carry its
// plugin.yaml, for a module installed as a file alone.
const ManifestSection = "ksplugins.manifest"

var (
	_ runtime.Runtime   = (*Runtime)(nil)
	_ runtime.Pinner    = (*Runtime)(nil)
	_ runtime.Instance  = (*Plugin)(nil)
	_ runtime.Describer = (*Plugin)(nil)
)

// Runtime opens http-wasm modules. It is safe for concurrent use.
type Runtime struct {
	budget *wasm.Runtime
	// pins holds a copy of every self-contained module opened (one that
	// carries its manifest), by digest; nil keeps none.
	pins *pinned.Dir
}

// NewRuntime returns a runtime whose plugins' memory counts against
// sandbox's budget (wasm.Runtime.SetMemoryBudget), with the sandboxed
// plugins', and that keeps a copy of each module it opens that carries
// its own manifest under pinDir ("" for none), so that a restart finds
// the exact plugin again even if its file changed. A module whose
// manifest is a plugin.yaml beside it is not copied: one module may be
// several plugins, each with its own manifest, so its digest alone does
// not say which; such a plugin comes back from its folder, which the
// server keeps for uploads and repositories.
func NewRuntime(sandbox *wasm.Runtime, pinDir string) *Runtime {
	r := &Runtime{budget: sandbox}
	if pinDir != "" {
		pins := pinned.New(pinDir, ".wasm")
		r.pins = &pins
	}
	return r
}

// Pinned is the runtime's own copy of the module with digest, if it
// opened one.
func (r *Runtime) Pinned(digest string) (string, bool) {
	if r.pins == nil {
		return "", false
	}
	return r.pins.Lookup(digest)
}

// pin keeps a copy of code, read from path, unless path is the copy.
func (r *Runtime) pin(path string, code []byte) error {
	if r.pins == nil {
		return nil
	}
	if _, err := r.pins.KeepBytes(path, fmt.Sprintf("sha256:%x", sha256.Sum256(code)), code); err != nil {
		return fmt.Errorf("pinning %s: %w", path, err)
	}
	return nil
}

// Tier is apiv1.TierHTTPWasm.
func (r *Runtime) Tier() apiv1.Tier { return apiv1.TierHTTPWasm }

// Open loads the module at a.Path with the limits wasm.Confine decides
// for spec. Its manifest is spec.Declared, else the plugin.yaml beside the
// module, else the module's ManifestSection. A file that is not an
// http-wasm module is a *runtime.OpenError (wrapping a
// *wasmmodule.ABIError when it exports neither interface), and a load the
// memory budget refuses a *policy.Refusal.
func (r *Runtime) Open(ctx context.Context, a apiv1.Artifact, spec runtime.Spec) (runtime.Instance, error) {
	code, err := os.ReadFile(a.Path)
	if err != nil {
		return nil, &runtime.OpenError{Path: a.Path, Err: err}
	}
	mod, err := wasmmodule.Read(code)
	if err != nil {
		return nil, &runtime.OpenError{Path: a.Path, Err: err}
	}
	tier, err := mod.Classify()
	if err == nil && tier != apiv1.TierHTTPWasm {
		err = fmt.Errorf("the module exports the %s tier's interface, not http-wasm's", tier)
	}
	if err != nil {
		return nil, &runtime.OpenError{Path: a.Path, Err: err}
	}
	md, selfContained := spec.Declared, false
	if md == nil {
		if md, selfContained, err = moduleManifest(a.Path, mod); err != nil {
			return nil, err
		}
		spec.Declared = md
	}
	if spec.ID == "" || spec.ID == filepath.Base(a.Path) {
		spec.ID = md.ID
	}
	lim, _, err := wasm.Confine(spec)
	if err != nil {
		return nil, err
	}
	release, err := r.budget.Reserve(spec.ID, lim)
	if over, ok := errors.AsType[*wasm.BudgetError](err); ok {
		return nil, &policy.Refusal{Rule: wasm.RuleMemoryBudget,
			Message: over.Error() + "; unload a sandboxed plugin, ask for less (sandbox.memory_mb, sandbox.pool_size) or raise " + wasm.RuleMemoryBudget}
	}
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", spec.ID, err)
	}
	opts := Options{ID: spec.ID, Meta: *md, Limits: lim, Logger: spec.Logger, Fault: spec.Fault}
	if spec.Output != nil {
		opts.Output = spec.Output()
	}
	p, err := Load(ctx, code, opts)
	if err != nil {
		release()
		if errors.Is(err, errNotAModule) {
			return nil, &runtime.OpenError{Path: a.Path, Err: err}
		}
		return nil, err
	}
	p.release = release
	if selfContained {
		if err := r.pin(a.Path, code); err != nil {
			// The plugin runs; only a restart after its file changes
			// would miss the copy.
			p.log.Warn("the module was not pinned", "err", err)
		}
	}
	return p, nil
}

// moduleManifest reads the manifest of a module opened without one: the
// plugin.yaml beside it, else the one it carries in ManifestSection, when
// it is selfContained.
func moduleManifest(path string, mod *wasmmodule.Module) (md *sdk.PluginMetadata, selfContained bool, err error) {
	beside := filepath.Join(filepath.Dir(path), "plugin.yaml")
	if _, err := os.Stat(beside); err == nil {
		md, _, err := manifest.ParseFile(beside)
		return md, false, err
	}
	b, ok := mod.Custom[ManifestSection]
	if !ok {
		return nil, false, &runtime.OpenError{Path: path, Err: fmt.Errorf("an http-wasm module needs its manifest: a plugin.yaml beside it, or one in its %q custom section", ManifestSection)}
	}
	md, _, err = manifest.Parse(b)
	if err != nil {
		return nil, false, fmt.Errorf("the manifest in the module's %s section: %w", ManifestSection, err)
	}
	return md, true, nil
}
