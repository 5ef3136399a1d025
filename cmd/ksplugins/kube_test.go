package main

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
		{"none", "", nil, "no kubeconfig"},
		{"missing", filepath.Join(dir, "absent"), nil, "does not exist"},
		{"several files", good + string(os.PathListSeparator) + bad, nil, "several files"},
		{"unreadable", bad, nil, "cannot be used"},
		{"a usable and an unusable context", good, []string{"its1"}, "context=broken"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			ups := kubeUpstreams(tt.path, slog.New(slog.NewTextHandler(&out, nil)))
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
