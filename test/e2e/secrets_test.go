package e2e

import (
	"path/filepath"
	"testing"
)

// TestSecretsLeaveTheEnvironment: the server is started with the admin
// token in KSPLUGINS_TOKEN and its kubeconfig in KUBECONFIG. Once it has
// read them, neither a native plugin reading its environment nor a process
// that plugin starts finds them there, while an ordinary variable is still
// seen both ways, and the token still authenticates.
func TestSecretsLeaveTheEnvironment(t *testing.T) {
	f := setup(t)
	s := startServerAt(t, f, t.TempDir(), "E2E_ORDINARY=visible", "KUBECONFIG="+filepath.Join(t.TempDir(), "kubeconfig"))
	dir := copyPlugin(t, filepath.Join(f.root, "test/e2e/testdata/plugins/envpeek"))
	want(t, "load envpeek", s.api("POST", "/api/plugins/load", map[string]any{"source": dir}), 201, "")

	for _, how := range []string{"/env", "/child"} {
		// The plugin can see the environment at all: the check below
		// would find the token if it were there.
		r := s.endpoint("GET", "envpeek", how+"?name=E2E_ORDINARY")
		if r.status != 200 || r.body["value"] != "visible" {
			t.Fatalf("%s: an ordinary variable: %s", how, r)
		}
		for _, name := range []string{"KSPLUGINS_TOKEN", "KUBECONFIG"} {
			r = s.endpoint("GET", "envpeek", how+"?name="+name)
			if r.status != 200 || r.body["set"] != false || r.body["value"] != "" {
				t.Errorf("%s: %s is in the server's environment: %s", how, name, r)
			}
		}
	}
	want(t, "the token still authenticates", s.api("GET", "/api/plugins", nil), 200, "")
}
