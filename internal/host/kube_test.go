package host

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	apiv1 "github.com/kubestellar/ksplugins/api/v1"

	"github.com/kubestellar/ksplugins/internal/kubeaccess"
	"github.com/kubestellar/ksplugins/internal/store"
	"github.com/kubestellar/ksplugins/sdk"
	"github.com/kubestellar/ksplugins/sdk/kubeconfig"
)

// kubePlugin keeps the Kubernetes access the host gives it.
type kubePlugin struct {
	testPlugin
	kube sdk.Kubernetes
}

func (p *kubePlugin) SetKubernetes(k sdk.Kubernetes) { p.kube = k }

func (p *kubePlugin) Initialize(map[string]interface{}) error {
	if p.kube == nil {
		return io.ErrUnexpectedEOF // Initialize before SetKubernetes
	}
	return p.record("Initialize")
}

// get makes a GET of path on context through the plugin's access and
// returns the status.
func (p *kubePlugin) get(t *testing.T, context, path string) int {
	t.Helper()
	resp, err := (&http.Client{Transport: p.kube.Transport(context)}).Get("http://kubernetes.ksplugins.invalid" + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

func configMapsIn(ns string, resources ...string) *apiv1.KubernetesGrant {
	return &apiv1.KubernetesGrant{Contexts: []string{"its1", "wds1"}, Rules: []sdk.KubernetesRule{
		{APIGroups: []string{""}, Resources: resources, Verbs: []string{"get"}, Namespaces: []string{ns}},
	}}
}

// TestKubernetesAccess: a plugin reaches the granted contexts the host's
// kubeconfig has, under its grant; refusals are audited and every request
// counted; an update's new instance gets the new grant.
func TestKubernetesAccess(t *testing.T) {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer host-token" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"kind":"ConfigMap","metadata":{"name":"x"}}`)
	}))
	defer api.Close()
	up, err := kubeaccess.NewUpstream(kubeconfig.Context{Name: "its1", Cluster: kubeconfig.Cluster{Server: api.URL}, User: kubeconfig.User{Token: "host-token"}})
	if err != nil {
		t.Fatal(err)
	}
	h := newTestHost(t, func(o *Options) { o.Kubernetes = []*kubeaccess.Upstream{up} })
	ctx := context.Background()

	old := &kubePlugin{testPlugin: testPlugin{id: "kp", reply: "old"}}
	in := &instance{impl: old, meta: old.GetMetadata(), loadedAt: time.Now()}
	p := &Plugin{id: "kp", state: apiv1.StateLoading, enabled: true, source: apiv1.Source{Kind: apiv1.SourceFile, Location: "test"}, kube: configMapsIn("default", "configmaps")}
	if err := h.register(ctx, p, in, true); err != nil {
		t.Fatal(err)
	}
	// wds1 is granted, but the host's kubeconfig lacks it.
	if got := old.kube.Contexts(); !slices.Equal(got, []string{"its1"}) {
		t.Errorf("contexts %v, want [its1]", got)
	}
	for _, tc := range []struct {
		context, path string
		want          int
	}{
		{"its1", "/api/v1/namespaces/default/configmaps/x", 200},
		{"its1", "/api/v1/namespaces/default/secrets/x", 403},
		{"its1", "/api/v1/namespaces/other/configmaps/x", 403},
		{"wds1", "/api/v1/namespaces/default/configmaps/x", 403},
	} {
		if got := old.get(t, tc.context, tc.path); got != tc.want {
			t.Errorf("GET %s on %s: %d, want %d", tc.path, tc.context, got, tc.want)
		}
	}

	// Reports follow the answers: wait for the last.
	var entries []store.AuditEntry
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline) && len(entries) < 3; time.Sleep(5 * time.Millisecond) {
		if entries, err = h.store.Audit(ctx, store.AuditQuery{Actor: "plugin:kp"}); err != nil {
			t.Fatal(err)
		}
	}
	var denied []string
	for _, e := range entries {
		if e.Action != "kube-denied" || e.Target != "kp" || e.Result != "denied" || e.Status != 403 {
			t.Errorf("audit entry %+v", e)
		}
		denied = append(denied, e.Details["context"].(string)+" "+e.Details["resource"].(string)+" "+e.Details["namespace"].(string))
	}
	if want := []string{"its1 secrets default", "its1 configmaps other", "wds1 configmaps default"}; !slices.Equal(denied, want) {
		t.Errorf("audited %q, want %q", denied, want)
	}
	stats := h.KubeStats()["kp"]
	counts := map[string]uint64{}
	for _, s := range stats {
		for code, n := range s.ByStatus {
			counts[s.Context+" "+s.Verb+" "+s.Resource+" "+http.StatusText(code)] += n
		}
	}
	// wds1 is not a context of the host: its requests count as unknown,
	// so that names a plugin makes up add no labels.
	want := map[string]uint64{"its1 get configmaps OK": 1, "its1 get configmaps Forbidden": 1, "its1 get secrets Forbidden": 1, "unknown get configmaps Forbidden": 1}
	for k, n := range want {
		if counts[k] != n {
			t.Errorf("counted %v, want %v", counts, want)
			break
		}
	}

	// An update swaps in an instance under the new grant.
	next := &kubePlugin{testPlugin: testPlugin{id: "kp", reply: "new"}}
	p.op.Lock()
	err = h.swap(ctx, p, &instance{impl: next, meta: next.GetMetadata(), loadedAt: time.Now()},
		change{source: &apiv1.Source{Kind: apiv1.SourceFile, Location: "test"}, kube: configMapsIn("default", "secrets")})
	p.op.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	if got := next.get(t, "its1", "/api/v1/namespaces/default/secrets/x"); got != 200 {
		t.Errorf("secrets after the update granted them: %d", got)
	}
	if got := next.get(t, "its1", "/api/v1/namespaces/default/configmaps/x"); got != 403 {
		t.Errorf("configmaps after the update withdrew them: %d", got)
	}
}

