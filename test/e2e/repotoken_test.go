package e2e

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubestellar/ksplugins/internal/gitserver"
)

// TestRepositoryTokenOnlyToBase configures a repository token for one git
// server on 127.0.0.1 (repository_base_url) and installs from it and from
// two other loopback git servers the allow-list admits: only the base's
// requests carry the token. A configuration that would send the token in
// clear is refused, and changes nothing.
func TestRepositoryTokenOnlyToBase(t *testing.T) {
	const token = "ghp_e2eS3cretRepositoryToken"
	f := setup(t)
	hello := filepath.Join(f.root, "plugins/examples/hello")

	base := gitserver.Start(t, gitserver.WithToken(token))
	base.Repo(t, "kubestellar", "hello-plugin").CopyDir(t, hello, "", "hello")
	other := gitserver.Start(t) // public
	other.Repo(t, "acme", "hello-plugin").CopyDir(t, hello, "", "hello")
	private := gitserver.Start(t, gitserver.WithToken(token)) // wants the token too, but is not the base
	private.Repo(t, "acme", "hello-plugin").CopyDir(t, hello, "", "hello")

	s := startServer(t, f)
	allowed := []string{"github.com/kubestellar/*", hostOf(other.URL) + "/acme/*", hostOf(private.URL) + "/acme/*"}
	s.configure(map[string]any{"repository_base_url": base.URL, "repository_token": token, "allowed_repos": allowed})

	r := s.api("POST", "/api/plugins/load", map[string]any{"source": "https://github.com/kubestellar/hello-plugin"})
	want(t, "install from the base", r, 201, "")
	if base.Credentialed() == 0 {
		t.Fatal("the base server never saw the token, yet served a repository that needs it")
	}
	want(t, "unload", s.api("DELETE", "/api/plugins/"+helloID, nil), 200, "")

	r = s.api("POST", "/api/plugins/load", map[string]any{"source": other.URL + "/acme/hello-plugin"})
	want(t, "install from another allowed host", r, 201, "")
	want(t, "unload", s.api("DELETE", "/api/plugins/"+helloID, nil), 200, "")

	r = s.api("POST", "/api/plugins/load", map[string]any{"source": private.URL + "/acme/hello-plugin"})
	want(t, "install from another host that wants a token", r, 502, "repository_auth_failed")
	if !strings.Contains(r.raw, "repository_base_url") {
		t.Errorf("the refusal does not say where the token goes: %s", r)
	}

	for name, srv := range map[string]*gitserver.Server{"the other server": other, "the private server": private} {
		if len(srv.Seen()) == 0 {
			t.Fatalf("%s saw no request", name)
		}
		for _, req := range srv.Seen() {
			if a := req.Header.Get("Authorization"); a != "" {
				t.Errorf("%s was sent credentials: %s %s with Authorization %q", name, req.Method, req.URL, a)
			}
			for k, vs := range req.Header {
				if strings.Contains(strings.Join(vs, " "), token) {
					t.Errorf("%s saw the token in header %s", name, k)
				}
			}
		}
	}

	// A base URL that would carry the token in clear is refused, naming
	// the field, and the configuration stays as it was.
	for _, body := range []map[string]any{
		{"repository_base_url": "http://git.example.com"},
		{"repository_base_url": "http://10.0.0.1:8080", "repository_token": "another"},
	} {
		r := s.api("PUT", "/api/plugins/system/configuration", body)
		want(t, "a plain http base with a token", r, 400, "invalid_configuration")
		if !strings.Contains(r.raw, "repository_token") {
			t.Errorf("the refusal does not name repository_token: %s", r)
		}
		if strings.Contains(r.raw, token) {
			t.Errorf("the refusal repeats the token: %s", r)
		}
	}
	r = s.api("GET", "/api/plugins/system/configuration", nil)
	if r.body["repository_base_url"] != base.URL || r.body["repository_token"] != "********" {
		t.Fatalf("the configuration changed after a refused PUT: %s", r)
	}
}

// hostOf returns host:port of a URL such as http://127.0.0.1:1234.
func hostOf(url string) string {
	_, rest, _ := strings.Cut(url, "://")
	return rest
}
