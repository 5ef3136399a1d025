package host

import (
	"context"
	"fmt"
	"runtime/debug"
	"time"
)

// PanicError is a panic in plugin code, recovered.
type PanicError struct {
	Value any
	Stack string
}

func (e *PanicError) Error() string { return fmt.Sprintf("panic: %v", e.Value) }

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
