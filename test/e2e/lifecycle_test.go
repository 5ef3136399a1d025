// Package e2e drives a real ksplugins server process over HTTP, with real
// plugins built by its builder.
package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const helloID = "my-plugin"

// TestLifecycle walks a plugin folder through the seed's whole API: load,
// call, disable, enable, reload with changed code, unload.
func TestLifecycle(t *testing.T) {
	f := setup(t)
	s := startServer(t, f)
	dir := copyPlugin(t, filepath.Join(f.root, "plugins/examples/hello"))

	r := s.api("POST", "/api/plugins/load", map[string]any{"source": dir})
	want(t, "load", r, 201, "")
	if r.body["id"] != helloID || r.body["state"] != "active" {
		t.Fatalf("load: %s", r)
	}

	r = s.endpoint("GET", helloID, "/hello")
	want(t, "hello", r, 200, "")
	if r.raw != `{"message":"Hello from plugin!"}` {
		t.Fatalf("hello: got %s", r.raw)
	}
	r = s.endpoint("GET", helloID, "/greet/ada")
	if r.status != 200 || r.body["message"] != "Hello, ada!" {
		t.Fatalf("greet: %s", r)
	}
	want(t, "wrong method", s.endpoint("POST", helloID, "/hello"), 405, "method_not_allowed")
	want(t, "unknown endpoint", s.endpoint("GET", helloID, "/nope"), 404, "endpoint_not_found")
	want(t, "unknown plugin", s.endpoint("GET", "no-such-plugin", "/hello"), 404, "plugin_not_found")

	r = s.api("GET", "/api/plugins", nil)
	if r.status != 200 || r.body["count"] != float64(1) {
		t.Fatalf("list: %s", r)
	}
	r = s.api("GET", "/api/plugins/"+helloID+"/status", nil)
	if r.status != 200 || r.body["state"] != "active" {
		t.Fatalf("status: %s", r)
	}

	want(t, "disable", s.api("POST", "/api/plugins/"+helloID+"/disable", nil), 200, "")
	want(t, "hello while disabled", s.endpoint("GET", helloID, "/hello"), 503, "plugin_disabled")
	want(t, "enable", s.api("POST", "/api/plugins/"+helloID+"/enable", nil), 200, "")
	want(t, "hello after enable", s.endpoint("GET", helloID, "/hello"), 200, "")

	edit(t, filepath.Join(dir, "main.go"), `"Hello from plugin!"`, `"Hello from the new build!"`)
	r = s.api("POST", "/api/plugins/"+helloID+"/reload", nil)
	want(t, "reload", r, 200, "")
	r = s.endpoint("GET", helloID, "/hello")
	if r.status != 200 || r.body["message"] != "Hello from the new build!" {
		t.Fatalf("hello after reload: %s", r)
	}

	// A reload that does not compile keeps the running version.
	edit(t, filepath.Join(dir, "main.go"), `c.JSON(http.StatusOK, gin.H{"message": "Hello from the new build!"})`, `c.JSON(http.StatusOK, undefinedThing)`)
	r = s.api("POST", "/api/plugins/"+helloID+"/reload", nil)
	want(t, "broken reload", r, 422, "build_failed")
	if !strings.Contains(r.raw, "main.go:") || !strings.Contains(r.raw, "undefinedThing") {
		t.Fatalf("broken reload: diagnostics should name main.go:line and the identifier: %s", r)
	}
	r = s.endpoint("GET", helloID, "/hello")
	if r.status != 200 || r.body["message"] != "Hello from the new build!" {
		t.Fatalf("hello after failed reload: %s", r)
	}

	want(t, "unload", s.api("DELETE", "/api/plugins/"+helloID, nil), 200, "")
	want(t, "hello after unload", s.endpoint("GET", helloID, "/hello"), 404, "plugin_not_found")
	want(t, "get after unload", s.api("GET", "/api/plugins/"+helloID, nil), 404, "plugin_not_found")
	want(t, "unload twice", s.api("DELETE", "/api/plugins/"+helloID, nil), 404, "plugin_not_found")
}

