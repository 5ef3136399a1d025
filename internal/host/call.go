package host

import (
	"context"
	"errors"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/kubestellar/ksplugins/internal/runtime"
)

// ErrStillRunning means a call into plugin code was not made because the
// previous call of the same method on the same instance has not returned:
// it hung past its time limit and Go cannot stop it.
var ErrStillRunning = errors.New("the previous call is still running")

// PanicError is a panic in plugin code, recovered.
type PanicError = runtime.PanicError

// call runs plugin code with panics recovered and a time limit. A call that
// outlives the limit is abandoned: Go has no way to stop it.
func call(ctx context.Context, timeout time.Duration, fn func() error) error {
	err, callErr := callValue(ctx, timeout, fn)
	if callErr != nil {
		return callErr
	}
	return err
}

// callValue is call for plugin code that returns a value; the error is the
// call's own failure (panic or timeout).
func callValue[T any](ctx context.Context, timeout time.Duration, fn func() T) (T, error) {
	return runtime.Contain(ctx, timeout, fn)
}

// safeValue runs plugin code with panics recovered, on the caller's
// goroutine, for calls that must not be abandoned half-way.
func safeValue[T any](fn func() T) (v T, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = &PanicError{Value: p, Stack: string(debug.Stack())}
		}
	}()
	return fn(), nil
}

// guard lets one call of a plugin method run at a time on an instance.
type guard struct{ busy atomic.Bool }

// running reports whether a call through g has not returned yet.
func (g *guard) running() bool { return g.busy.Load() }

// guardedCall is guardedValue for plugin code that returns only an error
// (Health).
func guardedCall(ctx context.Context, g *guard, timeout time.Duration, fn func() error) error {
	err, callErr := guardedValue(ctx, g, timeout, fn)
	if callErr != nil {
		return callErr
	}
	return err
}

// guardedValue is callValue for plugin code that scrapes and polls repeat
// (GetStatus, GetMetrics). callValue abandons a call that outlives its
// limit, so without the guard a plugin that hangs would keep one more
// goroutine per scrape; with it, while the previous call through g has not
// returned, a new one fails at once with ErrStillRunning.
func guardedValue[T any](ctx context.Context, g *guard, timeout time.Duration, fn func() T) (T, error) {
	if !g.busy.CompareAndSwap(false, true) {
		var zero T
		return zero, ErrStillRunning
	}
	return callValue(ctx, timeout, func() T {
		// Released when the plugin returns, not when the caller stops
		// waiting: that is what keeps a hung call from being repeated.
		defer g.busy.Store(false)
		return fn()
	})
}
