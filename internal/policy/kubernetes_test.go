package policy

import (
	"slices"
	"strings"
	"testing"

	apiv1 "github.com/kubestellar/ksplugins/api/v1"

	"github.com/kubestellar/ksplugins/sdk"
)

func TestGrantKubernetes(t *testing.T) {
	read := sdk.KubernetesRule{APIGroups: []string{"cluster.open-cluster-management.io"}, Resources: []string{"managedclusters"}, Verbs: []string{"get", "list"}}
	approve := sdk.KubernetesRule{APIGroups: []string{"certificates.k8s.io"}, Resources: []string{"certificatesigningrequests/approval"}, Verbs: []string{"update"}}
	md := &sdk.PluginMetadata{ID: "cm", Kubernetes: &sdk.KubernetesAccess{
		Contexts: []string{"its1", "wds1"}, Rules: []sdk.KubernetesRule{read, approve}, ExternalClusters: true}}
	wide := &sdk.KubernetesAccess{Contexts: []string{"its1", "wds1"}, ExternalClusters: true,
		Rules: []sdk.KubernetesRule{{APIGroups: []string{"*"}, Resources: []string{"*"}, Verbs: []string{"*"}}}}

	tests := []struct {
		name     string
		md       *sdk.PluginMetadata
		mode     string
		settings apiv1.KubernetesSettings
		want     *apiv1.KubernetesGrant
		withheld []string // what each withheld entry names, in order
	}{
		{name: "no manifest", md: nil, mode: ModePermissive, want: nil},
		{name: "no section", md: &sdk.PluginMetadata{ID: "cm"}, mode: ModePermissive, want: nil},
		{name: "permissive grants all, allowed contexts or not", md: md, mode: ModePermissive,
			settings: apiv1.KubernetesSettings{AllowedContexts: []string{"its1"}},
			want:     &apiv1.KubernetesGrant{Contexts: []string{"its1", "wds1"}, Rules: []sdk.KubernetesRule{read, approve}, ExternalClusters: true}},
		{name: "normal, every context allowed", md: md, mode: ModeNormal,
			want: &apiv1.KubernetesGrant{Contexts: []string{"its1", "wds1"}, Rules: []sdk.KubernetesRule{read, approve}, ExternalClusters: true}},
		{name: "normal withholds contexts not allowed", md: md, mode: ModeNormal,
			settings: apiv1.KubernetesSettings{AllowedContexts: []string{"its1", "other"}},
			want:     &apiv1.KubernetesGrant{Contexts: []string{"its1"}, Rules: []sdk.KubernetesRule{read, approve}, ExternalClusters: true},
			withheld: []string{"context wds1 withheld: kubernetes.allowed_contexts"}},
		{name: "normal ignores strict's list", md: md, mode: ModeNormal,
			settings: apiv1.KubernetesSettings{Granted: map[string]*sdk.KubernetesAccess{"cm": {}}},
			want:     &apiv1.KubernetesGrant{Contexts: []string{"its1", "wds1"}, Rules: []sdk.KubernetesRule{read, approve}, ExternalClusters: true}},
		{name: "strict, not listed: nothing", md: md, mode: ModeStrict,
			want:     &apiv1.KubernetesGrant{Contexts: []string{}, Rules: []sdk.KubernetesRule{}},
			withheld: []string{"context its1", "context wds1", "rule 0 (get, list on cluster.open-cluster-management.io/managedclusters in every namespace)", "rule 1", "external clusters"}},
		{name: "strict, listed wide: all", md: md, mode: ModeStrict,
			settings: apiv1.KubernetesSettings{Granted: map[string]*sdk.KubernetesAccess{"cm": wide}},
			want:     &apiv1.KubernetesGrant{Contexts: []string{"its1", "wds1"}, Rules: []sdk.KubernetesRule{read, approve}, ExternalClusters: true}},
		{name: "strict, another plugin listed", md: md, mode: ModeStrict,
			settings: apiv1.KubernetesSettings{Granted: map[string]*sdk.KubernetesAccess{"other": wide}},
			want:     &apiv1.KubernetesGrant{Contexts: []string{}, Rules: []sdk.KubernetesRule{}},
			withheld: []string{"context its1", "context wds1", "rule 0", "rule 1", "external clusters"}},
		{name: "strict, listed in part, within allowed contexts", md: md, mode: ModeStrict,
			settings: apiv1.KubernetesSettings{AllowedContexts: []string{"wds1"}, Granted: map[string]*sdk.KubernetesAccess{"cm": {
				Contexts: []string{"its1", "wds1"},
				Rules:    []sdk.KubernetesRule{{APIGroups: []string{"cluster.open-cluster-management.io"}, Resources: []string{"managedclusters", "managedclusters/status"}, Verbs: []string{"get", "list", "watch"}}}}}},
			want:     &apiv1.KubernetesGrant{Contexts: []string{"wds1"}, Rules: []sdk.KubernetesRule{read}},
			withheld: []string{"context its1 withheld: kubernetes.allowed_contexts", "rule 1 (update on certificates.k8s.io/certificatesigningrequests/approval", "external clusters"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := GrantKubernetes(tt.md, tt.mode, tt.settings)
			if (got == nil) != (tt.want == nil) {
				t.Fatalf("GrantKubernetes = %+v; want %+v", got, tt.want)
			}
			if got == nil {
				return
			}
			if !slices.Equal(got.Contexts, tt.want.Contexts) || got.ExternalClusters != tt.want.ExternalClusters ||
				!slices.EqualFunc(got.Rules, tt.want.Rules, sameRule) || got.Contexts == nil || got.Rules == nil {
				t.Fatalf("GrantKubernetes = %+v; want %+v", got, tt.want)
			}
			if len(got.Withheld) != len(tt.withheld) {
				t.Fatalf("withheld = %q; want %d entries", got.Withheld, len(tt.withheld))
			}
			for i, w := range tt.withheld {
				if !strings.Contains(got.Withheld[i], w) {
					t.Errorf("withheld[%d] = %q; want it to say %q", i, got.Withheld[i], w)
				}
			}
		})
	}
}

