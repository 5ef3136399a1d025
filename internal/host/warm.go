package host

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	apiv1 "github.com/kubestellar/ksplugins/api/v1"

	"github.com/kubestellar/ksplugins/internal/build"
	"github.com/kubestellar/ksplugins/internal/operation"
	"github.com/kubestellar/ksplugins/internal/scaffold"
)

// OpWarmUp is the kind of the warm-up operation.
const OpWarmUp = "warm-up"

// warmUpID is the id of the plugin the warm-up builds. It is never loaded.
const warmUpID = "ksplugins-warm-up"

// WarmUp readies the sandboxed tier in the background once the plugins
// stored before the start are back: it builds a plugin that `ksplugins
// new` would write, for WebAssembly, so that Go's standard library, gin
// and the SDK are compiled for wasip1 in the build cache before an install
// needs them. On a fresh machine that is minutes of compiling, which
// otherwise the first sandboxed install would pay; when the build cache
// already holds the plugin it costs nothing. Its progress is an operation
// of kind OpWarmUp (WarmUpState) and progress events. It does nothing
// when the host has no sandboxed runtime.
func (h *Host) WarmUp() {
	if !h.hasTier(apiv1.TierSandboxed) || h.opts.Builder == nil {
		return
	}
	h.warmUpOn.Store(true)
	h.goBackground(func(ctx context.Context) {
		select {
		case <-h.restored:
		case <-ctx.Done():
			return
		}
		op := h.ops.Start(OpWarmUp, "sandboxed tier", "", h.publish)
		h.warmUp.Store(op)
		op.Finish(nil, h.warmSandbox(ctx, op))
	})
}

// WarmUpState reports the warm-up: off, waiting for the restore, or its
// operation and the error it failed with.
func (h *Host) WarmUpState() (apiv1.WarmUp, error) {
	if !h.warmUpOn.Load() {
		return apiv1.WarmUp{State: "off"}, nil
	}
	op := h.warmUp.Load()
	if op == nil {
		return apiv1.WarmUp{State: "waiting"}, nil
	}
	o, failure := op.Snapshot()
	return apiv1.WarmUp{State: string(o.State), Operation: &o}, failure
}

func (h *Host) warmSandbox(ctx context.Context, op *operation.Op) (err error) {
	done := op.Step(ctx, apiv1.StepBuilding, "compiling Go's standard library, gin and the SDK for the sandboxed tier (WebAssembly): minutes on a fresh machine, once")
	defer func() { done(err) }()
	tmp, err := os.MkdirTemp("", "ksplugins-warm-up-")
	if err != nil {
		return fmt.Errorf("warm up: %w", err)
	}
	defer os.RemoveAll(tmp)
	dir := filepath.Join(tmp, warmUpID)
	if err := scaffold.Write(dir, warmUpID, scaffold.Options{}); err != nil {
		return fmt.Errorf("warm up: write the plugin: %w", err)
	}
	// The plugin is the host's own: nothing in it needs checking.
	if _, err := h.opts.Builder.Build(ctx, dir, build.Sandboxed, build.FullTrust); err != nil {
		return fmt.Errorf("warm up: %w", err)
	}
	h.log.Info("sandboxed tier warmed up")
	return nil
}

// hasTier reports whether the host was given a runtime for tier.
func (h *Host) hasTier(tier apiv1.Tier) bool {
	for _, rt := range h.opts.Runtimes {
		if rt.Tier() == tier {
			return true
		}
	}
	return false
}
