package e2e

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/kubestellar/ksplugins/internal/policy"
)

// kubernetesSection asks for access to two contexts, with two rules and
// external clusters.
const kubernetesSection = `
kubernetes:
  contexts: [its1, wds1]
  rules:
    - apiGroups: [cluster.open-cluster-management.io]
      resources: [managedclusters, managedclusters/status]
      verbs: [get, list, watch]
    - apiGroups: [certificates.k8s.io]
      resources: [certificatesigningrequests/approval]
      verbs: [update]
      namespaces: [open-cluster-management]
  external_clusters: true
`

// kubernetesArchive is the hello plugin with kubernetesSection in its
// plugin.yaml, zipped.
func kubernetesArchive(t *testing.T, f fixture) []byte {
	t.Helper()
	files := pluginFiles(t, f, "")
	for i := range files {
		if files[i].name == "plugin.yaml" {
			files[i].body = append(files[i].body, kubernetesSection...)
		}
	}
	return makeZip(t, files)
}

// kubeGrant is a plugin's Kubernetes grant as GET /api/plugins/:id shows it.
type kubeGrant struct {
	Contexts []string `json:"contexts"`
	Rules    []struct {
		APIGroups  []string `json:"apiGroups"`
		Resources  []string `json:"resources"`
		Verbs      []string `json:"verbs"`
		Namespaces []string `json:"namespaces"`
	} `json:"rules"`
	ExternalClusters bool     `json:"external_clusters"`
	Withheld         []string `json:"withheld"`
}

// kubernetesOf reads the Kubernetes grant of plugin id; nil when it has
// none.
func (s *server) kubernetesOf(id string) *kubeGrant {
	s.t.Helper()
	r := s.api("GET", "/api/plugins/"+id, nil)
	want(s.t, "get "+id, r, 200, "")
	var p struct {
		Kubernetes *kubeGrant `json:"kubernetes"`
	}
	if err := json.Unmarshal([]byte(r.raw), &p); err != nil {
		s.t.Fatalf("decode %s: %v", r, err)
	}
	return p.Kubernetes
}

