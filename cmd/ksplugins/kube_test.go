package main

import (
	"bytes"
	"encoding/pem"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubestellar/ksplugins/internal/kubeaccess"
	"github.com/kubestellar/ksplugins/sdk"
)

func TestKubeUpstreams(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good", `apiVersion: v1
kind: Config
clusters:
- name: a
  cluster: {server: "https://127.0.0.1:1"}
- name: b
  cluster: {server: "https://127.0.0.1:2"}
users:
- name: u
  user: {token: t}
- name: v
  user: {tokenFile: empty-token}
contexts:
- name: its1
  context: {cluster: a, user: u}
- name: broken
  context: {cluster: b, user: v}
`)
	write("empty-token", "")
	bad := write("bad", "this: [is not a kubeconfig")
	tests := []struct {
		name     string
		path     string
		contexts []string
		log      string
	}{
		{"none", "", nil, "not in a pod"},
		{"missing", filepath.Join(dir, "absent"), nil, "does not exist"},
		{"several files", good + string(os.PathListSeparator) + bad, nil, "several files"},
		{"unreadable", bad, nil, "cannot be used"},
		{"a usable and an unusable context", good, []string{"its1"}, "context=broken"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			ups := kubeUpstreams(kubeSource{Kubeconfig: tt.path}, slog.New(slog.NewTextHandler(&out, nil)))
			var got []string
			for _, up := range ups {
				got = append(got, up.Context())
				up.Close()
			}
			if strings.Join(got, ",") != strings.Join(tt.contexts, ",") {
				t.Errorf("contexts %v, want %v", got, tt.contexts)
			}
			if !strings.Contains(out.String(), tt.log) {
				t.Errorf("log %q lacks %q", out.String(), tt.log)
			}
			if len(tt.contexts) == 0 && strings.Count(strings.TrimSpace(out.String()), "\n") != 0 {
				t.Errorf("more than one log line: %q", out.String())
			}
		})
	}
}

// TestKubeUpstreamsInCluster: without a kubeconfig, in a pod, the service
// account becomes the context the flag names, and its token is sent.
// Outside a pod, without the token, or with a kubeconfig, it is not used;
// without its CA it is refused, and said so.
func TestKubeUpstreamsInCluster(t *testing.T) {
	var tokens []string
	api := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tokens = append(tokens, r.Header.Get("Authorization"))
		_, _ = io.WriteString(w, `{}`)
	}))
	defer api.Close()
	host, port, _ := net.SplitHostPort(strings.TrimPrefix(api.URL, "https://"))
	dir := t.TempDir()
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: api.Certificate().Raw})
	for name, data := range map[string][]byte{"token": []byte("sa-token"), "ca.crt": ca} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	pod := inCluster{Context: "its1", Host: host, Port: port, Dir: dir}
	var out bytes.Buffer
	log := slog.New(slog.NewTextHandler(&out, nil))

	ups := kubeUpstreams(kubeSource{InCluster: pod}, log)
	if len(ups) != 1 || ups[0].Context() != "its1" {
		t.Fatalf("in a pod: %v (%s)", ups, out.String())
	}
	defer ups[0].Close()
	h := ups[0].Handler(kubeaccess.Options{Plugin: "p", Rules: []sdk.KubernetesRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get"}}}})
	get := func() int {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "http://kubernetes.ksplugins.invalid/api/v1/namespaces/default/configmaps/x", nil))
		return w.Code
	}
	if code := get(); code != 200 || len(tokens) != 1 || tokens[0] != "Bearer sa-token" {
		t.Errorf("GET through the service account: %d, tokens %q", code, tokens)
	}

	for name, src := range map[string]kubeSource{
		"outside a pod":   {InCluster: inCluster{Context: "its1", Dir: dir}},
		"no token":        {InCluster: inCluster{Context: "its1", Host: host, Port: port, Dir: t.TempDir()}},
		"kubeconfig wins": {Kubeconfig: filepath.Join(dir, "absent"), InCluster: pod},
	} {
		if ups := kubeUpstreams(src, log); len(ups) != 0 {
			t.Errorf("%s: %d upstreams, want none", name, len(ups))
		}
	}
	if err := os.Remove(filepath.Join(dir, "ca.crt")); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if ups := kubeUpstreams(kubeSource{InCluster: pod}, log); len(ups) != 0 || !strings.Contains(out.String(), "service account cannot be used") {
		t.Errorf("without the CA: %d upstreams, log %q", len(ups), out.String())
	}
}
