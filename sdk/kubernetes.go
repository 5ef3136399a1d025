package sdk

import (
	"errors"
	"net/http"
)

// KubernetesHost is the placeholder host name of every mediated API
// server (sdk/kube's rest.Config points at it). Requests for it never
// leave the plugin's tier: a native plugin's transport serves them in the
// host's process, and a sandboxed plugin's host serves them through the
// same mediation instead of dialling out. The .invalid domain (RFC 2606)
// never resolves, so a request that escaped both could reach nobody.
const KubernetesHost = "kubernetes.ksplugins.invalid"

// Kubernetes is a plugin's way to the clusters it was granted (the
// kubernetes section of plugin.yaml, as the security mode decided at
// install). Its requests go through the host, which holds the credentials:
// it lets through only what a granted rule allows, answers the rest with
// the API server's own 403 Status (so client-go reports Forbidden), and
// counts and audits them. Package sdk/kube turns it into a client-go
// rest.Config.
type Kubernetes interface {
	// Contexts are the contexts of the host's kubeconfig the plugin may
	// reach: those granted that the host's kubeconfig has.
	Contexts() []string
	// Transport carries requests to the API server of context. Requests
	// name only the API path (/api/v1/..., /apis/...); the host ignores
	// their scheme and host. A context the plugin may not reach answers
	// every request with a 403 Status.
	Transport(context string) http.RoundTripper
	// External makes a cluster that a caller brought (a kubeconfig in a
	// request, to onboard or validate it) reachable through Transport, and
	// returns the context name to pass to it. The kubeconfig is read as
	// untrusted data, by package sdk/kubeconfig's Parse rules: nothing in it
	// runs, no file it names is read, no proxy it names is used. context
	// names one of its contexts, "" its current one. The host, not the
	// plugin, keeps the credentials it carries, and the plugin's granted
	// rules apply to the cluster as to the host's own contexts. The name
	// holds for this instance of the plugin, until it stops or, when it
	// brings many clusters, until the host releases the least recently
	// used; the same kubeconfig and context brought again get it back.
	//
	// It fails with ErrExternalNotGranted when the plugin was not granted
	// external_clusters, and with the errors of sdk/kubeconfig
	// (*kubeconfig.RefusedError, *kubeconfig.InvalidError,
	// kubeconfig.ErrNoContext) for a kubeconfig the rules refuse, in both
	// tiers, so that a plugin can name the field that is wrong.
	External(kubeconfig []byte, context string) (string, error)
}

// ErrExternalNotGranted is returned by Kubernetes.External when the plugin
// was not granted external_clusters.
var ErrExternalNotGranted = errors.New("external clusters were not granted to this plugin")

// KubernetesUser is implemented by plugins that work on clusters. The host
// calls SetKubernetes once, before Initialize, with access bound to the
// plugin's grant; a reload or update calls it again on the new instance
// with the grant then in force. Both tiers receive it; in the sandboxed
// tier, a watch lasts at most the call (request) that opened it
// (docs/kubernetes.md).
type KubernetesUser interface {
	SetKubernetes(k Kubernetes)
}