func TestGrantKubernetesCopies(t *testing.T) {
	md := &sdk.PluginMetadata{ID: "p", Kubernetes: &sdk.KubernetesAccess{Contexts: []string{"a"},
		Rules: []sdk.KubernetesRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get"}}}}}
	g := GrantKubernetes(md, ModeNormal, apiv1.KubernetesSettings{})
	md.Kubernetes.Rules[0].Verbs[0] = "delete"
	if g.Rules[0].Verbs[0] != "get" {
		t.Fatalf("the grant shares the manifest's lists: changing the manifest changed the grant to %v", g.Rules[0].Verbs)
	}
}

func TestCovers(t *testing.T) {
	rule := func(groups, resources, verbs, namespaces, names string) sdk.KubernetesRule {
		list := func(s string) []string {
			if s == "-" {
				return nil
			}
			return strings.Split(s, ",")
		}
		return sdk.KubernetesRule{APIGroups: list(groups), Resources: list(resources), Verbs: list(verbs), Namespaces: list(namespaces), ResourceNames: list(names)}
	}
	tests := []struct {
		name         string
		outer, inner sdk.KubernetesRule
		want         bool
	}{
		{"same", rule("apps", "deployments", "get", "-", "-"), rule("apps", "deployments", "get", "-", "-"), true},
		{"more verbs", rule("apps", "deployments", "get,list", "-", "-"), rule("apps", "deployments", "get", "-", "-"), true},
		{"a verb too many", rule("apps", "deployments", "get", "-", "-"), rule("apps", "deployments", "get,delete", "-", "-"), false},
		{"star verbs", rule("apps", "deployments", "*", "-", "-"), rule("apps", "deployments", "deletecollection", "-", "-"), true},
		{"asked star, listed not", rule("apps", "deployments", "get,list", "-", "-"), rule("apps", "deployments", "*", "-", "-"), false},
		{"other group", rule("apps", "deployments", "get", "-", "-"), rule("batch", "deployments", "get", "-", "-"), false},
		{"core group", rule(",apps", "pods", "get", "-", "-"), rule("", "pods", "get", "-", "-"), true},
		{"star resources cover subresources", rule("", "*", "get", "-", "-"), rule("", "pods/log", "get", "-", "-"), true},
		{"resource does not cover its subresource", rule("", "pods", "get", "-", "-"), rule("", "pods/log", "get", "-", "-"), false},
		{"no resource/* in RBAC", rule("", "pods/*", "get", "-", "-"), rule("", "pods/log", "get", "-", "-"), false},
		{"one subresource of every", rule("apps", "*/scale", "get", "-", "-"), rule("apps", "deployments/scale", "get", "-", "-"), true},
		{"subresource of every, other one", rule("apps", "*/scale", "get", "-", "-"), rule("apps", "deployments/status", "get", "-", "-"), false},
		{"every namespace covers one", rule("", "pods", "get", "-", "-"), rule("", "pods", "get", "kube-system", "-"), true},
		{"one namespace does not cover every", rule("", "pods", "get", "default", "-"), rule("", "pods", "get", "-", "-"), false},
		{"namespaces within", rule("", "pods", "get", "a,b", "-"), rule("", "pods", "get", "b", "-"), true},
		{"namespace outside", rule("", "pods", "get", "a", "-"), rule("", "pods", "get", "a,c", "-"), false},
		{"names within", rule("", "secrets", "get", "-", "x,y"), rule("", "secrets", "get", "-", "y"), true},
		{"every name asked, some listed", rule("", "secrets", "get", "-", "x"), rule("", "secrets", "get", "-", "-"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Covers(tt.outer, tt.inner); got != tt.want {
				t.Fatalf("Covers(%s, %s) = %v; want %v", DescribeRule(tt.outer), DescribeRule(tt.inner), got, tt.want)
			}
		})
	}
}

func TestDescribeRule(t *testing.T) {
	r := sdk.KubernetesRule{APIGroups: []string{"", "apps"}, Resources: []string{"pods", "deployments/scale"}, Verbs: []string{"get", "patch"},
		Namespaces: []string{"default"}, ResourceNames: []string{"web"}}
	want := "get, patch on pods, deployments/scale, apps/pods, apps/deployments/scale named web in default"
	if got := DescribeRule(r); got != want {
		t.Fatalf("DescribeRule = %q; want %q", got, want)
	}
}

func sameRule(a, b sdk.KubernetesRule) bool {
	return slices.Equal(a.APIGroups, b.APIGroups) && slices.Equal(a.Resources, b.Resources) && slices.Equal(a.Verbs, b.Verbs) &&
		slices.Equal(a.Namespaces, b.Namespaces) && slices.Equal(a.ResourceNames, b.ResourceNames)
}
