package sdk

import (
	"context"
	"errors"
	"io"
	"net/http"
)

// CallerPluginHeader names the plugin that made a request through
// PluginCaller; like the other caller headers, only the host sets it.
const CallerPluginHeader = CallerHeaderPrefix + "Plugin"

// PluginCaller is a plugin's way to the endpoints of the plugins it
// depends on (the {plugin, version} entries of plugin.yaml's
// dependencies).
//
// A call takes the path the dependency's manifest declares (such as
// "/clusters"), not the /api/plugin-endpoints/ URL, and goes through the
// host as a request from outside would: the dependency's guards (auth,
// roles, permissions, rate limits), body limit and counters apply, and
// the call is audited like one. It carries the rights of whoever called
// the plugin: pass the context of the request being served
// (c.Request.Context()) and the dependency sees the same caller, with
// CallerPluginHeader naming the calling plugin; from a context without
// one the call is anonymous. The host bounds each call by its call
// timeout, besides ctx's own deadline.
type PluginCaller interface {
	// CallPlugin sends method path, with body (nil for none), to the
	// plugin id and returns its answer, whose Body holds it whole. It
	// fails with ErrUndeclaredDependency when id is not among the
	// plugin's declared dependencies, and with ErrDependencyUnavailable
	// when the dependency is not installed, not serving or out of range.
	CallPlugin(ctx context.Context, id, method, path string, body io.Reader) (*http.Response, error)
}

// PluginCallerUser is implemented by plugins that call their
// dependencies, in either tier. The host calls SetPluginCaller once,
// before Initialize; a reload or update calls it again on the new
// instance. A sandboxed plugin's caller sends each call to the host, which
// makes it as for a native plugin, within the sandbox's body limits and
// timeout; the caller's credentials stay in the host, which knows the
// request served by the context passed (a call with the context of a
// request already answered fails with context.Canceled).
type PluginCallerUser interface {
	SetPluginCaller(c PluginCaller)
}

// Errors of PluginCaller.CallPlugin.
var (
	// ErrUndeclaredDependency: the plugin called is not a dependency its
	// caller's manifest declares.
	ErrUndeclaredDependency = errors.New("not a declared dependency")
	// ErrDependencyUnavailable: the dependency is not installed, not
	// serving, or its version is out of the declared range.
	ErrDependencyUnavailable = errors.New("dependency unavailable")
)
