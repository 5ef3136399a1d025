//go:build kubeversions

package ksplugins

// Native plugins that talk to Kubernetes share client-go and the API types
// with every other plugin loaded into the same host, and Go loads a plugin
// only when each package it shares with what is already loaded is
// identical. Every native plugin is built inside this module (see
// SDKSource), so this module's go.mod decides those versions, though the
// host itself imports none of them. These imports keep k8s.io/api,
// k8s.io/apimachinery and k8s.io/client-go required at the versions in
// go.mod: the build tag leaves them out of every build, and go mod tidy,
// which reads every tag, keeps the requirements. docs/plugins.md ("Module
// versions plugins share") says how to move them.
import (
	_ "k8s.io/api/core/v1"
	_ "k8s.io/apimachinery/pkg/apis/meta/v1"
	_ "k8s.io/client-go/kubernetes"
)
