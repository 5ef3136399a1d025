package kubeaccess

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httputil"
	"slices"
	"strconv"
	"time"

	"github.com/kubestellar/ksplugins/sdk"
)

// PluginUserPrefix starts the user name a plugin's requests impersonate:
// system:ksplugins:plugin:<plugin id>.
const PluginUserPrefix = "system:ksplugins:plugin:"

// PluginUser is the identity the API server sees for a plugin's requests
// when its handler impersonates.
func PluginUser(pluginID string) string { return PluginUserPrefix + pluginID }

// forwardedHeaders are the request headers passed on to the API server;
// every other header, credentials and Impersonate-* above all, is dropped,
// since a header the plugin chose could change whom the server takes the
// request to be from (Authorization, Impersonate-*, a front proxy's
// X-Remote-User).
var forwardedHeaders = []string{"Accept", "Accept-Encoding", "Content-Type", "Content-Encoding", "User-Agent"}

// Options are one plugin's access to one context.
type Options struct {
	// Plugin is the plugin's id.
	Plugin string
	// Rules are the rules granted to the plugin; Allowed decides with them.
	Rules []sdk.KubernetesRule
	// Impersonate makes the API server act as PluginUser(Plugin) rather
	// than as the host's own user, so that the cluster's RBAC limits the
	// plugin too and its audit log names the plugin. The host's user must
	// be allowed to impersonate that user.
	Impersonate bool
	// Report, when not nil, is called once for every request, allowed or
	// not, after it is answered.
	Report func(Decision)
}

// Decision is what became of one request of a plugin.
type Decision struct {
	// Plugin and Context say who asked, and of which cluster.
	Plugin, Context string
	// External is true when Context names a cluster a caller brought
	// (Externals): such names are made per registration, unbounded, so
	// they suit no metric label.
	External bool
	// Server is the host and port of the context's API server; "" when
	// the context is not one the plugin may reach.
	Server string
	// Attributes are the request as resolved; the zero value, but for
	// Path, when the path was not accepted.
	Attributes Attributes
	// Allowed is true when the request was forwarded.
	Allowed bool
	// Status is the HTTP status answered to the plugin (the API server's
	// own when forwarded); 0 when the plugin went away first.
	Status int
	// Duration is from the request's arrival to the end of the answer,
	// the whole stream for a watch.
	Duration time.Duration
	// Err says why the request was refused or could not be forwarded.
	Err error
}

// ErrNotGranted is the Err of a Decision refusing a request that no rule
// granted to the plugin allows.
var ErrNotGranted = errors.New("no granted rule allows the request")

// ErrUpgrade is the Err of a Decision refusing a connection upgrade (the
// streams of exec, attach and port-forward), which is not mediated.
var ErrUpgrade = errors.New("connection upgrades (exec, attach, port-forward) are not mediated")

// Handler returns the handler through which the plugin of opts reaches u.
// It serves the API server's path space from its root (mount it under a
// prefix with http.StripPrefix): it resolves each request (Resolve),
// answers one that Allowed refuses with the API server's own 403 Status,
// and forwards one it allows with the host's credentials, passing on only
// the headers that describe the content, and streams the answer back as it
// arrives, watches included.
func (u *Upstream) Handler(opts Options) http.Handler {
	opts.Rules = slices.Clone(opts.Rules) // the caller's later edits do not change a grant under way
	h := &handler{up: u, opts: opts}
	h.proxy = &httputil.ReverseProxy{
		Rewrite:       h.rewrite,
		Transport:     u.transport,
		FlushInterval: -1, // a watch's events reach the plugin as they arrive
		ErrorHandler:  h.upstreamError,
	}
	return h
}

type handler struct {
	up    *Upstream
	opts  Options
	proxy *httputil.ReverseProxy
}

// forwarding is one allowed request on its way through the proxy: the
// credentials to add, and what went wrong, for the Decision.
type forwarding struct {
	header http.Header // the host's credentials and impersonation
	err    error
}

type forwardingKey struct{}

func forwardingOf(r *http.Request) *forwarding {
	return r.Context().Value(forwardingKey{}).(*forwarding)
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &recorder{ResponseWriter: w}
	d := Decision{
		Plugin: h.opts.Plugin, Context: h.up.context, External: h.up.external, Server: h.up.server.Host,
		Attributes: Attributes{Path: r.URL.Path},
	}
	if h.opts.Report != nil {
		// Deferred so that a stream the plugin or the server cuts short
		// (the proxy then aborts the handler with http.ErrAbortHandler)
		// is reported too.
		defer func() {
			d.Status, d.Duration = rec.status, time.Since(start)
			h.opts.Report(d)
		}()
	}

	a, err := Resolve(r)
	if err != nil {
		d.Err = err
		writeStatus(rec, status{Code: http.StatusBadRequest, Reason: "BadRequest", Message: fmt.Sprintf("plugin %s: %v", h.opts.Plugin, err)})
		return
	}
	d.Attributes = a
	if r.Header.Get("Upgrade") != "" {
		d.Err = ErrUpgrade
		writeStatus(rec, forbidden(h.opts.Plugin, h.up.context, a, ErrUpgrade.Error()))
		return
	}
	if !Allowed(h.opts.Rules, a) {
		d.Err = ErrNotGranted
		writeStatus(rec, forbidden(h.opts.Plugin, h.up.context, a, ""))
		return
	}
	d.Allowed = true
	f := &forwarding{header: make(http.Header)}
	if err := h.up.authorize(f.header); err != nil {
		// Sent without credentials, the request would be the anonymous
		// user's; fail it instead.
		d.Err = err
		h.unreachable(rec, err)
		return
	}
	if h.opts.Impersonate {
		impersonation{user: PluginUser(h.opts.Plugin)}.set(f.header)
	} else {
		h.up.impersonate.set(f.header)
	}
	h.proxy.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), forwardingKey{}, f)))
	d.Err = f.err
}

