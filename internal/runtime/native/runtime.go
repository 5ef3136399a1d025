package native

import (
	"context"
	"errors"

	apiv1 "github.com/kubestellar/ksplugins/api/v1"

	"github.com/kubestellar/ksplugins/internal/runtime"
	"github.com/kubestellar/ksplugins/sdk"
)

// Runtime is the native tier as a runtime.Runtime: it opens plugin files
// with a Loader and constructs each instance with the plugin's NewPlugin.
type Runtime struct {
	loader *Loader
}

var (
	_ runtime.Runtime = (*Runtime)(nil)
	_ runtime.Pinner  = (*Runtime)(nil)
)

// NewRuntime returns the native tier, opening files with l.
func NewRuntime(l *Loader) *Runtime { return &Runtime{loader: l} }

// Tier is apiv1.TierNative.
func (r *Runtime) Tier() apiv1.Tier { return apiv1.TierNative }

// Open opens the plugin file and calls its NewPlugin, with panics
// recovered and bounded by spec.CallTimeout: a constructor that panics,
// hangs or returns nil is the plugin's failure, a *runtime.PluginError at
// step NewPlugin. The instance's Close frees nothing, since Go cannot
// unload a plugin.
func (r *Runtime) Open(ctx context.Context, a apiv1.Artifact, spec runtime.Spec) (runtime.Instance, error) {
	newPlugin, err := r.loader.Open(ctx, a.Path, a.Digest)
	if err != nil {
		return nil, err
	}
	impl, err := runtime.Contain(ctx, spec.CallTimeout, (func() sdk.KubestellarPlugin)(newPlugin))
	if err == nil && impl == nil {
		err = errors.New("returned nil")
	}
	if err != nil {
		return nil, &runtime.PluginError{ID: spec.ID, Step: sdk.PluginSymbol, Err: err}
	}
	return instance{impl}, nil
}

// Pinned is the loader's own copy of the file with digest, if it opened one.
func (r *Runtime) Pinned(digest string) (string, bool) { return r.loader.Pinned(digest) }

// instance is a constructed native plugin.
type instance struct{ impl sdk.KubestellarPlugin }

func (in instance) Plugin() sdk.KubestellarPlugin { return in.impl }

// Close does nothing: the plugin's code stays mapped for the life of the
// process.
func (instance) Close(context.Context) error { return nil }
