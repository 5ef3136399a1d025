package clusters

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kubestellar/ksplugins/sdk"
	"github.com/kubestellar/ksplugins/sdk/kubeconfig"
)

// fakeKube is an sdk.Kubernetes whose every context is served by api, and
// whose External answers with external (sdk.ErrExternalNotGranted when nil).
type fakeKube struct {
	contexts []string
	api      http.Handler
	external func(data []byte, context string) (string, error)
	calls    []string // the contexts External was asked for
}

func (k *fakeKube) Contexts() []string { return k.contexts }

func (k *fakeKube) Transport(context string) http.RoundTripper {
	return roundTripper(func(r *http.Request) (*http.Response, error) {
		if k.api == nil {
			return nil, errors.New("no API")
		}
		w := httptest.NewRecorder()
		r.Header.Set("X-Context", context)
		k.api.ServeHTTP(w, r)
		return w.Result(), nil
	})
}

func (k *fakeKube) External(data []byte, context string) (string, error) {
	k.calls = append(k.calls, context)
	if k.external == nil {
		return "", sdk.ErrExternalNotGranted
	}
	return k.external(data, context)
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// kubeconfigFor is a data-only kubeconfig with a context per server; the
// current one is wec1.
func kubeconfigFor(servers map[string]string) []byte {
	var b strings.Builder
	b.WriteString("apiVersion: v1\nkind: Config\nclusters:\n")
	for name, url := range servers {
		b.WriteString("- name: " + name + "\n  cluster:\n    server: " + url + "\n")
	}
	b.WriteString("users:\n- name: u\n  user:\n    token: t\ncontexts:\n")
	for name := range servers {
		b.WriteString("- name: " + name + "\n  context:\n    cluster: " + name + "\n    user: u\n")
	}
	b.WriteString("current-context: wec1\n")
	return []byte(b.String())
}

func TestWEC(t *testing.T) {
	own := kubeconfigFor(map[string]string{"its1": "https://127.0.0.1:6443", "wec1": "https://127.0.0.1:7443"})
	granted := func([]byte, string) (string, error) { return "external-1", nil }
	refused := func([]byte, string) (string, error) {
		return "", &kubeconfig.RefusedError{Field: `clusters["wec1"].cluster.server`, Reason: "a host the host refuses"}
	}
	for _, tc := range []struct {
		name     string
		target   Target
		external func([]byte, string) (string, error)
		cluster  string // the cluster's name; "" when an error is expected
		server   string
		field    string
	}{
		{"host context", Target{Context: "wec1"}, nil, "context wec1", "", ""},
		{"host context not reachable", Target{Context: "its9"}, nil, "", "", "context"},
		{"nothing", Target{}, nil, "", "", "kubeconfig"},
		{"own kubeconfig", Target{Kubeconfig: own}, granted, "https://127.0.0.1:7443", "https://127.0.0.1:7443", ""}, // its current context
		{"own kubeconfig, context", Target{Kubeconfig: own, Context: "its1"}, granted, "https://127.0.0.1:6443", "https://127.0.0.1:6443", ""},
		{"own kubeconfig, not granted", Target{Kubeconfig: own}, nil, "", "", "kubeconfig"},
		{"own kubeconfig, refused by the host", Target{Kubeconfig: own}, refused, "", "", `kubeconfig.clusters["wec1"].cluster.server`},
		{"own kubeconfig, unknown context", Target{Kubeconfig: own, Context: "nope"}, granted, "", "", "context"},
		{"garbage", Target{Kubeconfig: []byte("{")}, granted, "", "", "kubeconfig"},
		{"no context", Target{Kubeconfig: []byte("apiVersion: v1\nkind: Config\n")}, granted, "", "", "kubeconfig.current-context"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := &fakeKube{contexts: []string{"its1", "wec1"}, external: tc.external}
			m := New(Options{Kube: k})
			defer m.Close()
			c, err := m.wec(tc.target)
			var fe *FieldError
			switch {
			case tc.cluster != "" && (err != nil || c.name != tc.cluster || c.server != tc.server || c.cfg.Timeout != m.opts.RequestTimeout):
				t.Errorf("%+v %v; want cluster %s", c, err, tc.cluster)
			case tc.cluster == "" && (!errors.As(err, &fe) || fe.Field != tc.field):
				t.Errorf("%v; want a FieldError on %s", err, tc.field)
			}
		})
	}
}

