package host

import (
	"context"
	"time"

	"github.com/kubestellar/ksplugins/internal/runtime"
)

// call runs plugin code that returns only an error under runtime.Contain
// (panics recovered, a time limit): the plugin's own error, or the call's.
func call(ctx context.Context, timeout time.Duration, fn func() error) error {
	return either(runtime.Contain(ctx, timeout, fn))
}

// guardedCall is call through a runtime.Guard, for Health.
func guardedCall(ctx context.Context, g *runtime.Guard, timeout time.Duration, fn func() error) error {
	return either(runtime.Guarded(ctx, g, timeout, fn))
}

// either is the call's own failure if there was one, else the plugin's.
func either(pluginErr, callErr error) error {
	if callErr != nil {
		return callErr
	}
	return pluginErr
}