func (h *handler) rewrite(pr *httputil.ProxyRequest) {
	pr.SetURL(h.up.server)
	out := make(http.Header, len(forwardedHeaders)+2)
	for _, k := range forwardedHeaders {
		if v := pr.In.Header.Values(k); len(v) > 0 {
			out[k] = v
		}
	}
	for k, v := range forwardingOf(pr.In).header {
		out[k] = v
	}
	pr.Out.Header = out
}

func (h *handler) upstreamError(w http.ResponseWriter, r *http.Request, err error) {
	forwardingOf(r).err = err
	if r.Context().Err() != nil {
		return // the plugin went away; nobody reads an answer
	}
	h.unreachable(w, err)
}

// unreachable answers a request that could not be forwarded.
func (h *handler) unreachable(w http.ResponseWriter, err error) {
	writeStatus(w, status{
		Code: http.StatusServiceUnavailable, Reason: "ServiceUnavailable",
		Message: fmt.Sprintf("plugin %s: the API server of context %s cannot be reached: %v", h.opts.Plugin, h.up.context, err),
	})
}

// status is the API server's Status object (k8s.io/apimachinery's
// metav1.Status), which client-go decodes from an error response.
type status struct {
	Kind       string         `json:"kind"`
	APIVersion string         `json:"apiVersion"`
	Metadata   struct{}       `json:"metadata"`
	Status     string         `json:"status"`
	Message    string         `json:"message,omitempty"`
	Reason     string         `json:"reason,omitempty"`
	Details    *statusDetails `json:"details,omitempty"`
	Code       int            `json:"code"`
}

type statusDetails struct {
	Name  string `json:"name,omitempty"`
	Group string `json:"group,omitempty"`
	Kind  string `json:"kind,omitempty"`
}

// forbidden is the 403 Status the API server answers to a request its
// authorizer refuses, worded as the server words it with the plugin in the
// place of the user: `managedclusters.cluster.open-cluster-management.io
// "c1" is forbidden: plugin "p" was not granted get on resource
// "managedclusters" in API group "cluster.open-cluster-management.io" at
// the cluster scope of context its1`.
func forbidden(plugin, context string, a Attributes, why string) status {
	var reason string
	switch {
	case !a.ResourceRequest:
		reason = fmt.Sprintf("plugin %q was not granted %s on path %q of context %s", plugin, a.Verb, a.Path, context)
	case a.Namespace != "":
		reason = fmt.Sprintf("plugin %q was not granted %s on resource %q in API group %q in the namespace %q of context %s",
			plugin, a.Verb, a.GroupResource(), a.APIGroup, a.Namespace, context)
	default:
		reason = fmt.Sprintf("plugin %q was not granted %s on resource %q in API group %q at the cluster scope of context %s",
			plugin, a.Verb, a.GroupResource(), a.APIGroup, context)
	}
	if why != "" {
		reason += ": " + why
	}
	s := status{Code: http.StatusForbidden, Reason: "Forbidden"}
	if !a.ResourceRequest {
		s.Message = "forbidden: " + reason
		return s
	}
	qualified := a.Resource
	if a.APIGroup != "" {
		qualified += "." + a.APIGroup
	}
	if a.Name == "" {
		s.Message = fmt.Sprintf("%s is forbidden: %s", qualified, reason)
	} else {
		s.Message = fmt.Sprintf("%s %q is forbidden: %s", qualified, a.Name, reason)
	}
	s.Details = &statusDetails{Name: a.Name, Group: a.APIGroup, Kind: a.Resource}
	return s
}

func writeStatus(w http.ResponseWriter, s status) {
	s.Kind, s.APIVersion, s.Status = "Status", "v1", "Failure"
	body, err := json.Marshal(s)
	if err != nil {
		panic(fmt.Sprintf("encode a Status: %v", err)) // plain strings and numbers always encode
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(s.Code)
	_, _ = w.Write(body)
}

// recorder notes the status written through it. It unwraps, so that the
// proxy's flushes reach the server's writer.
type recorder struct {
	http.ResponseWriter
	status int
}

func (w *recorder) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *recorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// ErrContextNotGranted is the Err of a Decision refusing a request for a
// context the plugin may not reach: not granted to it, or not in the
// host's kubeconfig.
var ErrContextNotGranted = errors.New("the context is not granted to the plugin or not in the host's kubeconfig")

// Refuse returns the handler for a context the plugin of opts may not
// reach: it answers every request with the API server's 403 Status, which
// names the context, and reports it as it does the refusals of Handler.
func Refuse(context string, opts Options) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		a, err := Resolve(r)
		if err != nil {
			a = Attributes{Path: r.URL.Path}
		}
		rec := &recorder{ResponseWriter: w}
		writeStatus(rec, forbidden(opts.Plugin, context, a, ErrContextNotGranted.Error()))
		if opts.Report != nil {
			opts.Report(Decision{Plugin: opts.Plugin, Context: context, Attributes: a, Status: rec.status, Duration: time.Since(start), Err: ErrContextNotGranted})
		}
	})
}
