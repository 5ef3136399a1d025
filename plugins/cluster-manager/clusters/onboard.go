package clusters

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
)

// OnboardRequest asks to join a WEC to the hub.
type OnboardRequest struct {
	// Cluster is the name the WEC gets on the hub: a DNS-1123 label.
	Cluster string
	// Target reaches the WEC.
	Target Target
	// Labels are set on its ManagedCluster beside name=<Cluster>.
	Labels map[string]string
	// Timeout bounds the operation; 0 means Options.Timeout.
	Timeout time.Duration
}

// ErrAlreadyOnboarded is returned when the cluster is already joined and
// available.
var ErrAlreadyOnboarded = errors.New("already onboarded")

// ErrNotConfigured is returned when the plugin's configuration lacks what a
// request needs.
var ErrNotConfigured = errors.New("not configured")

// CheckName returns a FieldError on field when name cannot name a cluster.
func CheckName(field, name string) error {
	if name == "" {
		return &FieldError{Field: field, Message: "required"}
	}
	if errs := validation.IsDNS1123Label(name); len(errs) > 0 {
		return &FieldError{Field: field, Message: fmt.Sprintf("%q is not a valid cluster name: %s", name, errs[0])}
	}
	return nil
}

// Onboard starts joining a WEC to the hub and returns its operation. It
// checks the request and the WEC's kubeconfig first: bad input is a
// FieldError and starts nothing. If the cluster is being onboarded already,
// it returns that operation and started false.
func (m *Manager) Onboard(ctx context.Context, req OnboardRequest) (op Operation, started bool, err error) {
	if err := CheckName("clusterName", req.Cluster); err != nil {
		return Operation{}, false, err
	}
	if err := m.checkLabels(ctx, req.Labels); err != nil {
		return Operation{}, false, err
	}
	if req.Target.IsZero() {
		return Operation{}, false, &FieldError{Field: "kubeconfig", Message: "required: a kubeconfig, or a context of the host's kubeconfig"}
	}
	w, err := m.wec(req.Target)
	if err != nil {
		return Operation{}, false, err
	}
	if m.opts.HubAPIServer == "" {
		return Operation{}, false, fmt.Errorf("onboard %s: %w: set hub_apiserver, the hub's address as WECs reach it", req.Cluster, ErrNotConfigured)
	}
	if running, ok := m.ops.running(req.Cluster); ok && running.Kind == "onboard" {
		return running, false, nil
	}
	h, err := m.hub()
	if err != nil {
		return Operation{}, false, err
	}
	// An accepted cluster that has not come up yet (an onboarding cut short,
	// say) may be onboarded again: every step converges on what exists.
	if mc, err := getManagedCluster(ctx, h, req.Cluster); err == nil && statusOf(mc).State == StateAvailable {
		return Operation{}, false, fmt.Errorf("cluster %s: %w; detach it first", req.Cluster, ErrAlreadyOnboarded)
	}
	return m.launch("onboard", req.Cluster, req.Timeout, func(ctx context.Context, r *run) error {
		return m.onboard(ctx, r, h, w, req)
	})
}

// launch starts fn as an operation of kind on cluster, bounded by timeout
// (Options.Timeout when zero) and by the manager's life.
func (m *Manager) launch(kind, cluster string, timeout time.Duration, fn func(context.Context, *run) error) (Operation, bool, error) {
	if timeout <= 0 {
		timeout = m.opts.Timeout
	}
	return m.ops.start(m.ctx, kind, cluster, func(ctx context.Context, r *run) error {
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		return fn(ctx, r)
	})
}

