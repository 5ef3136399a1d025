// Package kuberule holds the meaning of the resources of a plugin's
// Kubernetes rules (sdk.KubernetesRule), which the manifest's validation,
// the security policy's covering and the mediation's request check must
// read alike: a rule that validates but that the mediation reads
// differently would be granted and then allow nothing, or more than was
// shown.
//
// The meaning is Kubernetes RBAC's, and only what RBAC accepts is valid:
//
//   - "*" is every resource and every subresource;
//   - "pods" is that resource, and none of its subresources;
//   - "pods/log" is that subresource of that resource;
//   - "*/scale" is that subresource of every resource.
//
// "pods/*" is not valid: RBAC gives it no meaning (it would match nothing),
// so a plugin must list the subresources it needs.
package kuberule

import "strings"

// All matches every value in any list of a rule.
const All = "*"

// ValidResource reports whether s is a resource as a rule may name it: a
// resource name, optionally followed by "/" and a subresource name, "*",
// or "*/" and a subresource name. isName says what a name may be.
func ValidResource(s string, isName func(string) bool) bool {
	if s == All {
		return true
	}
	name, sub, hasSub := strings.Cut(s, "/")
	if !hasSub {
		return isName(name)
	}
	return (name == All || isName(name)) && isName(sub)
}

// ResourceMatches reports whether the rule resource pattern matches a
// request for resource and, when not empty, its subresource.
func ResourceMatches(pattern, resource, subresource string) bool {
	if pattern == All {
		return true
	}
	if subresource == "" {
		return pattern == resource
	}
	name, sub, ok := strings.Cut(pattern, "/")
	return ok && sub == subresource && (name == All || name == resource)
}

// ResourceCovers reports whether the rule resource pattern outer matches
// every request that inner matches.
func ResourceCovers(outer, inner string) bool {
	if outer == All || outer == inner {
		return true
	}
	// Only "*/sub" is wider than another pattern: it covers "r/sub".
	oname, osub, ook := strings.Cut(outer, "/")
	_, isub, iok := strings.Cut(inner, "/")
	return ook && iok && oname == All && osub == isub
}
