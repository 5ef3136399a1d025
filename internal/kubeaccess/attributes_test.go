package kubeaccess

import (
	"errors"
	"net/http/httptest"
	"testing"

	"github.com/kubestellar/ksplugins/sdk/wasmguest/abi"
)

func TestResolve(t *testing.T) {
	type attrs = Attributes
	tests := []struct {
		method, target string
		want           attrs
	}{
		// Core group, namespaced.
		{"GET", "/api/v1/namespaces/ns1/pods/p1", attrs{ResourceRequest: true, Verb: "get", APIVersion: "v1", Namespace: "ns1", Resource: "pods", Name: "p1"}},
		{"HEAD", "/api/v1/namespaces/ns1/pods/p1", attrs{ResourceRequest: true, Verb: "get", APIVersion: "v1", Namespace: "ns1", Resource: "pods", Name: "p1"}},
		{"GET", "/api/v1/namespaces/ns1/pods", attrs{ResourceRequest: true, Verb: "list", APIVersion: "v1", Namespace: "ns1", Resource: "pods"}},
		{"GET", "/api/v1/namespaces/ns1/pods/", attrs{ResourceRequest: true, Verb: "list", APIVersion: "v1", Namespace: "ns1", Resource: "pods"}},
		{"GET", "/api/v1/namespaces/ns1/pods?watch=true&resourceVersion=5", attrs{ResourceRequest: true, Verb: "watch", APIVersion: "v1", Namespace: "ns1", Resource: "pods"}},
		{"GET", "/api/v1/namespaces/ns1/pods?watch=1", attrs{ResourceRequest: true, Verb: "watch", APIVersion: "v1", Namespace: "ns1", Resource: "pods"}},
		{"GET", "/api/v1/namespaces/ns1/pods?watch=", attrs{ResourceRequest: true, Verb: "watch", APIVersion: "v1", Namespace: "ns1", Resource: "pods"}},
		{"GET", "/api/v1/namespaces/ns1/pods?watch=false", attrs{ResourceRequest: true, Verb: "list", APIVersion: "v1", Namespace: "ns1", Resource: "pods"}},
		{"GET", "/api/v1/namespaces/ns1/pods?watch=FALSE", attrs{ResourceRequest: true, Verb: "list", APIVersion: "v1", Namespace: "ns1", Resource: "pods"}},
		{"GET", "/api/v1/namespaces/ns1/pods?watch=0", attrs{ResourceRequest: true, Verb: "list", APIVersion: "v1", Namespace: "ns1", Resource: "pods"}},
		// A watch of one named object does not make a get a watch.
		{"GET", "/api/v1/namespaces/ns1/pods/p1?watch=true", attrs{ResourceRequest: true, Verb: "get", APIVersion: "v1", Namespace: "ns1", Resource: "pods", Name: "p1"}},
		{"POST", "/api/v1/namespaces/ns1/pods", attrs{ResourceRequest: true, Verb: "create", APIVersion: "v1", Namespace: "ns1", Resource: "pods"}},
		{"PUT", "/api/v1/namespaces/ns1/pods/p1", attrs{ResourceRequest: true, Verb: "update", APIVersion: "v1", Namespace: "ns1", Resource: "pods", Name: "p1"}},
		{"PATCH", "/api/v1/namespaces/ns1/pods/p1", attrs{ResourceRequest: true, Verb: "patch", APIVersion: "v1", Namespace: "ns1", Resource: "pods", Name: "p1"}},
		{"DELETE", "/api/v1/namespaces/ns1/pods/p1", attrs{ResourceRequest: true, Verb: "delete", APIVersion: "v1", Namespace: "ns1", Resource: "pods", Name: "p1"}},
		{"DELETE", "/api/v1/namespaces/ns1/pods", attrs{ResourceRequest: true, Verb: "deletecollection", APIVersion: "v1", Namespace: "ns1", Resource: "pods"}},
		{"OPTIONS", "/api/v1/namespaces/ns1/pods", attrs{ResourceRequest: true, Verb: "", APIVersion: "v1", Namespace: "ns1", Resource: "pods"}},
		// Subresources.
		{"GET", "/api/v1/namespaces/ns1/pods/p1/log", attrs{ResourceRequest: true, Verb: "get", APIVersion: "v1", Namespace: "ns1", Resource: "pods", Name: "p1", Subresource: "log"}},
		{"POST", "/api/v1/namespaces/ns1/pods/p1/eviction", attrs{ResourceRequest: true, Verb: "create", APIVersion: "v1", Namespace: "ns1", Resource: "pods", Name: "p1", Subresource: "eviction"}},
		{"GET", "/api/v1/namespaces/ns1/services/s1/proxy/a/b", attrs{ResourceRequest: true, Verb: "get", APIVersion: "v1", Namespace: "ns1", Resource: "services", Name: "s1", Subresource: "proxy"}},
		// Cluster-scoped, core and named groups.
		{"GET", "/api/v1/nodes", attrs{ResourceRequest: true, Verb: "list", APIVersion: "v1", Resource: "nodes"}},
		{"GET", "/api/v1/nodes/n1", attrs{ResourceRequest: true, Verb: "get", APIVersion: "v1", Resource: "nodes", Name: "n1"}},
		{"GET", "/api/v1/pods", attrs{ResourceRequest: true, Verb: "list", APIVersion: "v1", Resource: "pods"}},
		{"GET", "/apis/cluster.open-cluster-management.io/v1/managedclusters/c1", attrs{ResourceRequest: true, Verb: "get", APIGroup: "cluster.open-cluster-management.io", APIVersion: "v1", Resource: "managedclusters", Name: "c1"}},
		{"PUT", "/apis/cluster.open-cluster-management.io/v1/managedclusters/c1/status", attrs{ResourceRequest: true, Verb: "update", APIGroup: "cluster.open-cluster-management.io", APIVersion: "v1", Resource: "managedclusters", Name: "c1", Subresource: "status"}},
		{"PUT", "/apis/certificates.k8s.io/v1/certificatesigningrequests/csr1/approval", attrs{ResourceRequest: true, Verb: "update", APIGroup: "certificates.k8s.io", APIVersion: "v1", Resource: "certificatesigningrequests", Name: "csr1", Subresource: "approval"}},
		{"GET", "/apis/apps/v1/namespaces/ns1/deployments/d1/scale", attrs{ResourceRequest: true, Verb: "get", APIGroup: "apps", APIVersion: "v1", Namespace: "ns1", Resource: "deployments", Name: "d1", Subresource: "scale"}},
		{"GET", "/apis/apps/v1/deployments?watch=true", attrs{ResourceRequest: true, Verb: "watch", APIGroup: "apps", APIVersion: "v1", Resource: "deployments"}},
		// The namespace object, in its own namespace.
		{"GET", "/api/v1/namespaces", attrs{ResourceRequest: true, Verb: "list", APIVersion: "v1", Resource: "namespaces"}},
		{"POST", "/api/v1/namespaces", attrs{ResourceRequest: true, Verb: "create", APIVersion: "v1", Resource: "namespaces"}},
		{"GET", "/api/v1/namespaces/ns1", attrs{ResourceRequest: true, Verb: "get", APIVersion: "v1", Namespace: "ns1", Resource: "namespaces", Name: "ns1"}},
		{"PUT", "/api/v1/namespaces/ns1/status", attrs{ResourceRequest: true, Verb: "update", APIVersion: "v1", Namespace: "ns1", Resource: "namespaces", Name: "ns1", Subresource: "status"}},
		{"PUT", "/api/v1/namespaces/ns1/finalize", attrs{ResourceRequest: true, Verb: "update", APIVersion: "v1", Namespace: "ns1", Resource: "namespaces", Name: "ns1", Subresource: "finalize"}},
		// Legacy watch and proxy path prefixes.
		{"GET", "/api/v1/watch/pods", attrs{ResourceRequest: true, Verb: "watch", APIVersion: "v1", Resource: "pods"}},
		{"GET", "/api/v1/watch/namespaces/ns1/pods", attrs{ResourceRequest: true, Verb: "watch", APIVersion: "v1", Namespace: "ns1", Resource: "pods"}},
		{"GET", "/api/v1/watch/namespaces/ns1/pods/p1", attrs{ResourceRequest: true, Verb: "watch", APIVersion: "v1", Namespace: "ns1", Resource: "pods", Name: "p1"}},
		{"GET", "/api/v1/watch/namespaces", attrs{ResourceRequest: true, Verb: "watch", APIVersion: "v1", Resource: "namespaces"}},
		{"GET", "/apis/apps/v1/watch/namespaces/ns1/deployments", attrs{ResourceRequest: true, Verb: "watch", APIGroup: "apps", APIVersion: "v1", Namespace: "ns1", Resource: "deployments"}},
		{"GET", "/api/v1/proxy/namespaces/ns1/pods/p1/a/b", attrs{ResourceRequest: true, Verb: "proxy", APIVersion: "v1", Namespace: "ns1", Resource: "pods", Name: "p1"}},
		// A field selector on metadata.name names the object of a list or watch.
		{"GET", "/api/v1/namespaces/ns1/configmaps?fieldSelector=metadata.name%3Dcm1", attrs{ResourceRequest: true, Verb: "list", APIVersion: "v1", Namespace: "ns1", Resource: "configmaps", Name: "cm1"}},
		{"GET", "/api/v1/namespaces/ns1/configmaps?watch=true&fieldSelector=metadata.name%3D%3Dcm1", attrs{ResourceRequest: true, Verb: "watch", APIVersion: "v1", Namespace: "ns1", Resource: "configmaps", Name: "cm1"}},
		{"GET", "/api/v1/namespaces/ns1/configmaps?fieldSelector=status.phase%3DX,metadata.name%3Dcm1", attrs{ResourceRequest: true, Verb: "list", APIVersion: "v1", Namespace: "ns1", Resource: "configmaps", Name: "cm1"}},
		{"GET", "/api/v1/namespaces/ns1/configmaps?fieldSelector=metadata.name%3Db,metadata.name%3Da", attrs{ResourceRequest: true, Verb: "list", APIVersion: "v1", Namespace: "ns1", Resource: "configmaps", Name: "a"}},
		{"GET", "/api/v1/namespaces/ns1/configmaps?fieldSelector=metadata.name!%3Dcm1", attrs{ResourceRequest: true, Verb: "list", APIVersion: "v1", Namespace: "ns1", Resource: "configmaps"}},
		{"GET", "/api/v1/namespaces/ns1/configmaps?fieldSelector=metadata.namespace%3Dcm1", attrs{ResourceRequest: true, Verb: "list", APIVersion: "v1", Namespace: "ns1", Resource: "configmaps"}},
		{"GET", "/api/v1/namespaces/ns1/configmaps?fieldSelector=metadata.name%3Da%5C,b", attrs{ResourceRequest: true, Verb: "list", APIVersion: "v1", Namespace: "ns1", Resource: "configmaps"}},
		{"GET", "/api/v1/namespaces/ns1/configmaps?fieldSelector=metadata.name%3D..", attrs{ResourceRequest: true, Verb: "list", APIVersion: "v1", Namespace: "ns1", Resource: "configmaps"}},
		{"DELETE", "/api/v1/namespaces/ns1/configmaps?fieldSelector=metadata.name%3Dcm1", attrs{ResourceRequest: true, Verb: "deletecollection", APIVersion: "v1", Namespace: "ns1", Resource: "configmaps"}},
		// Outside the resource space.
		{"GET", "/", attrs{Verb: "get"}},
		{"GET", "/api", attrs{Verb: "get"}},
		{"GET", "/api/v1", attrs{Verb: "get"}},
		{"GET", "/apis", attrs{Verb: "get"}},
		{"GET", "/apis/apps", attrs{Verb: "get"}},
		{"GET", "/apis/apps/v1", attrs{Verb: "get"}},
		{"GET", "/apis/apps/v1/", attrs{Verb: "get"}},
		{"GET", "/version", attrs{Verb: "get"}},
		{"GET", "/openapi/v3/apis/apps/v1?hash=abc", attrs{Verb: "get"}},
		{"POST", "/logs/a/b/c", attrs{Verb: "post"}},
		{"GET", "/healthz/etcd", attrs{Verb: "get"}},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.target, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, tt.target, nil)
			got, err := Resolve(r)
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			tt.want.Path = r.URL.Path
			if got != tt.want {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestResolveRefuses(t *testing.T) {
	for _, target := range []string{
		"/api/v1/namespaces/ns1/pods/../secrets",
		"/api/v1/namespaces/ns1/./secrets",
		"/api/v1//namespaces/ns1/secrets",
		"/api/v1/namespaces/ns1%2Fsecrets/pods",
		"/api/v1/watch",
		"/apis/apps/v1/proxy",
	} {
		t.Run(target, func(t *testing.T) {
			_, err := Resolve(httptest.NewRequest("GET", target, nil))
			if !errors.Is(err, ErrPath) {
				t.Errorf("Resolve(%s): got %v; want ErrPath", target, err)
			}
		})
	}
}

// TestWatchAgreesWithTheGuest: every GET the mediation resolves to the
// verb watch is one the sandbox streams (abi.IsWatch), so that none is
// buffered by http_do until the call's timeout.
func TestWatchAgreesWithTheGuest(t *testing.T) {
	for _, target := range []string{
		"/api/v1/namespaces/ns/configmaps?watch=true",
		"/api/v1/namespaces/ns/configmaps?watch=TRUE",
		"/api/v1/namespaces/ns/configmaps?watch=",
		"/api/v1/namespaces/ns/configmaps?watch=false",
		"/api/v1/namespaces/ns/configmaps?watch=0",
		"/api/v1/namespaces/ns/configmaps",
		"/api/v1/configmaps?watch=1",
		"/api/v1/watch/namespaces/ns/configmaps",
		"/api/v1/watch/namespaces/ns/configmaps/c",
		"/apis/apps/v1/watch/deployments",
		"/apis/apps/v1/namespaces/ns/deployments?watch=true&fieldSelector=metadata.name%3Dd",
	} {
		a, err := Resolve(httptest.NewRequest("GET", target, nil))
		if err != nil {
			t.Fatalf("Resolve(%s): %v", target, err)
		}
		r := httptest.NewRequest("GET", target, nil)
		if watch := a.Verb == "watch"; watch != abi.IsWatch(r.URL) {
			t.Errorf("%s: the mediation's verb is %s, abi.IsWatch says %t", target, a.Verb, abi.IsWatch(r.URL))
		}
	}
}