func (m *Manager) onboard(ctx context.Context, r *run, h, w *cluster, req OnboardRequest) error {
	name := req.Cluster
	if err := r.step("connect", func() error {
		nodes, err := w.dyn.Resource(gvrNode).List(ctx, metav1.ListOptions{Limit: 100})
		if err != nil {
			return fmt.Errorf("list nodes of %s: %w", w.name, err)
		}
		r.logf("reached %s: %d nodes", w.name, len(nodes.Items))
		return nil
	}); err != nil {
		return err
	}

	var token string
	if err := r.step("token", func() error {
		var err error
		token, err = m.bootstrapToken(ctx, h)
		if err == nil {
			r.logf("bootstrap token for %s/%s, valid %s", bootstrapNamespace, bootstrapSA, m.opts.TokenTTL)
		}
		return err
	}); err != nil {
		return err
	}

	if err := r.step("install-agent", func() error {
		hubURL := m.opts.HubAPIServer
		ca, err := hubCA(ctx, h)
		if err != nil {
			return err
		}
		if len(ca) == 0 {
			r.logf("the hub publishes no CA in %s/%s: the agent trusts its system's roots for %s", rootCANamespace, rootCAConfigMap, hubURL)
		}
		kc, err := bootstrapKubeconfig(hubURL, ca, token)
		if err != nil {
			return err
		}
		if err := m.ensureKlusterletCRD(ctx, r, w); err != nil {
			return err
		}
		objs := m.agentObjects(name, hubURL, kc)
		if err := apply(ctx, w.dyn, objs...); err != nil {
			return err
		}
		r.logf("klusterlet for %s installed on %s (hub %s)", name, w.name, hubURL)
		return nil
	}); err != nil {
		return err
	}

	if err := r.step("approve-csr", func() error { return m.approveCSRs(ctx, r, h, name) }); err != nil {
		return err
	}

	if err := r.step("accept", func() error { return m.accept(ctx, r, h, name, req.Labels) }); err != nil {
		return err
	}

	return r.step("wait-available", func() error {
		return m.poll(ctx, "cluster "+name+" to be joined and available", func(ctx context.Context) (bool, error) {
			mc, err := getManagedCluster(ctx, h, name)
			if err != nil {
				return false, err
			}
			s := statusOf(mc)
			if s.Joined && s.Available {
				r.logf("cluster %s joined and available", name)
				return true, nil
			}
			return false, nil
		})
	})
}

// bootstrapToken makes sure the hub's bootstrap service account exists and
// requests a token for it, as `clusteradm get token` does.
func (m *Manager) bootstrapToken(ctx context.Context, h *cluster) (string, error) {
	if err := apply(ctx, h.dyn, hubBootstrapObjects()...); err != nil {
		return "", err
	}
	req := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "authentication.k8s.io/v1",
		"kind":       "TokenRequest",
		"metadata":   map[string]any{"name": bootstrapSA, "namespace": bootstrapNamespace},
		"spec":       map[string]any{"expirationSeconds": int64(m.opts.TokenTTL / time.Second)},
	}}
	tr, err := h.dyn.Resource(gvrServiceAccount).Namespace(bootstrapNamespace).Create(ctx, req, metav1.CreateOptions{}, "token")
	if err != nil {
		return "", fmt.Errorf("request a token for %s/%s: %w", bootstrapNamespace, bootstrapSA, err)
	}
	token, _, _ := unstructured.NestedString(tr.Object, "status", "token")
	if token == "" {
		return "", fmt.Errorf("request a token for %s/%s: the answer holds none", bootstrapNamespace, bootstrapSA)
	}
	return token, nil
}

// hubCA returns the CA bundle the hub publishes for clients to trust it,
// nil when it publishes none.
func hubCA(ctx context.Context, h *cluster) ([]byte, error) {
	cm, err := h.dyn.Resource(gvrConfigMap).Namespace(rootCANamespace).Get(ctx, rootCAConfigMap, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the hub's CA (%s/%s): %w", rootCANamespace, rootCAConfigMap, err)
	}
	ca, _, _ := unstructured.NestedString(cm.Object, "data", "ca.crt")
	return []byte(ca), nil
}

