package policy

import (
	"fmt"
	"slices"
	"strings"

	apiv1 "github.com/kubestellar/ksplugins/api/v1"

	"github.com/kubestellar/ksplugins/internal/kuberule"
	"github.com/kubestellar/ksplugins/sdk"
)

// GrantKubernetes decides the access to clusters a plugin whose manifest is
// md gets in the security mode given, bounded by the system configuration's
// kubernetes settings:
//
//   - permissive grants everything asked for;
//   - normal grants every rule and external clusters, and the contexts
//     asked for that allowed_contexts lists (all of them when it is empty);
//   - strict grants, of what normal would grant, only what granted lists
//     for the plugin's id: the contexts listed, the rules a listed rule
//     covers, and external clusters if listed. A plugin not listed gets
//     nothing.
//
// A rule is granted whole or not at all, so that a plugin never runs with
// half of a rule it was written for. It returns nil for a manifest without
// a kubernetes section, and otherwise a grant whose Withheld says what was
// not granted and why.
func GrantKubernetes(md *sdk.PluginMetadata, mode string, settings apiv1.KubernetesSettings) *apiv1.KubernetesGrant {
	if md == nil || md.Kubernetes == nil {
		return nil
	}
	asked := md.Kubernetes
	g := &apiv1.KubernetesGrant{Contexts: []string{}, Rules: []sdk.KubernetesRule{}}
	withhold := func(format string, args ...any) { g.Withheld = append(g.Withheld, fmt.Sprintf(format, args...)) }
	var listed *sdk.KubernetesAccess
	if mode == ModeStrict {
		if listed = settings.Granted[md.ID]; listed == nil {
			listed = &sdk.KubernetesAccess{}
		}
	}
	bounded := mode != ModePermissive && len(settings.AllowedContexts) > 0

	for _, c := range asked.Contexts {
		switch {
		case bounded && !slices.Contains(settings.AllowedContexts, c):
			withhold("context %s withheld: kubernetes.allowed_contexts does not list it", c)
		case listed != nil && !slices.Contains(listed.Contexts, c):
			withhold("context %s withheld: strict mode grants only the contexts kubernetes.granted lists for %s", c, md.ID)
		default:
			g.Contexts = append(g.Contexts, c)
		}
	}
	for i, r := range asked.Rules {
		if listed != nil && !slices.ContainsFunc(listed.Rules, func(l sdk.KubernetesRule) bool { return Covers(l, r) }) {
			withhold("rule %d (%s) withheld: strict mode grants only the rules kubernetes.granted covers for %s", i, DescribeRule(r), md.ID)
			continue
		}
		g.Rules = append(g.Rules, cloneRule(r))
	}
	if asked.ExternalClusters {
		if listed != nil && !listed.ExternalClusters {
			withhold("external clusters withheld: strict mode grants them only when kubernetes.granted allows them for %s", md.ID)
		} else {
			g.ExternalClusters = true
		}
	}
	return g
}

// Covers reports whether the rule outer allows everything the rule inner
// allows, with "*" and subresources read as RBAC reads them, and an empty
// namespaces or resourceNames list meaning every one.
func Covers(outer, inner sdk.KubernetesRule) bool {
	return subset(inner.APIGroups, outer.APIGroups, equal) &&
		subset(inner.Resources, outer.Resources, kuberule.ResourceCovers) &&
		subset(inner.Verbs, outer.Verbs, equal) &&
		scoped(inner.Namespaces, outer.Namespaces) &&
		scoped(inner.ResourceNames, outer.ResourceNames)
}

// DescribeRule says what a rule allows in a line, such as "get, list on
// apps/deployments in default".
func DescribeRule(r sdk.KubernetesRule) string {
	var targets []string
	for _, g := range r.APIGroups {
		for _, res := range r.Resources {
			if g == "" {
				targets = append(targets, res)
			} else {
				targets = append(targets, g+"/"+res)
			}
		}
	}
	s := strings.Join(r.Verbs, ", ") + " on " + strings.Join(targets, ", ")
	if len(r.ResourceNames) > 0 {
		s += " named " + strings.Join(r.ResourceNames, ", ")
	}
	if len(r.Namespaces) > 0 {
		return s + " in " + strings.Join(r.Namespaces, ", ")
	}
	return s + " in every namespace"
}

func equal(listed, asked string) bool { return listed == asked }

// subset reports whether every value asked for is matched by a listed one;
// a listed "*" matches everything.
func subset(asked, listed []string, match func(listed, asked string) bool) bool {
	if slices.Contains(listed, "*") {
		return true
	}
	for _, a := range asked {
		if !slices.ContainsFunc(listed, func(l string) bool { return match(l, a) }) {
			return false
		}
	}
	return true
}

// scoped is subset for a list where empty means every value.
func scoped(asked, listed []string) bool {
	if len(listed) == 0 || slices.Contains(listed, "*") {
		return true
	}
	if len(asked) == 0 || slices.Contains(asked, "*") {
		return false
	}
	return subset(asked, listed, equal)
}

func cloneRule(r sdk.KubernetesRule) sdk.KubernetesRule {
	return sdk.KubernetesRule{
		APIGroups:     slices.Clone(r.APIGroups),
		Resources:     slices.Clone(r.Resources),
		Verbs:         slices.Clone(r.Verbs),
		Namespaces:    slices.Clone(r.Namespaces),
		ResourceNames: slices.Clone(r.ResourceNames),
	}
}