func TestHub(t *testing.T) {
	if _, err := New(Options{}).hub(); !errors.Is(err, ErrNoAccess) {
		t.Errorf("hub without Kubernetes: %v; want ErrNoAccess", err)
	}
	k := &fakeKube{contexts: []string{"its1"}}
	if _, err := New(Options{Kube: k, ITSContext: "its9"}).hub(); !errors.Is(err, ErrNoAccess) || !strings.Contains(err.Error(), `ITS context "its9"`) {
		t.Errorf("hub context not reachable: %v", err)
	}
	if h, err := New(Options{Kube: k}).hub(); err != nil || h.server != "" {
		t.Errorf("hub: %+v %v", h, err)
	}
}

// hostile returns a kubeconfig for a loopback port nothing answers on,
// whose user carries the given fields, and the marker file its exec
// plugin would create.
func hostile(t *testing.T, user string) (doc []byte, marker string) {
	t.Helper()
	marker = filepath.Join(t.TempDir(), "ran")
	doc = fmt.Appendf(nil, `apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "https://127.0.0.1:1"}
users:
- name: evil
  user:
%s
contexts:
- name: x
  context: {cluster: c, user: evil}
current-context: x
`, strings.ReplaceAll(user, "{{marker}}", marker))
	return doc, marker
}

const execUser = `    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: sh
      args: ["-c", "touch {{marker}}"]
      interactiveMode: Never`

// TestUntrustedKubeconfig: a kubeconfig from a request is refused, naming
// the field, before it reaches the host and before anything in it runs or
// is read.
func TestUntrustedKubeconfig(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, tc := range []struct{ name, user, field string }{
		{"exec", execUser, `kubeconfig.users["evil"].user.exec`},
		{"auth-provider", "    auth-provider: {name: oidc, config: {idp-issuer-url: 'https://127.0.0.1:1'}}", `kubeconfig.users["evil"].user.auth-provider`},
		{"tokenFile", "    tokenFile: /etc/hostname", `kubeconfig.users["evil"].user.tokenFile`},
		{"client-key", "    client-certificate-data: Zm9v\n    client-key: /etc/shadow", `kubeconfig.users["evil"].user.client-key`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := &fakeKube{contexts: []string{"its1"}, external: func([]byte, string) (string, error) { return "x", nil }}
			m := New(Options{Kube: k, HubAPIServer: "https://hub:6443", RequestTimeout: 2 * time.Second})
			defer m.Close()
			doc, marker := hostile(t, tc.user)
			res, err := m.Validate(ctx, Target{Kubeconfig: doc})
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field || !strings.HasPrefix(fe.Message, "refused: ") {
				t.Fatalf("Validate = %+v, %v; want a FieldError on %s", res, err, tc.field)
			}
			if _, _, err := m.Onboard(ctx, OnboardRequest{Cluster: "c1", Target: Target{Kubeconfig: doc}}); !errors.As(err, &fe) || fe.Field != tc.field {
				t.Errorf("Onboard: %v; want a FieldError on %s", err, tc.field)
			}
			if len(k.calls) != 0 {
				t.Errorf("a refused kubeconfig went to the host: %v", k.calls)
			}
			if _, err := os.Stat(marker); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the exec plugin ran: %v", err)
			}
		})
	}
}

// TestValidate checks a cluster through the host's transport: the
// version and nodes of a cluster that answers, and the error of one that
// does not.
func TestValidate(t *testing.T) {
	api := http.NewServeMux()
	api.HandleFunc("GET /version", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"gitVersion":"v1.37.2"}`)
	})
	api.HandleFunc("GET /api/v1/nodes", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.Header.Get("X-Context") == "down" {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","message":"connection refused","reason":"ServiceUnavailable","code":503}`)
			return
		}
		fmt.Fprint(w, `{"kind":"NodeList","apiVersion":"v1","metadata":{},"items":[{"metadata":{"name":"n1"}},{"metadata":{"name":"n2"}}]}`)
	})
	m := New(Options{Kube: &fakeKube{contexts: []string{"wec1", "down"}, api: api}})
	defer m.Close()
	res, err := m.Validate(context.Background(), Target{Context: "wec1"})
	if err != nil || !res.Reachable || res.Version != "v1.37.2" || res.Nodes != 2 || res.Server != "" {
		t.Errorf("Validate: %+v %v", res, err)
	}
	res, err = m.Validate(context.Background(), Target{Context: "down"})
	if err != nil || res.Reachable || !strings.Contains(res.Error, "connection refused") {
		t.Errorf("Validate of a cluster that does not answer: %+v %v", res, err)
	}
}

