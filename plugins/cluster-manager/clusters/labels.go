package clusters

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
)

// systemDomains own label keys that only the system sets: a key whose
// prefix is one of them, or a subdomain of one, is protected.
var systemDomains = []string{"kubernetes.io", "k8s.io", "open-cluster-management.io", "kubestellar.io"}

// LabelResult is how a label change went on one cluster.
type LabelResult struct {
	Cluster string            `json:"cluster"`
	OK      bool              `json:"ok"`
	Error   string            `json:"error,omitempty"`
	Labels  map[string]string `json:"labels,omitempty"` // the cluster's labels after the change
	// Err is why the change failed, for callers to tell kinds apart
	// (errors.Is(r.Err, ErrNotFound)); Error is its text.
	Err error `json:"-"`
}

// ChangeLabels sets each label on every cluster, or removes it where its
// value is "". The whole change is checked first: a malformed or protected
// key is a FieldError and nothing changes. Then each cluster is patched on
// its own, and its result says how it went: one cluster failing does not
// stop the others.
func (m *Manager) ChangeLabels(ctx context.Context, clusters []string, labels map[string]string) ([]LabelResult, error) {
	if len(labels) == 0 {
		return nil, &FieldError{Field: "labels", Message: "required: at least one label to add, change or remove (empty value)"}
	}
	for i, c := range clusters {
		if err := CheckName(fmt.Sprintf("clusters[%d]", i), c); err != nil {
			return nil, err
		}
	}
	if err := m.checkLabels(ctx, labels); err != nil {
		return nil, err
	}
	h, err := m.hub()
	if err != nil {
		return nil, err
	}
	patchLabels := map[string]any{}
	for k, v := range labels {
		if v == "" {
			patchLabels[k] = nil // a merge patch removes a key set to null
		} else {
			patchLabels[k] = v
		}
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"labels": patchLabels}})
	if err != nil {
		return nil, err
	}
	results := make([]LabelResult, 0, len(clusters))
	for _, c := range slices.Compact(slices.Sorted(slices.Values(clusters))) {
		mc, err := h.dyn.Resource(gvrManagedCluster).Patch(ctx, c, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: fieldManager})
		switch {
		case apierrors.IsNotFound(err):
			err = fmt.Errorf("cluster %s: %w", c, ErrNotFound)
		case err != nil:
			err = fmt.Errorf("label ManagedCluster %s: %w", c, err)
		}
		if err != nil {
			results = append(results, LabelResult{Cluster: c, Error: err.Error(), Err: err})
		} else {
			results = append(results, LabelResult{Cluster: c, OK: true, Labels: mc.GetLabels()})
		}
	}
	return results, nil
}

// checkLabels refuses malformed label keys and values, and keys that are
// protected: "name", which onboarding sets, keys in a system domain, the
// configured ones, and those BindingPolicies select clusters by.
func (m *Manager) checkLabels(ctx context.Context, labels map[string]string) error {
	if len(labels) == 0 {
		return nil
	}
	var bound map[string]string // key -> the BindingPolicy using it
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		field := "labels." + k
		if errs := validation.IsQualifiedName(k); len(errs) > 0 {
			return &FieldError{Field: field, Message: "invalid label key: " + errs[0]}
		}
		if v := labels[k]; v != "" {
			if errs := validation.IsValidLabelValue(v); len(errs) > 0 {
				return &FieldError{Field: field, Message: fmt.Sprintf("invalid label value %q: %s", v, errs[0])}
			}
		}
		if reason := m.protected(k); reason != "" {
			return &FieldError{Field: field, Message: "protected label key: " + reason}
		}
		if bound == nil {
			var err error
			if bound, err = m.bindingPolicyKeys(ctx); err != nil {
				return err
			}
		}
		if bp, ok := bound[k]; ok {
			return &FieldError{Field: field, Message: "protected label key: BindingPolicy " + bp + " selects clusters by it"}
		}
	}
	return nil
}

func (m *Manager) protected(key string) string {
	if key == "name" {
		return "onboarding sets it to the cluster's name"
	}
	if slices.Contains(m.opts.ProtectedLabelKeys, key) {
		return "listed in protected_label_keys"
	}
	if domain, _, ok := strings.Cut(key, "/"); ok {
		for _, d := range systemDomains {
			if domain == d || strings.HasSuffix(domain, "."+d) {
				return "the " + d + " prefix is reserved for the system"
			}
		}
	}
	return ""
}

// bindingPolicyKeys returns the label keys the WDS's BindingPolicies select
// clusters by, each with one policy that uses it. With no WDS configured
// there are none; a WDS that cannot be read is an error, so that a label a
// policy depends on is never changed unchecked. The WDS's context is not
// checked against those the plugin may reach: a context the host refuses
// answers Forbidden, which the host audits.
func (m *Manager) bindingPolicyKeys(ctx context.Context) (map[string]string, error) {
	keys := map[string]string{}
	if m.opts.WDSContext == "" {
		return keys, nil
	}
	if m.opts.Kube == nil {
		return nil, fmt.Errorf("%w: WDS context %q: %w", ErrPolicyUnreadable, m.opts.WDSContext, ErrNoAccess)
	}
	wds, err := m.connect(m.opts.WDSContext, "WDS "+m.opts.WDSContext, "")
	if err != nil {
		return nil, err
	}
	list, err := wds.dyn.Resource(gvrBindingPolicy).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("%w: list BindingPolicies in WDS %q: %w", ErrPolicyUnreadable, m.opts.WDSContext, err)
	}
	for _, bp := range list.Items {
		selectors, _, _ := unstructured.NestedSlice(bp.Object, "spec", "clusterSelectors")
		for _, s := range selectors {
			s, _ := s.(map[string]any)
			ml, _, _ := unstructured.NestedStringMap(s, "matchLabels")
			for k := range ml {
				keys[k] = bp.GetName()
			}
			exprs, _, _ := unstructured.NestedSlice(s, "matchExpressions")
			for _, e := range exprs {
				if e, _ := e.(map[string]any); e != nil {
					if k, ok := e["key"].(string); ok {
						keys[k] = bp.GetName()
					}
				}
			}
		}
	}
	return keys, nil
}

// ErrPolicyUnreadable is returned when the BindingPolicies that protect
// label keys cannot be read.
var ErrPolicyUnreadable = errors.New("binding policies unreadable")