// ensureKlusterletCRD creates the Klusterlet CRD when the WEC has none and
// waits until it is served.
func (m *Manager) ensureKlusterletCRD(ctx context.Context, r *run, w *cluster) error {
	crds := w.dyn.Resource(gvrCRD)
	if _, err := crds.Get(ctx, klusterletCRDName, metav1.GetOptions{}); err == nil {
		return nil
	} else if !apierrors.IsNotFound(err) {
		return fmt.Errorf("look for the Klusterlet CRD: %w", err)
	}
	if err := apply(ctx, w.dyn, klusterletCRD()); err != nil {
		return err
	}
	r.logf("created the Klusterlet CRD on %s", w.name)
	return m.poll(ctx, "the Klusterlet CRD to be established", func(ctx context.Context) (bool, error) {
		u, err := crds.Get(ctx, klusterletCRDName, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
		for _, c := range conds {
			if c, _ := c.(map[string]any); c["type"] == "Established" && c["status"] == "True" {
				return true, nil
			}
		}
		return false, nil
	})
}

// csr holds the fields of a CertificateSigningRequest that approval reads.
type csr struct {
	Status struct {
		Conditions []struct {
			Type   string `json:"type"`
			Status string `json:"status"`
		} `json:"conditions"`
	} `json:"status"`
}

// CSR condition types (certificates.k8s.io/v1).
const (
	csrApproved = "Approved"
	csrDenied   = "Denied"
	csrFailed   = "Failed"
)

// approveCSRs approves the cluster's pending CSRs through the approval
// subresource and returns once one is approved; with auto-approve off it
// only waits.
func (m *Manager) approveCSRs(ctx context.Context, r *run, h *cluster, name string) error {
	csrs := h.dyn.Resource(gvrCSR)
	sel := metav1.ListOptions{LabelSelector: clusterNameLabel + "=" + name}
	announced := false
	return m.poll(ctx, "a certificate signing request from cluster "+name, func(ctx context.Context) (bool, error) {
		list, err := csrs.List(ctx, sel)
		if err != nil {
			return false, fmt.Errorf("list CSRs of %s: %w", name, err)
		}
		approved := false
		for i := range list.Items {
			u := &list.Items[i]
			state, err := csrState(u)
			if err != nil {
				return false, err
			}
			switch state {
			case csrApproved:
				approved = true
			case csrDenied, csrFailed:
				continue
			default:
				if m.opts.DisableAutoApprove {
					if !announced {
						r.logf("CSR %s is pending; auto-approve is off, waiting for someone to approve it", u.GetName())
						announced = true
					}
					continue
				}
				conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
				conds = append(conds, map[string]any{
					"type": csrApproved, "status": "True", "reason": approvalReason,
					"message":        "approved by the KubeStellar cluster manager while onboarding " + name,
					"lastUpdateTime": metav1.Now().UTC().Format(time.RFC3339),
				})
				if err := unstructured.SetNestedSlice(u.Object, conds, "status", "conditions"); err != nil {
					return false, fmt.Errorf("approve CSR %s: %w", u.GetName(), err)
				}
				if _, err := csrs.Update(ctx, u, metav1.UpdateOptions{FieldManager: fieldManager}, "approval"); err != nil {
					return false, fmt.Errorf("approve CSR %s: %w", u.GetName(), err)
				}
				r.logf("approved CSR %s", u.GetName())
				approved = true
			}
		}
		return approved, nil
	})
}

// csrState is the condition that decided a CSR (Approved, Denied or
// Failed), "" while it is pending.
func csrState(u *unstructured.Unstructured) (string, error) {
	var c csr
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &c); err != nil {
		return "", fmt.Errorf("read CSR %s: %w", u.GetName(), err)
	}
	for _, cond := range c.Status.Conditions {
		if cond.Status == "True" && (cond.Type == csrApproved || cond.Type == csrDenied || cond.Type == csrFailed) {
			return cond.Type, nil
		}
	}
	return "", nil
}

