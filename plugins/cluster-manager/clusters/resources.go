package clusters

import (
	"context"
	"encoding/base64"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
)

// fieldManager owns, in server-side apply's terms, what the manager creates.
const fieldManager = "kubestellar-cluster-manager"

// Names shared with Open Cluster Management.
const (
	bootstrapNamespace   = "open-cluster-management" // hub: bootstrap service account; WEC: klusterlet operator
	bootstrapSA          = "cluster-bootstrap"
	bootstrapRole        = "open-cluster-management:bootstrap"
	agentNamespace       = "open-cluster-management-agent"
	bootstrapSecret      = "bootstrap-hub-kubeconfig"
	rootCANamespace      = "kube-public"      // hub: where the CA is read, a namespace every cluster has
	rootCAConfigMap      = "kube-root-ca.crt" // published in every namespace by kube-controller-manager
	klusterletName       = "klusterlet"
	klusterletCRDName    = "klusterlets.operator.open-cluster-management.io"
	clusterNameLabel     = "open-cluster-management.io/cluster-name"
	conditionJoined      = "ManagedClusterJoined"
	conditionAvailable   = "ManagedClusterConditionAvailable"
	approvalReason       = "KubeStellarClusterManagerApproved"
	bindingPolicyGroup   = "control.kubestellar.io"
	bindingPolicyVersion = "v1alpha1"
)

// The resources the manager handles through the dynamic client.
var (
	gvrNamespace          = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
	gvrNode               = schema.GroupVersionResource{Version: "v1", Resource: "nodes"}
	gvrConfigMap          = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	gvrCSR                = schema.GroupVersionResource{Group: "certificates.k8s.io", Version: "v1", Resource: "certificatesigningrequests"}
	gvrManagedCluster     = schema.GroupVersionResource{Group: "cluster.open-cluster-management.io", Version: "v1", Resource: "managedclusters"}
	gvrServiceAccount     = schema.GroupVersionResource{Version: "v1", Resource: "serviceaccounts"}
	gvrSecret             = schema.GroupVersionResource{Version: "v1", Resource: "secrets"}
	gvrClusterRole        = schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterroles"}
	gvrClusterRoleBinding = schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterrolebindings"}
	gvrDeployment         = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
	gvrCRD                = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	gvrKlusterlet         = schema.GroupVersionResource{Group: "operator.open-cluster-management.io", Version: "v1", Resource: "klusterlets"}
	gvrBindingPolicy      = schema.GroupVersionResource{Group: bindingPolicyGroup, Version: bindingPolicyVersion, Resource: "bindingpolicies"}
)

// managedClustersPath is the API path of the hub's ManagedClusters.
const managedClustersPath = "/apis/cluster.open-cluster-management.io/v1/managedclusters"

// object is one resource to apply: where it lives and what it is.
type object struct {
	gvr schema.GroupVersionResource
	obj *unstructured.Unstructured
}

func (o object) String() string {
	if ns := o.obj.GetNamespace(); ns != "" {
		return fmt.Sprintf("%s %s/%s", o.obj.GetKind(), ns, o.obj.GetName())
	}
	return o.obj.GetKind() + " " + o.obj.GetName()
}

func newObject(gvr schema.GroupVersionResource, kind, namespace, name string, fields map[string]any) object {
	apiVersion := gvr.Version
	if gvr.Group != "" {
		apiVersion = gvr.Group + "/" + gvr.Version
	}
	u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": apiVersion, "kind": kind}}
	for k, v := range fields {
		u.Object[k] = v
	}
	u.SetName(name)
	if namespace != "" {
		u.SetNamespace(namespace)
	}
	u.SetLabels(map[string]string{"app.kubernetes.io/managed-by": fieldManager})
	return object{gvr: gvr, obj: u}
}

// apply creates or updates each object with server-side apply, so a step
// run twice converges instead of failing on what exists.
func apply(ctx context.Context, c dynamic.Interface, objs ...object) error {
	for _, o := range objs {
		_, err := c.Resource(o.gvr).Namespace(o.obj.GetNamespace()).Apply(ctx, o.obj.GetName(), o.obj, metav1.ApplyOptions{FieldManager: fieldManager, Force: true})
		if err != nil {
			return fmt.Errorf("apply %s: %w", o, err)
		}
	}
	return nil
}

// remove deletes each object; those already gone are fine.
func remove(ctx context.Context, c dynamic.Interface, objs ...object) error {
	for _, o := range objs {
		err := c.Resource(o.gvr).Namespace(o.obj.GetNamespace()).Delete(ctx, o.obj.GetName(), metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete %s: %w", o, err)
		}
	}
	return nil
}

