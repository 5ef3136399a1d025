package wasm

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/tetratelabs/wazero/api"

	"github.com/kubestellar/ksplugins/sdk/wasmguest/abi"
)

// Background turns. A guest's goroutines run only while a call into it
// does, so a plugin that answers 202 and goes on working in a goroutine
// (polling with time.Sleep, making Kubernetes requests) would be frozen
// until its next request. When a call leaves goroutines beyond the
// guest's baseline (abi.ResultBackground), the plugin's scheduler gives the
// instance turns: a call of ksp_background that lets those goroutines run
// for up to turnBudget, repeated turnGap after the last pass while work
// remains. Turns go only to idle instances (requests first: a request that
// arrives during a turn waits for that turn alone), so a goroutine that
// never ends costs an instance at most turnBudget of every
// turnBudget+turnGap, a fifth of its time.
const (
	// turnBudget is how long one turn lets a guest's goroutines run.
	turnBudget = 20 * time.Millisecond
	// turnGap is the pause between two passes over the instances with
	// background work: what a sleeping goroutine's timer may fire late by
	// when the plugin serves no requests.
	turnGap = 80 * time.Millisecond
)

// turn runs one background turn of up to budget on in, which the caller
// holds, and records whether background work remains. A turn is a call
// like a request: host functions work inside it, it is bounded by
// Limits.Timeout, and on any error the instance is closed (in.dead).
// Streams opened during a turn end with it: their reads fail once budget
// is spent, so a goroutine reading a watch cannot hold the instance past
// its turn, and what is still open is closed when the turn returns.
func (in *instance) turn(parent context.Context, budget time.Duration) (err error) {
	defer func() {
		if err != nil {
			in.close()
		}
	}()
	ctx, leave := in.enter(parent, budget)
	defer leave()
	in.stack[0] = uint64(budget.Milliseconds())
	if err := in.bg.CallWithStack(context.WithValue(ctx, instanceKey{}, in), in.stack[:1]); err != nil {
		return in.failure("a background turn", err, ctx)
	}
	in.background = api.DecodeI32(in.stack[0]) != 0
	return nil
}

// schedule gives instances with background work their turns until the
// plugin closes. It sleeps on p.wake, which an instance released with
// background work signals, then makes a pass every turnGap until a pass
// finds none left.
func (p *Plugin) schedule() {
	defer p.wg.Done()
	gap := time.NewTimer(turnGap)
	gap.Stop()
	defer gap.Stop()
	for {
		select {
		case <-p.ctx.Done():
			return
		case <-p.wake:
		}
		for more := true; more; {
			gap.Reset(turnGap)
			select {
			case <-p.ctx.Done():
				return
			case <-gap.C:
			}
			more = p.pass()
		}
	}
}

// pass gives a turn to each idle instance with background work, holding
// one instance at a time, and reports whether any still has some. It
// leaves an instance to a request that is waiting, and stops once the
// plugin is unloading: its goroutines then run only within calls.
func (p *Plugin) pass() (more bool) {
	p.mu.Lock()
	stopping := p.life.stopping || p.closed
	p.mu.Unlock()
	if stopping {
		return false
	}
	seen := make(map[*instance]bool, p.limits.PoolSize)
	for range p.limits.PoolSize {
		var in *instance
		select {
		case in = <-p.free:
		default:
			return more
		}
		if seen[in] || len(p.queue) > 0 {
			more = more || in.background
			p.put(in, false)
			return more
		}
		seen[in] = true
		if !in.background {
			p.put(in, false)
			continue
		}
		if err := in.turn(p.ctx, turnBudget); err != nil {
			if p.ctx.Err() != nil {
				return false
			}
			p.lost(in, fmt.Errorf("a background turn: %w", err))
			continue
		}
		more = more || in.background
		p.put(in, false)
	}
	return more
}

// arm makes the guest's first ksp_background call, with no budget: the
// guest takes its baseline and from then on flags background work in its
// results. A module without the export gets no turns.
func (in *instance) arm(ctx context.Context) error {
	if in.bg == nil {
		return nil
	}
	return in.turn(ctx, 0)
}

// hasBackground reports whether the module exports ksp_background with the
// signature this host calls.
func hasBackground(fns map[string]api.FunctionDefinition) bool {
	f, ok := fns[abi.ExportBackground]
	return ok && slices.Equal(f.ParamTypes(), []api.ValueType{api.ValueTypeI32}) &&
		slices.Equal(f.ResultTypes(), []api.ValueType{api.ValueTypeI32})
}