// accept waits for the cluster's ManagedCluster, then accepts and labels it.
func (m *Manager) accept(ctx context.Context, r *run, h *cluster, name string, labels map[string]string) error {
	if err := m.poll(ctx, "ManagedCluster "+name+" to be registered", func(ctx context.Context) (bool, error) {
		_, err := h.dyn.Resource(gvrManagedCluster).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return err == nil, err
	}); err != nil {
		return err
	}
	all := maps.Clone(labels)
	if all == nil {
		all = map[string]string{}
	}
	all["name"] = name
	patch, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"labels": all},
		"spec":     map[string]any{"hubAcceptsClient": true},
	})
	if err != nil {
		return err
	}
	if _, err := h.dyn.Resource(gvrManagedCluster).Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: fieldManager}); err != nil {
		return fmt.Errorf("accept ManagedCluster %s: %w", name, err)
	}
	keys := slices.Sorted(maps.Keys(all))
	r.logf("accepted %s, labels %v", name, keys)
	return nil
}

// DetachRequest asks to remove a WEC from the hub.
type DetachRequest struct {
	Cluster string
	// RemoveAgent also deletes the klusterlet from the WEC named by Target.
	RemoveAgent bool
	Target      Target
	Timeout     time.Duration
}

// ErrNotFound is returned for a cluster the hub does not know.
var ErrNotFound = errors.New("no such cluster")

// Detach starts removing a WEC from the hub and returns its operation.
func (m *Manager) Detach(ctx context.Context, req DetachRequest) (Operation, bool, error) {
	if err := CheckName("clusterName", req.Cluster); err != nil {
		return Operation{}, false, err
	}
	if req.RemoveAgent && req.Target.IsZero() {
		return Operation{}, false, &FieldError{Field: "kubeconfig", Message: "removeAgent needs the WEC's kubeconfig or context"}
	}
	var w *cluster
	if !req.Target.IsZero() {
		var err error
		if w, err = m.wec(req.Target); err != nil {
			return Operation{}, false, err
		}
	}
	h, err := m.hub()
	if err != nil {
		return Operation{}, false, err
	}
	if _, ok := m.ops.running(req.Cluster); !ok {
		if _, err := h.dyn.Resource(gvrManagedCluster).Get(ctx, req.Cluster, metav1.GetOptions{}); apierrors.IsNotFound(err) {
			return Operation{}, false, fmt.Errorf("cluster %s: %w", req.Cluster, ErrNotFound)
		}
	}
	return m.launch("detach", req.Cluster, req.Timeout, func(ctx context.Context, r *run) error {
		return m.detach(ctx, r, h, w, req)
	})
}

func (m *Manager) detach(ctx context.Context, r *run, h, w *cluster, req DetachRequest) error {
	name := req.Cluster
	mcs := h.dyn.Resource(gvrManagedCluster)
	if err := r.step("delete-managed-cluster", func() error {
		err := mcs.Delete(ctx, name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete ManagedCluster %s: %w", name, err)
		}
		return m.poll(ctx, "ManagedCluster "+name+" to be gone", func(ctx context.Context) (bool, error) {
			_, err := mcs.Get(ctx, name, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				r.logf("ManagedCluster %s deleted", name)
				return true, nil
			}
			return false, err
		})
	}); err != nil {
		return err
	}
	return r.step("remove-agent", func() error {
		if !req.RemoveAgent {
			return skipf("not asked to (removeAgent is false)")
		}
		if _, err := w.dyn.Resource(gvrNamespace).Get(ctx, agentNamespace, metav1.GetOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return skipf("WEC %s unreachable: %v", w.name, err)
		}
		objs := m.agentObjects(name, "", nil)
		slices.Reverse(objs)
		if err := remove(ctx, w.dyn, objs...); err != nil {
			return err
		}
		r.logf("klusterlet removed from %s", w.name)
		return nil
	})
}
