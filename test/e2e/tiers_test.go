package e2e

import (
	"os"
	"path/filepath"
	"testing"
)

// sandbox marks a copied plugin folder to run in the sandboxed tier.
func sandbox(t *testing.T, dir string) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(dir, "plugin.yaml"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString("\nsecurity:\n  sandboxed: true\n"); err != nil {
		t.Fatal(err)
	}
}

// TestBothTiers runs the hello example and a seed-style plugin natively and
// sandboxed, from the same source, with the same assertions.
func TestBothTiers(t *testing.T) {
	f := setup(t)
	s := startServer(t, f)
	for _, tier := range []string{"native", "sandboxed"} {
		t.Run(tier, func(t *testing.T) {
			hello := copyPlugin(t, filepath.Join(f.root, "plugins/examples/hello"))
			seed := copyPlugin(t, filepath.Join(f.root, "test/e2e/testdata/plugins/seedstyle"))
			if tier == "sandboxed" {
				sandbox(t, hello)
				sandbox(t, seed)
			}
			for _, dir := range []string{hello, seed} {
				r := s.api("POST", "/api/plugins/load", map[string]any{"source": dir})
				want(t, "load "+filepath.Base(dir), r, 201, "")
				if r.body["tier"] != tier {
					t.Fatalf("tier: %v; want %s", r.body["tier"], tier)
				}
				if _, limited := r.body["sandbox"].(map[string]any); limited != (tier == "sandboxed") {
					t.Fatalf("sandbox limits shown: %v; want %v (%s)", limited, tier == "sandboxed", r)
				}
			}

			r := s.endpoint("GET", helloID, "/hello")
			if r.status != 200 || r.raw != `{"message":"Hello from plugin!"}` {
				t.Fatalf("hello: %s", r)
			}
			want(t, "configure", s.api("PUT", "/api/plugins/"+helloID+"/configuration", map[string]any{"greeting": "Howdy"}), 200, "")
			if r := s.endpoint("GET", helloID, "/greet/ada"); r.status != 200 || r.body["message"] != "Howdy, ada!" {
				t.Fatalf("greet: %s", r)
			}
			want(t, "wrong method", s.endpoint("POST", helloID, "/hello"), 405, "method_not_allowed")
			want(t, "unknown endpoint", s.endpoint("GET", helloID, "/nope"), 404, "endpoint_not_found")
			want(t, "disable", s.api("POST", "/api/plugins/"+helloID+"/disable", nil), 200, "")
			want(t, "disabled", s.endpoint("GET", helloID, "/hello"), 503, "plugin_disabled")
			want(t, "enable", s.api("POST", "/api/plugins/"+helloID+"/enable", nil), 200, "")

			r = s.endpoint("GET", "seed-plugin", "/hello")
			if r.status != 200 || r.body["message"] != "Hello from plugin!" || r.body["initialized"] != true {
				t.Fatalf("seed hello: %s", r)
			}
			want(t, "ValidateRequest refusal", s.endpointWithHeader("GET", "seed-plugin", "/hello", "X-Reject", "1"), 400, "invalid_request")
			r = s.api("GET", "/api/plugins/system/metrics", nil)
			pm, _ := r.body["plugin_metrics"].(map[string]any)
			if seed, _ := pm["seed-plugin"].(map[string]any); seed["seed"] != true {
				t.Fatalf("metrics should carry the plugin's GetMetrics: %s", r)
			}
			want(t, "reload", s.api("POST", "/api/plugins/"+helloID+"/reload", nil), 200, "")
			want(t, "hello after reload", s.endpoint("GET", helloID, "/hello"), 200, "")

			for _, id := range []string{helloID, "seed-plugin"} {
				want(t, "unload "+id, s.api("DELETE", "/api/plugins/"+id, nil), 200, "")
			}
			want(t, "hello after unload", s.endpoint("GET", helloID, "/hello"), 404, "plugin_not_found")
		})
	}
}
