//go:build wasip1

package wasmguest

import (
	"bytes"
	"encoding/json"
	"fmt"
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

// External implements sdk.Kubernetes: the kubeconfig goes to the host,
// which reads it, keeps its credentials and answers the context name; the
// guest keeps nothing of it. The host's errors come back as the same typed
// errors (abi.ExternalError).
func (k *kubernetes) External(kubeconfig []byte, context string) (string, error) {
	body, err := json.Marshal(abi.ExternalRequest{Kubeconfig: kubeconfig, Context: context})
	if err != nil {
		return "", fmt.Errorf("external cluster: %w", err)
	}
	req, err := http.NewRequest(http.MethodPost, "http://"+sdk.KubernetesHost+"/", bytes.NewReader(body))
	if err != nil {
		return "", fmt.Errorf("external cluster: %w", err)
	}
	req.Header.Set(abi.HeaderKubeExternal, "1")
	res, err := roundTrip(req, nil, false)
	if err != nil {
		return "", fmt.Errorf("external cluster: %w", err)
	}
	defer res.Body.Close()
	var out abi.ExternalResult
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil || res.StatusCode != http.StatusOK {
		return "", fmt.Errorf("external cluster: the host answered %d, not an abi.ExternalResult (%v)", res.StatusCode, err)
	}
	if out.Error != nil {
		return "", out.Error.Err()
	}
	return out.Context, nil
}

// kubeTransport names its context on each request and sends it through the
// host function; the host serves requests to sdk.KubernetesHost without
// dialling out.
type kubeTransport struct {
	context string
}

// RoundTrip implements http.RoundTripper.
func (t kubeTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	// A watch's answer never completes: it is read as it arrives.
	return roundTrip(req, &kubeRoute{context: t.context}, abi.IsWatch(req.URL))
}
