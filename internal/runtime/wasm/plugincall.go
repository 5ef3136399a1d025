package wasm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/kubestellar/ksplugins/sdk"
	"github.com/kubestellar/ksplugins/sdk/wasmguest/abi"
)

var _ sdk.PluginCallerUser = (*Plugin)(nil)

// SetPluginCaller implements sdk.PluginCallerUser: the guest's calls to
// other plugins (plugin_call) go through c, the host's caller for this
// plugin, which checks that the plugin called is a declared dependency.
// Every guest may call; the guest SDK hands its plugin a caller of its own
// when the plugin is an sdk.PluginCallerUser.
func (p *Plugin) SetPluginCaller(c sdk.PluginCaller) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.caller = c
}

// pluginCaller is the caller in force, or nil.
func (p *Plugin) pluginCaller() sdk.PluginCaller {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.caller
}

// serving is the request an instance is serving: the number the guest
// knows it by (abi.CallOK) and its context, which holds what the host
// learned of the caller, credentials included; those stay in the host.
type serving struct {
	id  uint32
	ctx context.Context
}

// serve numbers a request that in is about to serve and makes it the one
// plugin calls naming that number are made for, until done.
func (in *instance) serve(ctx context.Context) (id uint32, done func()) {
	in.requests++
	if in.requests == 0 { // 0 names no request
		in.requests++
	}
	in.serving = serving{id: in.requests, ctx: ctx}
	return in.requests, func() { in.serving = serving{} }
}

// callPlugin makes one call (plugin_call) for in, whose call into the
// guest is ctx's, and frames its outcome. The whole instance waits
// meanwhile, so an instance has at most one call out at a time: a plugin's
// calls in flight are bounded by its pool size, and each by the call
// timeout.
func (p *Plugin) callPlugin(ctx context.Context, in *instance, frame []byte) []byte {
	d := abi.NewDecoder(frame)
	request := d.U32()
	timeout := time.Duration(d.U32()) * time.Millisecond
	id, method, path := d.String(), d.String(), d.String()
	body := d.Bytes()
	if err := d.Err(); err != nil {
		return callRefusal(abi.CallFailed, "malformed call: "+err.Error())
	}
	if int64(len(body)) > p.limits.MaxRequestBytes {
		return callRefusal(abi.CallFailed, fmt.Sprintf("request body of %d bytes exceeds the plugin's limit of %d bytes", len(body), p.limits.MaxRequestBytes))
	}
	c := p.pluginCaller()
	if c == nil {
		return callRefusal(abi.CallUnavailable, fmt.Sprintf("plugin %s calls plugin %s: %v: the host gives the plugin no calls", p.id, id, sdk.ErrDependencyUnavailable))
	}
	// The call has the rights of the request's caller, and no longer than
	// the guest's own call to make it: past that deadline the instance is
	// stopped anyway. Without a request it is anonymous.
	parent := ctx
	if request != 0 {
		if request != in.serving.id {
			return callRefusal(abi.CallOver, fmt.Sprintf("plugin %s calls plugin %s: the request the call was made for has been answered", p.id, id))
		}
		parent = in.serving.ctx
	}
	cctx, cancel := context.WithCancel(parent)
	defer cancel()
	defer context.AfterFunc(ctx, cancel)()
	if deadline, ok := ctx.Deadline(); ok {
		cctx, cancel = context.WithDeadline(cctx, deadline)
		defer cancel()
	}
	if timeout > 0 {
		cctx, cancel = context.WithTimeout(cctx, timeout)
		defer cancel()
	}
	var rd io.Reader
	if len(body) > 0 {
		// The caller may read the body after a timeout, when the guest
		// runs again and its memory may have changed.
		rd = bytes.NewReader(bytes.Clone(body))
	}
	res, err := c.CallPlugin(cctx, id, method, path, rd)
	if err != nil {
		return callRefusal(callKind(cctx, err), err.Error())
	}
	return p.outcome(res)
}

// callKind is the outcome kind of a call that failed with err; ctx is the
// call's context.
func callKind(ctx context.Context, err error) byte {
	switch {
	case errors.Is(err, sdk.ErrUndeclaredDependency):
		return abi.CallUndeclared
	case errors.Is(err, sdk.ErrDependencyUnavailable):
		return abi.CallUnavailable
	case errors.Is(err, context.DeadlineExceeded):
		return abi.CallTimeout
	case errors.Is(err, context.Canceled):
		// The guest's deadline ends a call by two timers, the guest's call's
		// and the call's own, and the first to fire says canceled: a call
		// canceled once its deadline has passed timed out all the same.
		if deadline, ok := ctx.Deadline(); ok && !time.Now().Before(deadline) {
			return abi.CallTimeout
		}
		return abi.CallOver
	}
	return abi.CallFailed
}

func callRefusal(kind byte, msg string) []byte {
	return abi.AppendString([]byte{kind}, msg)
}
