//go:build wasip1

package wasmguest

import (
	"runtime"
	"time"

	"github.com/kubestellar/ksplugins/sdk/wasmguest/abi"
)

// turnStep is how long the export's goroutine sleeps between checks during
// a background turn. Sleeping, not yielding, lets the Go runtime idle in
// the host's nanosleep when every goroutine waits; a step of a millisecond
// ends a turn at most that late once the last background goroutine is gone.
const turnStep = time.Millisecond

// turns is the guest's side of background turns. Only the exports touch
// it, one at a time.
type turns struct {
	// armed: the host has called ksp_background, so it understands
	// abi.ResultBackground and ksp_call may set it.
	armed bool
	// baseline is runtime.NumGoroutine() at the first ksp_background call.
	baseline int
}

// pending reports whether goroutines beyond the baseline exist. It costs
// one runtime.NumGoroutine, a few tens of nanoseconds, so ksp_call asks it
// on every call.
func (t *turns) pending() bool {
	return t.armed && runtime.NumGoroutine() > t.baseline
}

// run lets other goroutines run for up to budget and reports whether
// background work remains.
func (t *turns) run(budget time.Duration) bool {
	if !t.armed {
		t.armed = true
		t.baseline = runtime.NumGoroutine()
	}
	deadline := time.Now().Add(budget)
	for t.pending() {
		left := time.Until(deadline)
		if left <= 0 {
			return true
		}
		time.Sleep(min(turnStep, left))
	}
	return false
}

//go:wasmexport ksp_background
func kspBackground(budgetMs uint32) int32 {
	g := mustGuest()
	if g.turns.run(time.Duration(budgetMs) * time.Millisecond) {
		return 1
	}
	return 0
}

// result packs the result of ksp_call, with abi.ResultBackground when the
// call left background work.
func (g *guest) result() uint64 {
	r := abi.Pack(ptrOf(g.out), uint32(len(g.out)))
	if g.turns.pending() {
		r |= abi.ResultBackground
	}
	return r
}
