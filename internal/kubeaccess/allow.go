package kubeaccess

import (
	"slices"
	"strings"

	"github.com/kubestellar/ksplugins/internal/kuberule"
	"github.com/kubestellar/ksplugins/sdk"
)

// all matches every value in a rule's list.
const all = "*"

// Allowed reports whether the rules granted to a plugin allow the request a
// describes, with the semantics of Kubernetes RBAC: a request is allowed
// when one rule matches its API group, resource (a subresource is matched
// as "resource/subresource", "*/subresource" matches it under any
// resource, "*" matches everything), verb, and, when the rule limits them,
// its namespace and name. A rule limited to namespaces never matches a
// cluster-scoped request or one across all namespaces; a rule limited to
// names never matches a request without one (create, and list or watch
// without a metadata.name field selector), as in RBAC.
//
// A request outside the resource space is allowed only when it reads
// discovery: GET or HEAD of /api, /apis and what lies below them (the
// group and version documents), /version and /openapi/... These hold the
// cluster's API schema and no object, and client-go's discovery client and
// RESTMapper need them, so any plugin granted the context may read them;
// nothing else outside the resource space (health, metrics, logs) is
// reachable.
func Allowed(rules []sdk.KubernetesRule, a Attributes) bool {
	if !a.ResourceRequest {
		return discovery(a)
	}
	if a.Verb == "" {
		return false
	}
	return slices.ContainsFunc(rules, func(r sdk.KubernetesRule) bool { return ruleAllows(r, a) })
}

func ruleAllows(r sdk.KubernetesRule, a Attributes) bool {
	return matches(r.Verbs, a.Verb) &&
		matches(r.APIGroups, a.APIGroup) &&
		resourceMatches(r.Resources, a) &&
		(len(r.Namespaces) == 0 || (a.Namespace != "" && matches(r.Namespaces, a.Namespace)) || slices.Contains(r.Namespaces, all)) &&
		(len(r.ResourceNames) == 0 || (a.Name != "" && matches(r.ResourceNames, a.Name)) || slices.Contains(r.ResourceNames, all))
}

func matches(list []string, v string) bool {
	return slices.Contains(list, all) || slices.Contains(list, v)
}

func resourceMatches(resources []string, a Attributes) bool {
	return slices.ContainsFunc(resources, func(r string) bool { return kuberule.ResourceMatches(r, a.Resource, a.Subresource) })
}

// discovery reports whether a, a request outside the resource space, reads
// the cluster's discovery or schema documents.
func discovery(a Attributes) bool {
	if a.Verb != "get" && a.Verb != "head" {
		return false
	}
	p := strings.TrimSuffix(a.Path, "/")
	switch p {
	case "/api", "/apis", "/version", "/openapi":
		return true
	}
	return strings.HasPrefix(p, "/api/") || strings.HasPrefix(p, "/apis/") || strings.HasPrefix(p, "/openapi/")
}
