package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

const kubeclientID = "kubeclient"

// TestKubeClientNative runs a native plugin that uses client-go through
// sdk/kube against a real kube-apiserver: the host, started with its own
// kubeconfig, mediates every request under the plugin's grant (configmaps
// in default of context its1), counts it in /metrics and audits what it
// refuses; the plugin's rest.Config and environment hold no credential.
func TestKubeClientNative(t *testing.T) { testKubeClient(t, false) }

// TestKubeClientSandboxed runs the same plugin source, unchanged, in the
// sandboxed tier: its requests reach the host through the sandbox's
// outbound HTTP, without the network grant, and meet the same mediation;
// its watch's answer is streamed to it.
func TestKubeClientSandboxed(t *testing.T) { testKubeClient(t, true) }

func testKubeClient(t *testing.T, sandboxed bool) {
	assets := kubeAssets(t)
	f := setup(t)
	admin := startKube(t, assets)
	// A cluster the host has no kubeconfig for: the plugin reaches it only
	// through a kubeconfig a caller brings.
	theirs := startKube(t, assets)
	kubeconfigPath := hostKubeconfigFiles(t, "its1", admin)
	dir := t.TempDir()
	// KUBECONFIG is emptied so that nothing but the flag names the
	// kubeconfig, and the plugin's environment cannot have it from the
	// test's.
	s := startServerArgs(t, f, freeAddr(t), filepath.Join(dir, "data"), f.cacheDir, []string{"--kubeconfig", kubeconfigPath}, "KUBECONFIG=")

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	adminKube := kubernetes.NewForConfigOrDie(admin)
	for _, cm := range []struct {
		cluster  *rest.Config
		ns, name string
	}{{admin, "default", "allowed"}, {admin, "kube-system", "elsewhere"}, {theirs, "default", "theirs"}} {
		if _, err := kubernetes.NewForConfigOrDie(cm.cluster).CoreV1().ConfigMaps(cm.ns).Create(ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: cm.name}, Data: map[string]string{"k": "v"},
		}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	src := copyPlugin(t, filepath.Join(f.root, "test/e2e/testdata/plugins/kubeclient"))
	if sandboxed {
		edit(t, filepath.Join(src, "plugin.yaml"), "kubernetes:", "security:\n  sandboxed: true\nkubernetes:")
	}
	loadStart := time.Now()
	want(t, "load kubeclient", s.api("POST", "/api/plugins/load", map[string]any{"source": src}), 201, "")
	t.Logf("load (build and start) took %v", time.Since(loadStart).Round(time.Millisecond))

	t.Run("contexts", func(t *testing.T) {
		// wds1 is granted but not in the host's kubeconfig.
		r := s.endpoint("GET", kubeclientID, "/contexts")
		if got := fmt.Sprint(r.body["contexts"]); r.status != 200 || got != "[its1]" {
			t.Fatalf("contexts: %s", r)
		}
	})

	t.Run("allowed", func(t *testing.T) {
		r := s.endpoint("GET", kubeclientID, "/configmap?name=allowed")
		if r.status != 200 || r.body["name"] != "allowed" {
			t.Fatalf("get a granted ConfigMap: %s", r)
		}
		// The duration of a handler's GET, through the plugin's endpoint
		// (one client-go request each, client made per request).
		const n = 20
		began := time.Now()
		for range n {
			if r := s.endpoint("GET", kubeclientID, "/configmap?name=allowed"); r.status != 200 || r.body["name"] != "allowed" {
				t.Fatalf("get a granted ConfigMap: %s", r)
			}
		}
		t.Logf("an endpoint call with one mediated GET: %v on average over %d", (time.Since(began) / n).Round(time.Microsecond), n)
	})

	t.Run("forbidden", func(t *testing.T) {
		for _, tc := range []struct{ name, path string }{
			{"another resource", "/secrets?namespace=default"},
			{"another namespace", "/configmap?namespace=kube-system&name=elsewhere"},
			{"a context outside the kubeconfig", "/configmap?context=wds1&name=allowed"},
			{"a context never granted", "/configmap?context=nowhere&name=allowed"},
		} {
			r := s.endpoint("GET", kubeclientID, tc.path)
			if r.status != 200 || r.body["forbidden"] != true {
				t.Errorf("%s: %s; want client-go's Forbidden", tc.name, r)
			}
		}
	})

	t.Run("watch", func(t *testing.T) {
		done := make(chan reply, 1)
		go func() { done <- s.call("GET", "/api/plugin-endpoints/"+kubeclientID+"/watch?name=watched", nil, false) }()
		time.Sleep(500 * time.Millisecond) // let the watch start; one started later still sees the object
		created := time.Now()
		if _, err := adminKube.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "watched"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		r := <-done
		added, ok := r.body["added"].(float64)
		if r.status != 200 || !ok {
			t.Fatalf("watch: %s", r)
		}
		t.Logf("the plugin's mediated watch saw the ConfigMap %v after its create began", time.Unix(0, int64(added)).Sub(created).Round(time.Millisecond))
	})

	t.Run("audit", func(t *testing.T) {
		// Refusals are written to the audit log after they are answered.
		var (
			r       reply
			entries []any
		)
		for deadline := time.Now().Add(5 * time.Second); len(entries) < 4 && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			r = s.api("GET", "/api/plugins/audit?actor=plugin:"+kubeclientID, nil)
			entries, _ = r.body["entries"].([]any)
		}
		seen := map[string]bool{}
		for _, e := range entries {
			e := e.(map[string]any)
			d, _ := e["details"].(map[string]any)
			if e["action"] != "kube-denied" || e["target"] != kubeclientID || e["result"] != "denied" || e["status"] != float64(403) {
				t.Errorf("audit entry: %v", e)
			}
			seen[fmt.Sprintf("%v %v %v %v", d["context"], d["verb"], d["resource"], d["namespace"])] = true
		}
		for _, w := range []string{"its1 list secrets default", "its1 get configmaps kube-system", "wds1 get configmaps default", "nowhere get configmaps default"} {
			if !seen[w] {
				t.Errorf("no kube-denied entry for %q; have %v (%s)", w, seen, r)
			}
		}
		if len(entries) != 4 {
			t.Errorf("%d kube-denied entries, want 4: allowed requests are not audited", len(entries))
		}
	})

	t.Run("metrics", func(t *testing.T) {
		r := s.call("GET", "/metrics", nil, false)
		res := []string{
			`kubestellar_plugin_kube_requests_total\{code="200",context="its1",group="",plugin_id="kubeclient",resource="configmaps",verb="get"\} 21`, // see allowed
			`kubestellar_plugin_kube_requests_total\{code="403",context="its1",group="",plugin_id="kubeclient",resource="secrets",verb="list"\} 1`,
			// The allowed gets and the one refused in kube-system: namespaces are no label.
			`kubestellar_plugin_kube_request_duration_seconds_count\{context="its1",group="",plugin_id="kubeclient",resource="configmaps",verb="get"\} 22`,
			`kubestellar_plugin_kube_requests_total\{code="200",context="its1",group="",plugin_id="kubeclient",resource="configmaps",verb="watch"\} 1`,
			// Contexts the host lacks (wds1, nowhere) are counted under one
			// label for all.
			`kubestellar_plugin_kube_requests_total\{code="403",context="unknown",group="",plugin_id="kubeclient",resource="configmaps",verb="get"\} 2`,
		}
		for _, re := range res {
			if !regexp.MustCompile(re).MatchString(r.raw) {
				t.Errorf("/metrics lacks %s", re)
			}
		}
		if strings.Contains(r.raw, `name="allowed"`) {
			t.Error("an object's name is a metric label")
		}
		if strings.Contains(r.raw, `context="nowhere"`) || strings.Contains(r.raw, `context="wds1"`) {
			t.Error("a context name the plugin made up is a metric label")
		}
	})

	t.Run("no credential in the plugin", func(t *testing.T) {
		r := s.endpoint("GET", kubeclientID, "/dump")
		if r.status != 200 || r.body["host"] != "http://kubernetes.ksplugins.invalid" {
			t.Fatalf("dump: %s", r)
		}
		for _, k := range []string{"bearerToken", "bearerTokenFile", "username", "password", "certFile", "keyFile", "caFile", "certData", "keyData", "caData", "impersonate"} {
			if r.body[k] != "" {
				t.Errorf("rest.Config %s = %q", k, r.body[k])
			}
		}
		if r.body["execProvider"] != false || r.body["authProvider"] != false {
			t.Errorf("rest.Config has a credential plugin: %s", r)
		}
		secrets := []string{kubeconfigPath, filepath.Dir(kubeconfigPath), string(admin.KeyData[40:80]), "e2e-token"}
		environ, _ := r.body["environ"].([]any) // null when empty, as in the sandbox
		if !sandboxed && len(environ) == 0 {
			t.Fatalf("no environment in the dump: %s", r)
		}
		for _, v := range environ {
			kv := v.(string)
			if k, val, _ := strings.Cut(kv, "="); k == "KUBECONFIG" && val != "" {
				t.Errorf("the plugin's environment names a kubeconfig: %s", kv)
			}
			for _, sec := range secrets {
				if strings.Contains(kv, sec) {
					t.Errorf("the plugin's environment holds %q: %s", sec, kv)
				}
			}
		}
	})
	t.Run("external", func(t *testing.T) {
		testExternalCluster(t, s, theirs)
	})

	t.Run("external not granted", func(t *testing.T) {
		// Grants are decided at install: the plugin is installed again
		// without asking for external clusters.
		want(t, "unload kubeclient", s.api("DELETE", "/api/plugins/"+kubeclientID, nil), 200, "")
		edit(t, filepath.Join(src, "plugin.yaml"), "  external_clusters: true\n", "")
		loadStart := time.Now()
		want(t, "load kubeclient", s.api("POST", "/api/plugins/load", map[string]any{"source": src}), 201, "")
		t.Logf("loading it again took %v", time.Since(loadStart).Round(time.Millisecond))
		r := s.call("POST", "/api/plugin-endpoints/"+kubeclientID+"/externalerror", map[string]any{"kubeconfig": string(kubeconfigOf(t, map[string]*rest.Config{"theirs": theirs}))}, false)
		if r.status != 200 || r.body["kind"] != "not-granted" {
			t.Fatalf("External without the grant: %s; want sdk.ErrExternalNotGranted", r)
		}
	})
}