// TestKubernetesImpersonation: the contexts the system configuration's
// kubernetes.impersonate lists make a plugin's requests the plugin's own
// user's; the others stay the host's. A new instance follows a change.
func TestKubernetesImpersonation(t *testing.T) {
	seen := make(chan string, 10)
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- r.Header.Get("Impersonate-User")
		_, _ = io.WriteString(w, `{}`)
	}))
	defer api.Close()
	var ups []*kubeaccess.Upstream
	for _, name := range []string{"its1", "wds1"} {
		up, err := kubeaccess.NewUpstream(kubeconfig.Context{Name: name, Cluster: kubeconfig.Cluster{Server: api.URL}, User: kubeconfig.User{Token: "t"}})
		if err != nil {
			t.Fatal(err)
		}
		ups = append(ups, up)
	}
	h := newTestHost(t, func(o *Options) { o.Kubernetes = ups })
	for _, tc := range []struct {
		impersonate []string
		its1, wds1  string
	}{
		{nil, "", ""},
		{[]string{"its1"}, kubeaccess.PluginUserPrefix + "kp", ""},
		{[]string{"*"}, kubeaccess.PluginUserPrefix + "kp", kubeaccess.PluginUserPrefix + "kp"},
	} {
		sys := *h.system.Load()
		sys.Kubernetes.Impersonate = tc.impersonate
		h.SetSystem(sys)
		p := &kubePlugin{testPlugin: testPlugin{id: "kp"}}
		k := h.kubeAccessFor(&Plugin{id: "kp"}, configMapsIn("default", "configmaps"))
		p.kube = k
		for ctx, want := range map[string]string{"its1": tc.its1, "wds1": tc.wds1} {
			if code := p.get(t, ctx, "/api/v1/namespaces/default/configmaps/x"); code != 200 {
				t.Fatalf("%v: GET on %s: %d", tc.impersonate, ctx, code)
			}
			if got := <-seen; got != want {
				t.Errorf("impersonate %v: %s's request impersonated %q, want %q", tc.impersonate, ctx, got, want)
			}
		}
	}
}

// callerKubeconfig is a kubeconfig a caller brings for the API server at
// server, whose user has the fields given.
func callerKubeconfig(server, user string) []byte {
	return []byte(`apiVersion: v1
kind: Config
clusters:
- name: theirs
  cluster: {server: "` + server + `"}
users:
- name: x
  user: {` + user + `}
contexts:
- name: theirs
  context: {cluster: theirs, user: x}
current-context: theirs
`)
}