// hubBootstrapObjects are what a joining agent's token is bound to: a
// service account allowed only to ask for a certificate and create its
// ManagedCluster.
func hubBootstrapObjects() []object {
	return []object{
		newObject(gvrNamespace, "Namespace", "", bootstrapNamespace, nil),
		newObject(gvrServiceAccount, "ServiceAccount", bootstrapNamespace, bootstrapSA, nil),
		newObject(gvrClusterRole, "ClusterRole", "", bootstrapRole, map[string]any{"rules": []any{
			map[string]any{"apiGroups": []any{"certificates.k8s.io"}, "resources": []any{"certificatesigningrequests"}, "verbs": []any{"create", "get", "list", "watch"}},
			map[string]any{"apiGroups": []any{"cluster.open-cluster-management.io"}, "resources": []any{"managedclusters"}, "verbs": []any{"get", "create"}},
		}}),
		newObject(gvrClusterRoleBinding, "ClusterRoleBinding", "", bootstrapRole, map[string]any{
			"roleRef":  map[string]any{"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": bootstrapRole},
			"subjects": []any{map[string]any{"kind": "ServiceAccount", "name": bootstrapSA, "namespace": bootstrapNamespace}},
		}),
	}
}

// klusterletCRD is a minimal definition of the Klusterlet resource, created
// only on a WEC that has none, so that the Klusterlet can be recorded before
// the operator runs. Its schema keeps every field: the operator validates
// what it reads.
func klusterletCRD() object {
	return newObject(gvrCRD, "CustomResourceDefinition", "", klusterletCRDName, map[string]any{"spec": map[string]any{
		"group": gvrKlusterlet.Group,
		"names": map[string]any{"kind": "Klusterlet", "listKind": "KlusterletList", "plural": "klusterlets", "singular": "klusterlet"},
		"scope": "Cluster",
		"versions": []any{map[string]any{
			"name": "v1", "served": true, "storage": true,
			"subresources": map[string]any{"status": map[string]any{}},
			"schema": map[string]any{"openAPIV3Schema": map[string]any{
				"type": "object", "x-kubernetes-preserve-unknown-fields": true,
			}},
		}},
	}})
}

// agentObjects are the klusterlet resources for cluster, in creation
// order; deletion goes in reverse.
func (m *Manager) agentObjects(cluster string, hubURL string, bootstrap []byte) []object {
	image := func(name string) string { return m.opts.ImageRegistry + "/" + name + ":" + m.opts.ImageTag }
	labels := map[string]any{"app": "klusterlet"}
	return []object{
		newObject(gvrNamespace, "Namespace", "", bootstrapNamespace, nil),
		newObject(gvrNamespace, "Namespace", "", agentNamespace, nil),
		newObject(gvrServiceAccount, "ServiceAccount", bootstrapNamespace, klusterletName, nil),
		// The operator manages CRDs, RBAC and workloads of its own; it gets
		// cluster-admin rather than a copy of its role list that would age.
		newObject(gvrClusterRoleBinding, "ClusterRoleBinding", "", "open-cluster-management:klusterlet", map[string]any{
			"roleRef":  map[string]any{"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
			"subjects": []any{map[string]any{"kind": "ServiceAccount", "name": klusterletName, "namespace": bootstrapNamespace}},
		}),
		newObject(gvrDeployment, "Deployment", bootstrapNamespace, klusterletName, map[string]any{"spec": map[string]any{
			"replicas": int64(1),
			"selector": map[string]any{"matchLabels": labels},
			"template": map[string]any{
				"metadata": map[string]any{"labels": labels},
				"spec": map[string]any{
					"serviceAccountName": klusterletName,
					"containers": []any{map[string]any{
						"name":  "klusterlet",
						"image": image("registration-operator"),
						"args":  []any{"/registration-operator", "klusterlet", "--disable-leader-election"},
					}},
				},
			},
		}}),
		newObject(gvrSecret, "Secret", agentNamespace, bootstrapSecret, map[string]any{
			"type": "Opaque",
			"data": map[string]any{"kubeconfig": base64.StdEncoding.EncodeToString(bootstrap)},
		}),
		newObject(gvrKlusterlet, "Klusterlet", "", klusterletName, map[string]any{"spec": map[string]any{
			"clusterName":               cluster,
			"namespace":                 agentNamespace,
			"deployOption":              map[string]any{"mode": "Singleton"},
			"imagePullSpec":             image("registration-operator"),
			"registrationImagePullSpec": image("registration"),
			"workImagePullSpec":         image("work"),
			"externalServerURLs":        []any{map[string]any{"url": hubURL}},
		}}),
	}
}