// testExternalCluster has the kubeclient plugin, granted external clusters,
// work on theirs, a cluster given only in a caller's kubeconfig: its rules
// hold there, a refusal is audited with the server, the metrics' context
// label is "external", and a kubeconfig that would run a command is
// refused by the field that would, without running it.
func testExternalCluster(t *testing.T, s *server, theirs *rest.Config) {
	external := func(path string, body map[string]any) reply {
		t.Helper()
		return s.call("POST", "/api/plugin-endpoints/"+kubeclientID+path, body, false)
	}
	kubeconfig := string(kubeconfigOf(t, map[string]*rest.Config{"theirs": theirs}))

	// By default the host does not dial a caller's cluster on loopback (a
	// plugin could point it at the host's own services); the test's API
	// server is there, so the test allows it.
	r := external("/externalerror", map[string]any{"kubeconfig": kubeconfig})
	if r.body["kind"] != "refused" || r.body["field"] != `clusters["theirs"].cluster.server` {
		t.Errorf("a caller's cluster on loopback by default: %s; want refused on the server", r)
	}
	want(t, "allow every network", s.api("PUT", "/api/plugins/system/configuration",
		map[string]any{"kubernetes": map[string]any{"external_denied_networks": []string{}}}), 200, "")

	r = external("/externalconfigmaps", map[string]any{"kubeconfig": kubeconfig, "context": "theirs"})
	name, _ := r.body["context"].(string)
	if r.status != 200 || !strings.HasPrefix(name, "external-") || !slices.Contains(anyStrings(r.body["names"]), "theirs") {
		t.Fatalf("list ConfigMaps in default of the caller's cluster: %s", r)
	}
	if slices.Contains(anyStrings(r.body["names"]), "allowed") {
		t.Fatalf("the caller's cluster answered with the host's ConfigMaps: %s", r)
	}
	r = external("/externalconfigmaps", map[string]any{"kubeconfig": kubeconfig, "namespace": "kube-system"})
	if r.status != 200 || r.body["forbidden"] != true {
		t.Errorf("list ConfigMaps in kube-system of the caller's cluster: %s; want Forbidden", r)
	}

	marker := filepath.Join(t.TempDir(), "ran")
	withExec := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: theirs
  cluster: {server: %q}
users:
- name: x
  user:
    exec: {apiVersion: client.authentication.k8s.io/v1, command: /bin/sh, args: [-c, "touch %s"]}
contexts:
- name: theirs
  context: {cluster: theirs, user: x}
current-context: theirs
`, theirs.Host, marker)
	for _, tc := range []struct {
		name, kubeconfig, context, kind, field string
	}{
		{"exec", withExec, "", "refused", `users["x"].user.exec`},
		{"a context it lacks", kubeconfig, "mine", "no-context", ""},
		{"not YAML", "{", "", "invalid", ""},
		{"accepted", kubeconfig, "", "none", ""},
	} {
		r := external("/externalerror", map[string]any{"kubeconfig": tc.kubeconfig, "context": tc.context})
		if r.status != 200 || r.body["kind"] != tc.kind || (tc.field != "" && r.body["field"] != tc.field) {
			t.Errorf("%s: %s; want kind %s, field %q", tc.name, r, tc.kind, tc.field)
		}
		if tc.kind == "none" && r.body["context"] != name {
			t.Errorf("the same kubeconfig again named %v; want %s", r.body["context"], name)
		}
	}
	if _, err := os.Stat(marker); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the exec command ran (%v)", err)
	}

	u, err := url.Parse(theirs.Host)
	if err != nil {
		t.Fatal(err)
	}
	server := u.Host
	var found bool
	for deadline := time.Now().Add(10 * time.Second); !found && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		entries, _ := s.api("GET", "/api/plugins/audit?actor=plugin:"+kubeclientID, nil).body["entries"].([]any)
		for _, e := range entries {
			d, _ := e.(map[string]any)["details"].(map[string]any)
			found = found || (d["context"] == name && d["server"] == server && d["verb"] == "list" && d["namespace"] == "kube-system")
		}
	}
	if !found {
		t.Errorf("no kube-denied entry for the list in kube-system of %s at %s", name, server)
	}

	raw := s.call("GET", "/metrics", nil, false).raw
	for _, re := range []string{
		`kubestellar_plugin_kube_requests_total\{code="200",context="external",group="",plugin_id="kubeclient",resource="configmaps",verb="list"\} 1`,
		`kubestellar_plugin_kube_requests_total\{code="403",context="external",group="",plugin_id="kubeclient",resource="configmaps",verb="list"\} 1`,
	} {
		if !regexp.MustCompile(re).MatchString(raw) {
			t.Errorf("/metrics lacks %s", re)
		}
	}
	if strings.Contains(raw, name) {
		t.Errorf("/metrics names the external context %s", name)
	}
}

// anyStrings is a JSON list of strings.
func anyStrings(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, s := range list {
		if s, ok := s.(string); ok {
			out = append(out, s)
		}
	}
	return out
}
