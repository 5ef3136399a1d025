package interrupt

import (
	"context"
	"errors"
	"fmt"

	"github.com/tetratelabs/wazero/api"
)

// ErrInterrupted marks a call that Stopper.Call stopped because its
// context ended.
var ErrInterrupted = errors.New("interrupted")

// Stopper makes calls into one instance of an instrumented module end with
// their context. Calls must not overlap, as wazero requires of a module.
type Stopper struct {
	global  api.MutableGlobal
	stopped chan struct{}
}

// NewStopper returns the Stopper of mod, an instance of a module that
// Instrument rewrote.
func NewStopper(mod api.Module) (*Stopper, error) {
	g, ok := mod.ExportedGlobal(Export).(api.MutableGlobal)
	if !ok {
		return nil, fmt.Errorf("the module does not export the mutable global %s: it was not instrumented", Export)
	}
	return &Stopper{global: g, stopped: make(chan struct{}, 1)}, nil
}

// Call calls fn with stack. Once ctx is done the guest stops at its next
// loop header, and the error wraps ErrInterrupted with the trap; the
// guest's own state is then whatever it was mid-call, so the instance
// should be closed. Either way the global is clear again when Call
// returns: a call that returned before the stop took effect leaves the
// instance as good as before.
func (s *Stopper) Call(ctx context.Context, fn api.Function, stack []uint64) error {
	release := context.AfterFunc(ctx, func() {
		s.global.Set(1)
		s.stopped <- struct{}{}
	})
	err := fn.CallWithStack(ctx, stack)
	if release() {
		return err
	}
	<-s.stopped
	s.global.Set(0)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInterrupted, err)
	}
	return nil
}
