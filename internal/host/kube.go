package host

import (
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"time"

	apiv1 "github.com/kubestellar/ksplugins/api/v1"

	"github.com/kubestellar/ksplugins/internal/config"
	"github.com/kubestellar/ksplugins/internal/kubeaccess"
	"github.com/kubestellar/ksplugins/internal/store"
	"github.com/kubestellar/ksplugins/internal/traffic"
	"github.com/kubestellar/ksplugins/sdk"
	"github.com/kubestellar/ksplugins/sdk/kubeconfig"
)

// auditTimeout bounds writing one refused Kubernetes request to the audit
// log.
const auditTimeout = 5 * time.Second

// externalLabel is the context label of the requests to every cluster a
// caller brought, in metrics, whose labels must stay few.
const externalLabel = "external"

// unknownLabel is the context label of requests for a context the host's
// kubeconfig does not have: the plugin chose the name, and a label per
// name it makes up would grow without bound.
const unknownLabel = "unknown"

// kubeAccess is the sdk.Kubernetes of one instance of a plugin: a handler
// per context it may reach, built from the grant in force when the
// instance started. A reload or update starts a new instance, which gets
// the grant then in force.
type kubeAccess struct {
	contexts []string
	handlers map[string]http.Handler
	// opts are the plugin's mediation options, which Refuse reports with.
	opts kubeaccess.Options
	// externals are the clusters callers brought; nil unless the plugin
	// was granted external_clusters.
	externals *kubeaccess.Externals
}

// kubeAccessFor builds the access of p under grant: the granted contexts
// that the host's kubeconfig has, each with the granted rules, and
// impersonating the plugin's user where the system configuration's
// kubernetes.impersonate says so.
func (h *Host) kubeAccessFor(p *Plugin, grant *apiv1.KubernetesGrant) *kubeAccess {
	opts := kubeaccess.Options{Plugin: p.id, Report: func(d kubeaccess.Decision) { h.reportKube(p, d) }}
	if grant != nil {
		opts.Rules = grant.Rules
	}
	k := &kubeAccess{handlers: map[string]http.Handler{}, opts: opts}
	if grant == nil {
		return k
	}
	if grant.ExternalClusters {
		// At most kubeaccess.DefaultMaxExternal at once.
		k.externals = kubeaccess.NewExternals(opts, kubeaccess.ExternalLimits{
			Denied: func() []netip.Prefix { return config.DeniedNetworks(h.system.Load().Kubernetes) },
		})
	}
	impersonate := h.system.Load().Kubernetes.Impersonate
	for _, name := range grant.Contexts {
		up := h.upstreams[name]
		if up == nil {
			continue // not in the host's kubeconfig: refused, like any other
		}
		k.contexts = append(k.contexts, name)
		o := opts
		o.Impersonate = slices.Contains(impersonate, name) || slices.Contains(impersonate, "*")
		k.handlers[name] = up.Handler(o)
	}
	return k
}

// Contexts implements sdk.Kubernetes.
func (k *kubeAccess) Contexts() []string { return slices.Clone(k.contexts) }

// Transport implements sdk.Kubernetes: the mediation, served in the
// plugin's own process, which is the host's.
func (k *kubeAccess) Transport(context string) http.RoundTripper {
	h, ok := k.handlers[context]
	switch {
	case ok:
	case k.externals != nil:
		h = k.externals.Handler(context)
	default:
		h = kubeaccess.Refuse(context, k.opts)
	}
	return kubeaccess.InProcess(h)
}

// External implements sdk.Kubernetes: it reads the kubeconfig with
// kubeconfig.Parse, the rules for one that is not trusted, and keeps the
// context's credentials with this instance until it stops.
func (k *kubeAccess) External(data []byte, context string) (string, error) {
	if k.externals == nil {
		return "", sdk.ErrExternalNotGranted
	}
	cfg, err := kubeconfig.Parse(data)
	if err != nil {
		return "", fmt.Errorf("read the kubeconfig: %w", err)
	}
	c, err := cfg.Context(context)
	if err != nil {
		return "", fmt.Errorf("read the kubeconfig: %w", err)
	}
	name, err := k.externals.Add(c)
	if err != nil {
		return "", fmt.Errorf("reach context %s of the kubeconfig: %w", c.Name, err)
	}
	return name, nil
}

// close releases the clusters callers brought, once the instance has
// stopped.
func (k *kubeAccess) close() {
	if k != nil && k.externals != nil {
		k.externals.Close()
	}
}

// reportKube counts one of p's Kubernetes requests and queues a refused
// one for the audit log.
func (h *Host) reportKube(p *Plugin, d kubeaccess.Decision) {
	a := d.Attributes
	label := d.Context
	switch {
	case d.External:
		label = externalLabel // its name is one of many, made per registration
	case h.upstreams[d.Context] == nil:
		label = unknownLabel
	}
	p.kubeStats.Record(traffic.KubeRequest{Context: label, Verb: a.Verb, Group: a.APIGroup, Resource: a.GroupResource()}, d.Status, d.Duration)
	if d.Allowed {
		return
	}
	details := map[string]any{
		"context": d.Context, "verb": a.Verb, "group": a.APIGroup, "resource": a.GroupResource(),
		"namespace": a.Namespace, "name": a.Name, "path": a.Path,
	}
	if d.External {
		// The name means nothing to whoever reads the log; the server does.
		details["server"] = d.Server
	}
	if d.Err != nil {
		details["reason"] = d.Err.Error()
	}
	h.auditLater(store.AuditEntry{
		Time: time.Now().UTC(), Actor: "plugin:" + p.id, Action: "kube-denied", Target: p.id,
		Result: store.AuditResult(d.Status), Status: d.Status, Details: details,
	})
}

// KubeStats returns each plugin's Kubernetes request counts, by id.
func (h *Host) KubeStats() map[string][]traffic.KubeSeries {
	out := map[string][]traffic.KubeSeries{}
	for _, p := range h.all() {
		if s := p.kubeStats.Snapshot(); len(s) > 0 {
			out[p.id] = s
		}
	}
	return out
}
