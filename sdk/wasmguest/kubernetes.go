//go:build wasip1

package wasmguest

import (
	"net/http"
	"slices"

	"github.com/kubestellar/ksplugins/sdk"
	"github.com/kubestellar/ksplugins/sdk/wasmguest/abi"
)

// kubernetes is the guest's sdk.Kubernetes: the contexts the host sent
// (abi.OpKubernetes), and transports that hand each request to the host,
// which mediates it with the credentials the guest never sees.
type kubernetes struct {
	contexts []string
}

// Contexts implements sdk.Kubernetes.
func (k *kubernetes) Contexts() []string { return slices.Clone(k.contexts) }

// Transport implements sdk.Kubernetes.
func (k *kubernetes) Transport(context string) http.RoundTripper {
	return kubeTransport{context: context}
}

// External implements sdk.Kubernetes.
func (k *kubernetes) External([]byte, string) (string, error) {
	return "", sdk.ErrExternalNotGranted
}

// kubeTransport names its context on each request and sends it through the
// host function; the host serves requests to sdk.KubernetesHost without
// dialling out.
type kubeTransport struct {
	context string
}

// RoundTrip implements http.RoundTripper.
func (t kubeTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(req.Context())
	r.URL.Scheme = "http"
	r.URL.Host = sdk.KubernetesHost
	r.Header.Set(abi.HeaderKubeContext, t.context)
	// A watch's answer never completes: it is read as it arrives.
	w := r.URL.Query().Get("watch")
	return roundTrip(r, w == "true" || w == "1")
}
