// Package kube gives a plugin client-go access to the clusters it was
// granted, through the host's mediation: a rest.Config whose transport is
// the host's and which holds no credential. Typed, dynamic and discovery
// clients made from it work as usual; a request outside the grant fails
// with a Forbidden error (apierrors.IsForbidden).
//
//	type plugin struct {
//		sdk.Base
//		kube sdk.Kubernetes
//	}
//
//	func (p *plugin) SetKubernetes(k sdk.Kubernetes) { p.kube = k }
//
//	// in a handler:
//	cs, err := kubernetes.NewForConfig(kube.RESTConfig(p.kube, "its1"))
//
// It is a package of its own so that only plugins that use client-go
// build it.
package kube

import (
	"k8s.io/client-go/rest"

	"github.com/kubestellar/ksplugins/sdk"
)

// Host is the placeholder address of every mediated API server
// (sdk.KubernetesHost): the host's transport reads only a request's path,
// and which context a request is for is the transport's.
const Host = "http://" + sdk.KubernetesHost

// RESTConfig returns a client-go configuration for context through k. It
// carries no credential, TLS material or kubeconfig path: the host adds
// its own credentials to the requests it allows.
func RESTConfig(k sdk.Kubernetes, context string) *rest.Config {
	return &rest.Config{
		Host:      Host,
		Transport: k.Transport(context),
		// The host already bounds what a plugin can do; client-go's own
		// default client-side rate limit (5 QPS) would only slow it down.
		QPS: -1,
	}
}