// TestKubernetesGrant installs the hello plugin with kubernetesSection in
// its plugin.yaml, in each security mode: what it is granted follows the
// mode and the kubernetes settings and says what was withheld; it does not
// change when the configuration changes afterwards nor on reload, and
// survives a restart.
func TestKubernetesGrant(t *testing.T) {
	f := setup(t)
	data, addr := t.TempDir(), freeAddr(t)
	s := startServerOn(t, f, addr, data, f.cacheDir)
	// Strict mode installs only what a trusted key signed.
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s.configure(map[string]any{"security_mode": "permissive", "trusted_keys": []string{policy.EncodePublicKey(pub)}})
	sign := func(archive []byte) map[string]string {
		sum := sha256.Sum256(archive)
		digest := "sha256:" + hex.EncodeToString(sum[:])
		return map[string]string{"checksum": digest, "signature": policy.Sign(priv, digest)}
	}

	// A plugin whose manifest has no kubernetes section has no grant.
	plain := makeZip(t, pluginFiles(t, f, ""))
	want(t, "upload hello", s.upload(plain, "hello.zip", "", sign(plain)), 201, "")
	if g := s.kubernetesOf(helloID); g != nil {
		t.Fatalf("a plugin that asks for no access to clusters was granted %+v", *g)
	}
	want(t, "unload hello", s.api("DELETE", "/api/plugins/"+helloID, nil), 200, "")

	archive := kubernetesArchive(t, f)

	// Strict mode may grant the plugin its1 and wds1, the reading rule (a
	// wider one covers it), and no external clusters.
	listed := map[string]any{helloID: map[string]any{
		"contexts": []string{"its1", "wds1"},
		"rules": []any{map[string]any{"apiGroups": []string{"cluster.open-cluster-management.io"},
			"resources": []string{"managedclusters", "*/status"}, "verbs": []string{"*"}}},
	}}
	type grantWant struct {
		contexts []string
		rules    int
		external bool
		withheld []string // what each withheld entry says, in order
	}
	cases := []struct {
		mode     string
		settings map[string]any
		want     grantWant
	}{
		{"permissive", map[string]any{"allowed_contexts": []string{"its1"}},
			grantWant{contexts: []string{"its1", "wds1"}, rules: 2, external: true}},
		{"normal", map[string]any{"allowed_contexts": []string{"its1"}},
			grantWant{contexts: []string{"its1"}, rules: 2, external: true, withheld: []string{"context wds1 withheld"}}},
		{"strict", map[string]any{"allowed_contexts": []string{}, "granted": listed},
			grantWant{contexts: []string{"its1", "wds1"}, rules: 1, withheld: []string{"rule 1 (update on certificates.k8s.io/certificatesigningrequests/approval in open-cluster-management) withheld", "external clusters withheld"}}},
	}
	check := func(t *testing.T, what string, g *kubeGrant, w grantWant) {
		t.Helper()
		if g == nil {
			t.Fatalf("%s: no kubernetes grant", what)
		}
		if !slices.Equal(g.Contexts, w.contexts) || len(g.Rules) != w.rules || g.ExternalClusters != w.external || len(g.Withheld) != len(w.withheld) {
			t.Fatalf("%s: grant %+v; want %+v", what, *g, w)
		}
		if r := g.Rules[0]; !slices.Equal(r.Resources, []string{"managedclusters", "managedclusters/status"}) || !slices.Equal(r.Verbs, []string{"get", "list", "watch"}) {
			t.Errorf("%s: rule 0 = %+v; want the manifest's", what, r)
		}
		for i, text := range w.withheld {
			if !strings.Contains(g.Withheld[i], text) {
				t.Errorf("%s: withheld[%d] = %q; want it to say %q", what, i, g.Withheld[i], text)
			}
		}
	}

	for _, c := range cases {
		r := s.api("PUT", "/api/plugins/system/configuration", map[string]any{"security_mode": c.mode, "kubernetes": c.settings})
		want(t, "set "+c.mode+" mode", r, 200, "")
		want(t, "upload in "+c.mode+" mode", s.upload(archive, "kube.zip", "", sign(archive)), 201, "")
		check(t, c.mode, s.kubernetesOf(helloID), c.want)
		if c.mode != "strict" {
			want(t, "unload", s.api("DELETE", "/api/plugins/"+helloID, nil), 200, "")
		}
	}
	strict := cases[len(cases)-1].want

	// Grants are decided at install: a later change of the configuration
	// does not widen them, neither does a reload, nor a restart that
	// reads the changed configuration.
	want(t, "set permissive mode", s.api("PUT", "/api/plugins/system/configuration", map[string]any{"security_mode": "permissive"}), 200, "")
	check(t, "after the configuration changed", s.kubernetesOf(helloID), strict)
	want(t, "reload", s.api("POST", "/api/plugins/"+helloID+"/reload", nil), 200, "")
	check(t, "after a reload", s.kubernetesOf(helloID), strict)
	s.kill()
	s = startServerOn(t, f, addr, data, f.cacheDir)
	if state := s.pluginState(helloID); state != "active" {
		t.Fatalf("after the restart the plugin is %q; want active", state)
	}
	check(t, "after a restart", s.kubernetesOf(helloID), strict)
}

// TestPageKubernetesGrant: the plugin's page shows, on its access tab, the
// contexts and rules it was granted, whether it may reach clusters callers
// bring, and what was withheld.
func TestPageKubernetesGrant(t *testing.T) {
	f := setup(t)
	s := startServer(t, f)
	s.configure(map[string]any{"security_mode": "normal", "kubernetes": map[string]any{"allowed_contexts": []string{"its1"}}})
	want(t, "upload", s.upload(kubernetesArchive(t, f), "kube.zip", "", nil), 201, "")

	b := newBrowser(t, wideWidth, wideHeight)
	b.signIn(s.url+"/", s.token)
	b.goTo("#/plugins/"+helloID, "#view-detail")
	grant := "#view-detail [data-kubernetes] "
	b.waitText("the granted contexts", grant+"[data-kube-contexts]", "^its1$")
	if got := b.text(grant + "[data-kube-external]"); got != "yes" {
		t.Errorf("clusters callers bring: %q; want yes", got)
	}
	rules := eval[[]string](b, `[...document.querySelectorAll('#view-detail [data-kube-rules] li')].map((li) => li.innerText)`)
	wantRules := []string{
		"get, list, watch on cluster.open-cluster-management.io/managedclusters, cluster.open-cluster-management.io/managedclusters/status in every namespace",
		"update on certificates.k8s.io/certificatesigningrequests/approval in open-cluster-management",
	}
	if !slices.Equal(rules, wantRules) {
		t.Errorf("rules shown:\n%q\nwant\n%q", rules, wantRules)
	}
	if got := b.text(grant + "[data-kube-withheld]"); !strings.Contains(got, "context wds1 withheld: kubernetes.allowed_contexts does not list it") {
		t.Errorf("withheld shown: %q", got)
	}
	b.accessible("kubernetes grant")
	b.shot("kubernetes-grant")
	b.noProblems()
}