// TestStatus reads ManagedClusters, served as the API server serves them
// and in pages, into their states.
func TestStatus(t *testing.T) {
	mc := func(name string, accepted bool, conds ...string) map[string]any {
		var cs []any
		for _, c := range conds {
			typ, status, _ := strings.Cut(c, "=")
			cs = append(cs, map[string]any{"type": typ, "status": status, "reason": "R", "message": "", "lastTransitionTime": "2026-01-02T03:04:05Z"})
		}
		return map[string]any{
			"apiVersion": "cluster.open-cluster-management.io/v1", "kind": "ManagedCluster",
			"metadata": map[string]any{"name": name, "labels": map[string]any{"name": name}, "creationTimestamp": "2026-01-02T03:04:05Z"},
			"spec":     map[string]any{"hubAcceptsClient": accepted},
			"status":   map[string]any{"version": map[string]any{"kubernetes": "v1.37.2"}, "conditions": cs},
		}
	}
	items := []any{
		mc("d-lost", true, conditionJoined+"=True", conditionAvailable+"=False"),
		mc("a-new", false),
		mc("c-up", true, conditionJoined+"=True", conditionAvailable+"=True"),
		mc("b-accepted", true),
	}
	api := http.NewServeMux()
	// Two pages: the first ends with a continue token.
	api.HandleFunc("GET /apis/cluster.open-cluster-management.io/v1/managedclusters", func(w http.ResponseWriter, r *http.Request) {
		page, meta := items[:2], map[string]any{"continue": "next"}
		if r.URL.Query().Get("continue") == "next" {
			page, meta = items[2:], map[string]any{}
		}
		if r.URL.Query().Get("limit") == "" {
			http.Error(w, "unbounded list", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"apiVersion": "cluster.open-cluster-management.io/v1", "kind": "ManagedClusterList", "metadata": meta, "items": page})
	})
	m := New(Options{Kube: &fakeKube{contexts: []string{"its1"}, api: api}})
	defer m.Close()
	list, err := m.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range list {
		got = append(got, s.Name+"="+s.State)
	}
	if want := "a-new=pending b-accepted=accepted c-up=available d-lost=unavailable"; strings.Join(got, " ") != want {
		t.Errorf("states %v; want %s", got, want)
	}
	if up := list[2]; up.KubernetesVersion != "v1.37.2" || up.Labels["name"] != "c-up" || len(up.Conditions) != 2 ||
		up.Conditions[0].LastTransitionTime.IsZero() || up.Created.IsZero() {
		t.Errorf("c-up: %+v", up)
	}
}

func TestBootstrapKubeconfig(t *testing.T) {
	srv := httptest.NewTLSServer(http.NotFoundHandler())
	srv.Close()
	pemCA := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	for _, ca := range [][]byte{pemCA, nil} {
		data, err := bootstrapKubeconfig("https://hub.example:443", ca, "tok")
		if err != nil {
			t.Fatal(err)
		}
		parsed, err := kubeconfig.Parse(data)
		if err != nil {
			t.Fatalf("%v\n%s", err, data)
		}
		kc, err := parsed.Context("")
		if err != nil || kc.Cluster.Server != "https://hub.example:443" || kc.User.Token != "tok" || string(kc.Cluster.CAData) != string(ca) {
			t.Errorf("bootstrap kubeconfig with CA %q: %+v %v\n%s", ca, kc, err, data)
		}
	}
}

// TestOnboardNeedsHubAddress: without hub_apiserver the plugin cannot write
// the agent's bootstrap kubeconfig (the host keeps its contexts' addresses),
// so onboarding is refused before it starts.
func TestOnboardNeedsHubAddress(t *testing.T) {
	m := New(Options{Kube: &fakeKube{contexts: []string{"its1", "wec1"}}})
	defer m.Close()
	_, started, err := m.Onboard(context.Background(), OnboardRequest{Cluster: "c1", Target: Target{Context: "wec1"}})
	if !errors.Is(err, ErrNotConfigured) || started || !strings.Contains(err.Error(), "hub_apiserver") {
		t.Errorf("Onboard without hub_apiserver: %v, started %v; want ErrNotConfigured naming hub_apiserver", err, started)
	}
	if ops := m.Operations(); len(ops) != 0 {
		t.Errorf("operations started: %+v", ops)
	}
}
