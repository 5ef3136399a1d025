package sdk

import "net/http"

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
}

// KubernetesUser is implemented by plugins that work on clusters. The host
// calls SetKubernetes once, before Initialize, with access bound to the
// plugin's grant; a reload or update calls it again on the new instance
// with the grant then in force. Both tiers receive it; in the sandboxed
// tier, a watch lasts at most the call (request) that opened it
// (docs/kubernetes.md).
type KubernetesUser interface {
	SetKubernetes(k Kubernetes)
}
