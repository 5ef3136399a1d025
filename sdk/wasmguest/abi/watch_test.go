package abi

import (
	"net/url"
	"testing"
)

func TestIsWatch(t *testing.T) {
	for raw, want := range map[string]bool{
		"/api/v1/namespaces/ns/configmaps?watch=true":                 true,
		"/api/v1/namespaces/ns/configmaps?watch=1":                    true,
		"/api/v1/namespaces/ns/configmaps?watch=TRUE":                 true,
		"/api/v1/namespaces/ns/configmaps?watch=":                     true,
		"/api/v1/namespaces/ns/configmaps?watch=yes":                  true,
		"/api/v1/watch/namespaces/ns/configmaps":                      true,
		"/apis/apps/v1/watch/deployments":                             true,
		"/api/v1/namespaces/ns/configmaps?watch=false":                false,
		"/api/v1/namespaces/ns/configmaps?watch=False":                false,
		"/api/v1/namespaces/ns/configmaps?watch=0":                    false,
		"/api/v1/namespaces/ns/configmaps":                            false,
		"/api/v1/namespaces/watch/configmaps":                         false,
		"/apis/watch/v1/things":                                       false,
		"/api":                                                        false,
		"/apis/cluster.open-cluster-management.io/v1/managedclusters": false,
	} {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		if got := IsWatch(u); got != want {
			t.Errorf("IsWatch(%s) = %t; want %t", raw, got, want)
		}
	}
}
