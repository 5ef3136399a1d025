package kubeaccess

import (
	"net/http/httptest"
	"testing"

	"github.com/kubestellar/ksplugins/sdk"
)

func TestAllowed(t *testing.T) {
	const ocm = "cluster.open-cluster-management.io"
	// What the cluster-manager asks for, in the words.
	clusterManager := []sdk.KubernetesRule{
		{APIGroups: []string{ocm}, Resources: []string{"managedclusters"}, Verbs: []string{"get", "list", "watch", "create", "update", "patch", "delete"}},
		{APIGroups: []string{ocm}, Resources: []string{"managedclusters/status"}, Verbs: []string{"get", "update", "patch"}},
		{APIGroups: []string{"certificates.k8s.io"}, Resources: []string{"certificatesigningrequests"}, Verbs: []string{"get", "list", "watch"}},
		{APIGroups: []string{"certificates.k8s.io"}, Resources: []string{"certificatesigningrequests/approval"}, Verbs: []string{"update"}},
		{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get", "create"}, Namespaces: []string{"open-cluster-management-agent"}},
		{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "list", "watch", "update"}, Namespaces: []string{"kube-system"}, ResourceNames: []string{"cluster-info"}},
	}
	wildcard := []sdk.KubernetesRule{{APIGroups: []string{"*"}, Resources: []string{"*"}, Verbs: []string{"*"}}}
	anySubresource := []sdk.KubernetesRule{{APIGroups: []string{"apps"}, Resources: []string{"*/scale"}, Verbs: []string{"get", "update"}}}
	starLimits := []sdk.KubernetesRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list"}, Namespaces: []string{"*"}, ResourceNames: []string{"*"}}}

	tests := []struct {
		name           string
		rules          []sdk.KubernetesRule
		method, target string
		want           bool
	}{
		{"get a managed cluster", clusterManager, "GET", "/apis/" + ocm + "/v1/managedclusters/c1", true},
		{"list managed clusters", clusterManager, "GET", "/apis/" + ocm + "/v1/managedclusters", true},
		{"watch managed clusters", clusterManager, "GET", "/apis/" + ocm + "/v1/managedclusters?watch=true", true},
		{"legacy watch path", clusterManager, "GET", "/apis/" + ocm + "/v1/watch/managedclusters", true},
		{"update managedclusters/status", clusterManager, "PUT", "/apis/" + ocm + "/v1/managedclusters/c1/status", true},
		{"delete managedclusters/status is not granted", clusterManager, "DELETE", "/apis/" + ocm + "/v1/managedclusters/c1/status", false},
		{"deletecollection is not delete", clusterManager, "DELETE", "/apis/" + ocm + "/v1/managedclusters", false},
		{"another version of the group", clusterManager, "GET", "/apis/" + ocm + "/v1beta1/managedclusters/c1", true},
		{"another resource of the group", clusterManager, "GET", "/apis/" + ocm + "/v1/managedclustersets/s1", false},
		{"the resource in another group", clusterManager, "GET", "/apis/other.example/v1/managedclusters/c1", false},
		{"approve a CSR", clusterManager, "PUT", "/apis/certificates.k8s.io/v1/certificatesigningrequests/csr1/approval", true},
		{"update a CSR itself", clusterManager, "PUT", "/apis/certificates.k8s.io/v1/certificatesigningrequests/csr1", false},
		{"patch the approval", clusterManager, "PATCH", "/apis/certificates.k8s.io/v1/certificatesigningrequests/csr1/approval", false},
		{"a resource's grant does not reach its subresource", clusterManager, "PUT", "/apis/certificates.k8s.io/v1/certificatesigningrequests/csr1/status", false},
		{"secret in the granted namespace", clusterManager, "GET", "/api/v1/namespaces/open-cluster-management-agent/secrets/s1", true},
		{"create a secret in the granted namespace", clusterManager, "POST", "/api/v1/namespaces/open-cluster-management-agent/secrets", true},
		{"secret in another namespace", clusterManager, "GET", "/api/v1/namespaces/default/secrets/s1", false},
		{"secrets across all namespaces", clusterManager, "GET", "/api/v1/secrets", false},
		{"a core rule does not reach a named group", clusterManager, "GET", "/apis/apps/v1/namespaces/open-cluster-management-agent/secrets/s1", false},
		{"the named config map", clusterManager, "GET", "/api/v1/namespaces/kube-system/configmaps/cluster-info", true},
		{"another config map", clusterManager, "GET", "/api/v1/namespaces/kube-system/configmaps/other", false},
		{"list with names granted: no name", clusterManager, "GET", "/api/v1/namespaces/kube-system/configmaps", false},
		{"list by metadata.name", clusterManager, "GET", "/api/v1/namespaces/kube-system/configmaps?fieldSelector=metadata.name%3Dcluster-info", true},
		{"watch by metadata.name", clusterManager, "GET", "/api/v1/namespaces/kube-system/configmaps?watch=1&fieldSelector=metadata.name%3Dcluster-info", true},
		{"watch by another name", clusterManager, "GET", "/api/v1/namespaces/kube-system/configmaps?watch=1&fieldSelector=metadata.name%3Dother", false},
		{"no verb for the method", wildcard, "OPTIONS", "/api/v1/namespaces/ns/pods", false},
		{"wildcard rule", wildcard, "DELETE", "/apis/apps/v1/namespaces/ns/deployments", true},
		{"wildcard reaches subresources", wildcard, "PUT", "/apis/apps/v1/namespaces/ns/deployments/d/scale", true},
		{"*/scale under any resource", anySubresource, "PUT", "/apis/apps/v1/namespaces/ns/deployments/d/scale", true},
		{"*/scale is not the resource", anySubresource, "PUT", "/apis/apps/v1/namespaces/ns/deployments/d", false},
		{"*/scale is not another subresource", anySubresource, "PUT", "/apis/apps/v1/namespaces/ns/deployments/d/status", false},
		{"* namespaces and names: cluster-wide list", starLimits, "GET", "/api/v1/pods", true},
		{"* namespaces and names: a get", starLimits, "GET", "/api/v1/namespaces/ns/pods/p", true},
		{"no rules", nil, "GET", "/api/v1/namespaces/ns/pods/p", false},
		// Discovery, for any plugin granted the context.
		{"discovery /api", nil, "GET", "/api", true},
		{"discovery /api/v1", nil, "GET", "/api/v1", true},
		{"discovery /apis", nil, "GET", "/apis", true},
		{"discovery /apis/apps/v1", nil, "GET", "/apis/apps/v1", true},
		{"discovery HEAD", nil, "HEAD", "/apis/apps", true},
		{"version", nil, "GET", "/version", true},
		{"openapi", nil, "GET", "/openapi/v3/apis/apps/v1?hash=x", true},
		{"openapi v2", nil, "GET", "/openapi/v2", true},
		{"post to discovery", wildcard, "POST", "/apis", false},
		{"health", wildcard, "GET", "/healthz", false},
		{"metrics", wildcard, "GET", "/metrics", false},
		{"logs", wildcard, "GET", "/logs/kube-apiserver.log", false},
		{"root", wildcard, "GET", "/", false},
		{"versioned lookalike", wildcard, "GET", "/versions", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := Resolve(httptest.NewRequest(tt.method, tt.target, nil))
			if err != nil {
				t.Fatal(err)
			}
			if got := Allowed(tt.rules, a); got != tt.want {
				t.Errorf("Allowed(%s %s) = %v; want %v (attributes %+v)", tt.method, tt.target, got, tt.want, a)
			}
		})
	}
}
