package host

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/kubestellar/ksplugins/internal/gateway"
	"github.com/kubestellar/ksplugins/sdk"
)

// maxCallAnswer bounds the answer of one plugin's call to another, which
// is held in memory whole.
const maxCallAnswer = 8 << 20

// maxCallDepth bounds a chain of calls between plugins, each made while
// serving the call before it. Dependencies cannot form a cycle, so a chain
// is as long as the dependency graph is deep at most; the bound keeps a
// plugin that finds a way around that from calling on without end.
const maxCallDepth = 16

// ErrCallDepth refuses a call between plugins made at the end of a chain
// of maxCallDepth calls.
var ErrCallDepth = fmt.Errorf("a chain of calls between plugins is limited to %d calls", maxCallDepth)

// callDepthKey carries, in the context of a request one plugin's call made,
// how many calls led to it.
type callDepthKey struct{}

// pluginCaller is the sdk.PluginCaller an instance of plugin from gets:
// calls to the dependencies that instance's manifest declares, through
// the request path an outside request takes.
type pluginCaller struct {
	h    *Host
	from string
	// declared are the instance's own dependencies: a reload with other
	// ones gives its new instance another caller.
	declared []sdk.PluginDependency
}

var _ sdk.PluginCaller = pluginCaller{}

// CallPlugin implements sdk.PluginCaller.
func (c pluginCaller) CallPlugin(ctx context.Context, id, method, path string, body io.Reader) (*http.Response, error) {
	i := slices.IndexFunc(c.declared, func(d sdk.PluginDependency) bool { return d.Plugin == id })
	if i < 0 {
		return nil, fmt.Errorf("plugin %s calls plugin %s: %w: add {plugin: %s} to the dependencies of its plugin.yaml", c.from, id, sdk.ErrUndeclaredDependency, id)
	}
	if d := c.h.dependencies(c.declared[i : i+1])[0]; !d.Satisfied {
		return nil, fmt.Errorf("plugin %s calls plugin %s (%s): %w: %s", c.from, id, rangeText(d.Range), sdk.ErrDependencyUnavailable, d.Reason)
	}
	depth, _ := ctx.Value(callDepthKey{}).(int)
	if depth >= maxCallDepth {
		return nil, fmt.Errorf("plugin %s calls plugin %s: %w", c.from, id, ErrCallDepth)
	}
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	// The dependency's request is made under ctx, so a call it makes in
	// turn finds the depth.
	ctx = context.WithValue(ctx, callDepthKey{}, depth+1)
	ctx, cancel := context.WithTimeout(ctx, c.h.opts.CallTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, EndpointPrefix+id+path, body)
	if err != nil {
		return nil, fmt.Errorf("plugin %s calls plugin %s: %w", c.from, id, err)
	}
	if bearer := gateway.Bearer(ctx); bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	rec := &answer{header: http.Header{}}
	route, _, _ := strings.Cut(path, "?")
	// A native handler that ignores its context cannot be stopped: past
	// the deadline it is abandoned, as every call into plugin code is, and
	// what it writes later is dropped.
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.h.serveEndpoint(rec, req, id, route, c.from)
	}()
	select {
	case <-done:
	case <-ctx.Done():
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rec.closed = true
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("plugin %s calls plugin %s %s %s: %w", c.from, id, method, path, err)
	}
	if rec.overflow {
		return nil, fmt.Errorf("plugin %s calls plugin %s: the answer is over %d bytes", c.from, id, maxCallAnswer)
	}
	status := rec.status
	if status == 0 {
		status = http.StatusOK
	}
	return &http.Response{
		Status: fmt.Sprintf("%d %s", status, http.StatusText(status)), StatusCode: status,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: rec.header.Clone(), Body: io.NopCloser(bytes.NewReader(rec.body.Bytes())), ContentLength: int64(rec.body.Len()),
		Request: req,
	}, nil
}

// answer is the http.ResponseWriter of a call between plugins: it keeps
// the answer in memory, up to maxCallAnswer, until the call is over
// (closed); an abandoned handler's later writes fail.
type answer struct {
	header http.Header // the handler's own until it writes the status

	mu       sync.Mutex
	status   int
	body     bytes.Buffer
	overflow bool
	closed   bool
}

func (a *answer) Header() http.Header { return a.header }

func (a *answer) WriteHeader(status int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.status == 0 && !a.closed {
		a.status = status
	}
}

func (a *answer) Write(b []byte) (int, error) {
	a.WriteHeader(http.StatusOK)
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case a.closed:
		return 0, errCallOver
	case a.body.Len()+len(b) > maxCallAnswer:
		a.overflow = true
		return 0, fmt.Errorf("answer over %d bytes", maxCallAnswer)
	}
	return a.body.Write(b)
}

// errCallOver is what an abandoned handler's writes get.
var errCallOver = errors.New("the call is over: its deadline passed")