// TestPanickingHandler reloads a .so file whose handler panics: the request
// gets 500 and the host and the plugin's other endpoints keep serving.
func TestPanickingHandler(t *testing.T) {
	f := setup(t)
	s := startServer(t, f)
	dir := copyPlugin(t, filepath.Join(f.root, "plugins/examples/hello"))
	so := filepath.Join(t.TempDir(), "hello.so")

	buildSO(t, f, dir, so)
	want(t, "load .so", s.api("POST", "/api/plugins/load", map[string]any{"source": so}), 201, "")
	want(t, "hello", s.endpoint("GET", helloID, "/hello"), 200, "")

	edit(t, filepath.Join(dir, "main.go"), `c.JSON(http.StatusOK, gin.H{"message": "Hello from plugin!"})`, `panic("boom")`)
	buildSO(t, f, dir, so)
	want(t, "reload .so", s.api("POST", "/api/plugins/"+helloID+"/reload", nil), 200, "")
	for range 3 {
		want(t, "panicking hello", s.endpoint("GET", helloID, "/hello"), 500, "plugin_panic")
	}
	want(t, "host alive", s.call("GET", "/healthz", nil, false), 200, "")
	want(t, "other endpoint", s.endpoint("GET", helloID, "/greet/bo"), 200, "")
	r := s.api("GET", "/api/plugins/"+helloID, nil)
	stats, _ := r.body["stats"].(map[string]any)
	if stats["server_errors"] != float64(3) {
		t.Fatalf("stats after 3 panics: %s", r)
	}
}

// buildSO builds a plugin folder with the CLI, as an operator would.
func buildSO(t *testing.T, f fixture, dir, out string) {
	t.Helper()
	cmd := exec.Command(f.bin, "build", "--cache-dir", f.cacheDir, "-o", out, dir)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ksplugins build: %v\n%s", err, b)
	}
}

// TestMismatchedGin loads a .so built elsewhere against another gin: the
// error names the module and nothing is registered.
func TestMismatchedGin(t *testing.T) {
	f := setup(t)
	s := startServer(t, f)
	so := filepath.Join(t.TempDir(), "oldgin.so")
	args := append([]string{"build", "-buildmode=plugin", "-o", so}, f.flags...)
	cmd := exec.Command("go", append(args, ".")...)
	cmd.Dir = filepath.Join(f.root, "test/e2e/testdata/plugins/oldgin")
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod", "CGO_ENABLED=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build oldgin: %v\n%s", err, out)
	}

	r := s.api("POST", "/api/plugins/load", map[string]any{"source": so})
	want(t, "load old gin", r, 422, "incompatible_plugin")
	if !strings.Contains(r.raw, "github.com/gin-gonic/gin v1.11.0") {
		t.Fatalf("error should name the module and its version: %s", r)
	}
	r = s.api("GET", "/api/plugins", nil)
	if r.body["count"] != float64(0) {
		t.Fatalf("nothing should be registered: %s", r)
	}
}

// TestSeedStylePlugin builds a plugin that imports the seed-era package and
// ships a build.sh, unmodified.
func TestSeedStylePlugin(t *testing.T) {
	f := setup(t)
	s := startServer(t, f)
	dir := copyPlugin(t, filepath.Join(f.root, "test/e2e/testdata/plugins/seedstyle"))

	r := s.api("POST", "/api/plugins/load", map[string]any{"source": dir, "version": "1.0.0"})
	want(t, "load seed-style", r, 201, "")
	r = s.endpoint("GET", "seed-plugin", "/hello")
	if r.status != 200 || r.body["message"] != "Hello from plugin!" || r.body["initialized"] != true {
		t.Fatalf("seed hello: %s", r)
	}
	req := s.endpointWithHeader("GET", "seed-plugin", "/hello", "X-Reject", "1")
	want(t, "ValidateRequest refusal", req, 400, "invalid_request")

	r = s.api("GET", "/api/plugins/system/metrics", nil)
	pm, _ := r.body["plugin_metrics"].(map[string]any)
	if seed, _ := pm["seed-plugin"].(map[string]any); seed["seed"] != true {
		t.Fatalf("metrics should carry the plugin's GetMetrics: %s", r)
	}

	// Reloading unchanged code reuses the loaded copy with a fresh instance.
	want(t, "reload unchanged", s.api("POST", "/api/plugins/seed-plugin/reload", nil), 200, "")
	want(t, "hello after reload", s.endpoint("GET", "seed-plugin", "/hello"), 200, "")
}
