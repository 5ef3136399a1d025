package runtime

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync/atomic"
	"time"
)

// PluginError is a failure of the plugin's own code during a lifecycle
// step.
type PluginError struct {
	ID   string // the plugin
	Step string // "Validate", "Initialize", "OnLoad", "NewPlugin", ...
	Err  error
}

func (e *PluginError) Error() string { return fmt.Sprintf("plugin %s: %s: %v", e.ID, e.Step, e.Err) }

func (e *PluginError) Unwrap() error { return e.Err }

// OpenError is an artifact that a runtime cannot open as a plugin: not a
// plugin of its tier, built for another host, or one whose initialisation
// failed.
type OpenError struct {
	Path string
	Err  error
}

func (e *OpenError) Error() string { return fmt.Sprintf("open %s: %v", e.Path, e.Err) }

func (e *OpenError) Unwrap() error { return e.Err }

// PanicError is a panic in plugin code, recovered.
type PanicError struct {
	Value any
	Stack string
}

func (e *PanicError) Error() string { return fmt.Sprintf("panic: %v", e.Value) }

// Contain runs plugin code that returns a value with panics recovered and
// a time limit; the error is the call's own failure (a *PanicError or the
// timeout). A call that outlives the limit is abandoned: Go has no way to
// stop it.
func Contain[T any](ctx context.Context, timeout time.Duration, fn func() T) (T, error) {
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		var r result
		defer func() {
			if p := recover(); p != nil {
				r.err = &PanicError{Value: p, Stack: string(debug.Stack())}
			}
			done <- r
		}()
		r.v = fn()
	}()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	select {
	case r := <-done:
		return r.v, r.err
	case <-ctx.Done():
		var zero T
		return zero, fmt.Errorf("no answer within %s: %w", timeout, ctx.Err())
	}
}

// ErrStillRunning means a call into plugin code was not made because the
// previous call of the same method on the same instance has not returned:
// it hung past its time limit and Go cannot stop it.
var ErrStillRunning = errors.New("the previous call is still running")

// Guard lets one call of a plugin method run at a time on an instance. The
// zero value is ready to use.
type Guard struct{ busy atomic.Bool }

// Running reports whether a call through g has not returned yet.
func (g *Guard) Running() bool { return g.busy.Load() }

// Guarded is Contain for plugin code that scrapes and polls repeat
// (GetStatus, GetMetrics, Health). Contain abandons a call that outlives
// its limit, so without the guard a plugin that hangs would keep one more
// goroutine per scrape; with it, while the previous call through g has not
// returned, a new one fails at once with ErrStillRunning.
func Guarded[T any](ctx context.Context, g *Guard, timeout time.Duration, fn func() T) (T, error) {
	if !g.busy.CompareAndSwap(false, true) {
		var zero T
		return zero, ErrStillRunning
	}
	return Contain(ctx, timeout, func() T {
		// Released when the plugin returns, not when the caller stops
		// waiting: that is what keeps a hung call from being repeated.
		defer g.busy.Store(false)
		return fn()
	})
}

// Safe runs plugin code with panics recovered, on the caller's goroutine,
// for calls that must not be abandoned half-way.
func Safe[T any](fn func() T) (v T, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = &PanicError{Value: p, Stack: string(debug.Stack())}
		}
	}()
	return fn(), nil
}
