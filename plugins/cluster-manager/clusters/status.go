package clusters

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Cluster states, from the ManagedCluster's spec and conditions.
const (
	StatePending     = "pending"     // registered, not accepted by the hub
	StateAccepted    = "accepted"    // accepted, not joined yet
	StateJoined      = "joined"      // joined, availability unknown or false
	StateAvailable   = "available"   // joined and available
	StateUnavailable = "unavailable" // joined, then reported unavailable
)

// ClusterStatus is one ManagedCluster as the hub reports it now.
type ClusterStatus struct {
	Name              string            `json:"name"`
	State             string            `json:"state"`
	Accepted          bool              `json:"accepted"`
	Joined            bool              `json:"joined"`
	Available         bool              `json:"available"`
	Labels            map[string]string `json:"labels"`
	KubernetesVersion string            `json:"kubernetesVersion,omitempty"`
	Conditions        []Condition       `json:"conditions"`
	Created           time.Time         `json:"created"`
	// Operation is the id of an unfinished operation on the cluster.
	Operation string `json:"operation,omitempty"`
}

// Condition is one of a ManagedCluster's status conditions.
type Condition struct {
	Type               string    `json:"type"`
	Status             string    `json:"status"`
	Reason             string    `json:"reason,omitempty"`
	Message            string    `json:"message,omitempty"`
	LastTransitionTime time.Time `json:"lastTransitionTime"`
}

// managedCluster holds the fields of Open Cluster Management's
// ManagedCluster (cluster.open-cluster-management.io/v1) that status
// reads. The plugin decodes them itself rather than linking OCM's typed
// client and scheme, which would double the size of its sandboxed module.
type managedCluster struct {
	// Metadata is not metav1.ObjectMeta: decoding its managed fields would
	// cost a sandboxed plugin more than the rest of the object.
	Metadata struct {
		Name              string            `json:"name"`
		Labels            map[string]string `json:"labels"`
		CreationTimestamp metav1.Time       `json:"creationTimestamp"`
	} `json:"metadata"`
	Spec struct {
		HubAcceptsClient bool `json:"hubAcceptsClient"`
	} `json:"spec"`
	Status struct {
		Version struct {
			Kubernetes string `json:"kubernetes"`
		} `json:"version"`
		Conditions []metav1.Condition `json:"conditions"`
	} `json:"status"`
}

func statusOf(mc *managedCluster) ClusterStatus {
	s := ClusterStatus{
		Name: mc.Metadata.Name, Accepted: mc.Spec.HubAcceptsClient, Labels: mc.Metadata.Labels,
		KubernetesVersion: mc.Status.Version.Kubernetes, Created: mc.Metadata.CreationTimestamp.UTC(), Conditions: []Condition{},
	}
	if s.Labels == nil {
		s.Labels = map[string]string{}
	}
	availableFalse := false
	for _, c := range mc.Status.Conditions {
		s.Conditions = append(s.Conditions, Condition{Type: c.Type, Status: string(c.Status), Reason: c.Reason, Message: c.Message, LastTransitionTime: c.LastTransitionTime.UTC()})
		switch {
		case c.Type == conditionJoined && c.Status == metav1.ConditionTrue:
			s.Joined = true
		case c.Type == conditionAvailable && c.Status == metav1.ConditionTrue:
			s.Available = true
		case c.Type == conditionAvailable && c.Status == metav1.ConditionFalse:
			availableFalse = true
		}
	}
	switch {
	case s.Joined && s.Available:
		s.State = StateAvailable
	case s.Joined && availableFalse:
		s.State = StateUnavailable
	case s.Joined:
		s.State = StateJoined
	case s.Accepted:
		s.State = StateAccepted
	default:
		s.State = StatePending
	}
	return s
}

// statusPageSize is how many ManagedClusters one request of Status reads.
const statusPageSize = 250

// Status lists every ManagedCluster of the hub, by name.
func (m *Manager) Status(ctx context.Context) ([]ClusterStatus, error) {
	h, err := m.hub()
	if err != nil {
		return nil, err
	}
	out := []ClusterStatus{}
	// In pages, so that no answer nears the sandbox's bound on a response
	// body however many clusters the hub has.
	query := url.Values{"limit": {strconv.Itoa(statusPageSize)}}
	for {
		var page struct {
			Metadata struct {
				Continue string `json:"continue"`
			} `json:"metadata"`
			Items []managedCluster `json:"items"`
		}
		if err := h.get(ctx, managedClustersPath, query, &page); err != nil {
			return nil, fmt.Errorf("list ManagedClusters: %w", err)
		}
		for i := range page.Items {
			out = append(out, m.withOperation(statusOf(&page.Items[i])))
		}
		if page.Metadata.Continue == "" {
			break
		}
		query.Set("continue", page.Metadata.Continue)
	}
	slices.SortFunc(out, func(a, b ClusterStatus) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// ClusterStatus returns one ManagedCluster, or ErrNotFound.
func (m *Manager) ClusterStatus(ctx context.Context, name string) (ClusterStatus, error) {
	if err := CheckName("cluster", name); err != nil {
		return ClusterStatus{}, err
	}
	h, err := m.hub()
	if err != nil {
		return ClusterStatus{}, err
	}
	mc, err := getManagedCluster(ctx, h, name)
	if apierrors.IsNotFound(err) {
		return ClusterStatus{}, fmt.Errorf("cluster %s: %w", name, ErrNotFound)
	}
	if err != nil {
		return ClusterStatus{}, err
	}
	return m.withOperation(statusOf(mc)), nil
}

func (m *Manager) withOperation(s ClusterStatus) ClusterStatus {
	if op, ok := m.ops.running(s.Name); ok {
		s.Operation = op.ID
	}
	return s
}

// getManagedCluster reads one ManagedCluster of the hub; for a missing one,
// apierrors.IsNotFound(err) is true.
func getManagedCluster(ctx context.Context, h *cluster, name string) (*managedCluster, error) {
	mc := &managedCluster{}
	if err := h.get(ctx, managedClustersPath+"/"+name, nil, mc); err != nil {
		return nil, fmt.Errorf("get ManagedCluster %s: %w", name, err)
	}
	return mc, nil
}
