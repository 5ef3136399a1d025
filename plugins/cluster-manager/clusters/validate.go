package clusters

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Connectivity is what a connectivity check found.
type Connectivity struct {
	Reachable bool `json:"reachable"`
	// Server is the address a caller's kubeconfig names; "" for a context
	// of the host, whose addresses the host keeps.
	Server  string `json:"server"`
	Version string `json:"version,omitempty"`
	Nodes   int    `json:"nodes"`
	Error   string `json:"error,omitempty"`
}

// Validate checks that the cluster t names answers: its version and its
// nodes. A kubeconfig that cannot be used is a FieldError; a cluster that
// does not answer is a result with Reachable false, not an error.
func (m *Manager) Validate(ctx context.Context, t Target) (Connectivity, error) {
	if t.IsZero() {
		return Connectivity{}, &FieldError{Field: "kubeconfig", Message: "required: a kubeconfig, or a context of the host's kubeconfig"}
	}
	w, err := m.wec(t)
	if err != nil {
		return Connectivity{}, err
	}
	res := Connectivity{Server: w.server}
	v, err := w.version(ctx)
	if err != nil {
		res.Error = fmt.Sprintf("get version: %v", err)
		return res, nil
	}
	res.Version = v
	nodes, err := w.dyn.Resource(gvrNode).List(ctx, metav1.ListOptions{})
	if err != nil {
		res.Error = fmt.Sprintf("list nodes: %v", err)
		return res, nil
	}
	res.Reachable, res.Nodes = true, len(nodes.Items)
	return res, nil
}