// TestKubernetesExternal: a plugin granted external_clusters reaches a
// cluster a caller brought with the caller's credentials, under its rules;
// refusals are audited with the server and counted under the context
// "external"; a kubeconfig the untrusted rules refuse fails with their
// typed errors; a plugin without the grant gets ErrExternalNotGranted; the
// clusters go when the instance stops.
func TestKubernetesExternal(t *testing.T) {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer caller-token" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"kind":"ConfigMap","metadata":{"name":"x"}}`)
	}))
	defer api.Close()
	h := newTestHost(t)
	ctx := context.Background()
	granted := configMapsIn("default", "configmaps")
	granted.ExternalClusters = true

	// By default a caller's cluster on loopback is refused, naming the
	// server.
	byDefault := h.kubeAccessFor(&Plugin{id: "kp"}, granted)
	var refusedServer *kubeconfig.RefusedError
	if _, err := byDefault.External(callerKubeconfig(api.URL, "token: caller-token"), ""); !errors.As(err, &refusedServer) ||
		refusedServer.Field != `clusters["theirs"].cluster.server` || !strings.Contains(err.Error(), "external_denied_networks") {
		t.Errorf("a loopback server by default: %v", err)
	}
	// The test's API server is on loopback: allow every network. The
	// change applies to the next cluster brought.
	sys := *h.system.Load()
	sys.Kubernetes.ExternalDeniedNetworks = []string{}
	h.SetSystem(sys)
	if _, err := byDefault.External(callerKubeconfig(api.URL, "token: caller-token"), ""); err != nil {
		t.Errorf("a loopback server once allowed: %v", err)
	}

	kp := &kubePlugin{testPlugin: testPlugin{id: "kp"}}
	p := &Plugin{id: "kp", state: apiv1.StateLoading, enabled: true, source: apiv1.Source{Kind: apiv1.SourceFile, Location: "test"}, kube: granted}
	if err := h.register(ctx, p, &instance{impl: kp, meta: kp.GetMetadata(), loadedAt: time.Now()}, true); err != nil {
		t.Fatal(err)
	}
	good := callerKubeconfig(api.URL, "token: caller-token")

	var refused *kubeconfig.RefusedError
	var invalid *kubeconfig.InvalidError
	for _, tc := range []struct {
		name       string
		kubeconfig []byte
		context    string
		check      func(error) bool
	}{
		{"exec", callerKubeconfig(api.URL, "exec: {command: /bin/sh}"), "",
			func(err error) bool { return errors.As(err, &refused) && refused.Field == `users["x"].user.exec` }},
		{"a token file", callerKubeconfig(api.URL, "tokenFile: /etc/shadow"), "",
			func(err error) bool { return errors.As(err, &refused) && refused.Field == `users["x"].user.tokenFile` }},
		{"not YAML", []byte("{"), "", func(err error) bool { return errors.As(err, &invalid) }},
		{"another context", good, "mine", func(err error) bool { return errors.Is(err, kubeconfig.ErrNoContext) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if name, err := kp.kube.External(tc.kubeconfig, tc.context); !tc.check(err) {
				t.Fatalf("External: %q, %v", name, err)
			}
		})
	}

	name, err := kp.kube.External(good, "theirs")
	if err != nil {
		t.Fatal(err)
	}
	if again, err := kp.kube.External(good, ""); err != nil || again != name {
		t.Errorf("the same context again: %q, %v; want %q", again, err, name)
	}
	if got := kp.get(t, name, "/api/v1/namespaces/default/configmaps/x"); got != 200 {
		t.Errorf("a granted GET on the caller's cluster: %d", got)
	}
	if got := kp.get(t, name, "/api/v1/namespaces/kube-system/configmaps/x"); got != 403 {
		t.Errorf("a GET outside the rules on the caller's cluster: %d", got)
	}
	var entries []store.AuditEntry
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline) && len(entries) < 1; time.Sleep(5 * time.Millisecond) {
		if entries, err = h.store.Audit(ctx, store.AuditQuery{Actor: "plugin:kp"}); err != nil {
			t.Fatal(err)
		}
	}
	server := strings.TrimPrefix(api.URL, "http://")
	if len(entries) != 1 || entries[0].Details["context"] != name || entries[0].Details["server"] != server || entries[0].Details["namespace"] != "kube-system" {
		t.Errorf("audited %+v; want the refusal in kube-system with context %s and server %s", entries, name, server)
	}
	for _, s := range h.KubeStats()["kp"] {
		if s.Context != externalLabel {
			t.Errorf("counted under the context %q; want %q", s.Context, externalLabel)
		}
	}

	// A new instance without the grant: the old one's clusters are gone.
	without := configMapsIn("default", "configmaps")
	next := &kubePlugin{testPlugin: testPlugin{id: "kp"}}
	p.op.Lock()
	err = h.swap(ctx, p, &instance{impl: next, meta: next.GetMetadata(), loadedAt: time.Now()},
		change{source: &apiv1.Source{Kind: apiv1.SourceFile, Location: "test"}, kube: without})
	p.op.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := next.kube.External(good, ""); !errors.Is(err, sdk.ErrExternalNotGranted) {
		t.Errorf("External without the grant: %v", err)
	}
	if got := next.get(t, name, "/api/v1/namespaces/default/configmaps/x"); got != 403 {
		t.Errorf("the old instance's cluster from the new one: %d", got)
	}
	if got := kp.get(t, name, "/api/v1/namespaces/default/configmaps/x"); got != 403 {
		t.Errorf("the old instance's cluster after it stopped: %d", got)
	}
	if _, err := kp.kube.External(good, ""); !errors.Is(err, kubeaccess.ErrExternalsClosed) {
		t.Errorf("External on a stopped instance: %v", err)
	}
}
