package e2e

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestPluginDependencies installs a plugin that depends on another, built
// for real: the install is refused while its dependency is missing or out
// of range, a cycle is refused naming it, the dependency cannot be
// unloaded or disabled under it unless forced, a forced unload leaves it
// degraded until the dependency returns, and it calls its dependency
// through the SDK, which the host allows for declared dependencies only.
// A restart brings both back.
func TestPluginDependencies(t *testing.T) {
	f := shared
	s := startServer(t, f)
	const (
		inventory = "cluster-inventory"
		report    = "inventory-report"
	)
	reportDir := copyPlugin(t, filepath.Join(f.root, "test/e2e/testdata/plugins/inventoryreport"))
	// inventoryAt is a copy of the inventory plugin at version, with the
	// manifest's dependencies (YAML list items) if any.
	inventoryAt := func(version, dependencies string) string {
		dir := copyPlugin(t, filepath.Join(f.root, "test/e2e/testdata/plugins/inventory"))
		edit(t, filepath.Join(dir, "plugin.yaml"), "version: 1.4.0", "version: "+version+dependencies)
		edit(t, filepath.Join(dir, "main.go"), `const version = "1.4.0"`, `const version = "`+version+`"`)
		return dir
	}
	load := func(dir string) reply {
		t.Helper()
		return s.api("POST", "/api/plugins/load", map[string]any{"source": dir})
	}
	details := func(r reply) map[string]any {
		e, _ := r.body["error"].(map[string]any)
		d, _ := e["details"].(map[string]any)
		return d
	}
	// mentions checks the reply's raw text and its error message, which
	// the JSON escapes ("<" as \u003c).
	mentions := func(what string, r reply, words ...string) {
		t.Helper()
		e, _ := r.body["error"].(map[string]any)
		msg, _ := e["message"].(string)
		for _, w := range words {
			if !strings.Contains(r.raw, w) && !strings.Contains(msg, w) {
				t.Errorf("%s: %s; want it to mention %q", what, r, w)
			}
		}
	}

	r := load(reportDir)
	want(t, "install with its dependency missing", r, 400, "dependency_missing")
	mentions("missing", r, "cluster-inventory", ">=1.2 <2", "not installed")

	want(t, "install inventory 2.0.0", load(inventoryAt("2.0.0", "")), 201, "")
	r = load(reportDir)
	want(t, "install with its dependency out of range", r, 400, "dependency_version")
	mentions("out of range", r, "cluster-inventory >=1.2 <2", "2.0.0 is installed")
	if d := details(r); d["dependency"] != inventory || d["range"] != ">=1.2 <2" || d["installed"] != "2.0.0" {
		t.Errorf("details of the refusal: %v", d)
	}
	want(t, "unload inventory 2.0.0, which nothing depends on", s.api("DELETE", "/api/plugins/"+inventory, nil), 200, "")

	want(t, "install inventory 1.4.0", load(inventoryAt("1.4.0", "")), 201, "")
	want(t, "install the dependant", load(reportDir), 201, "")
	r = s.api("GET", "/api/plugins/"+report, nil)
	deps, _ := r.body["dependencies"].([]any)
	if len(deps) != 1 || deps[0].(map[string]any)["plugin"] != inventory || deps[0].(map[string]any)["satisfied"] != true ||
		deps[0].(map[string]any)["installed"] != "1.4.0" {
		t.Errorf("the dependant's dependencies: %v", r.body["dependencies"])
	}
	if md, _ := r.body["metadata"].(map[string]any); md["dependencies"] == nil || !strings.Contains(r.raw, `"dependencies":["github.com/gin-gonic/gin"]`) {
		t.Errorf("the Go module requirement is not kept as it was: %s", r.raw)
	}
	r = s.api("GET", "/api/plugins/"+inventory, nil)
	if ds, _ := r.body["dependants"].([]any); len(ds) != 1 || ds[0] != report {
		t.Errorf("the dependency's dependants: %v", r.body["dependants"])
	}

	// The dependant calls its dependency through the host, which names
	// the calling plugin; a plugin it does not declare is refused.
	r = s.endpoint("GET", report, "/report")
	want(t, "the dependant's call", r, 200, "")
	mentions("the dependant's call", r, `"status":200`, `"clusters":["its1","wds1"]`, `"caller_plugin":"inventory-report"`)
	want(t, "install my-plugin", load(copyPlugin(t, filepath.Join(f.root, "plugins/examples/hello"))), 201, "")
	r = s.endpoint("GET", report, "/undeclared")
	want(t, "a call to an undeclared plugin", r, 502, "")
	mentions("undeclared", r, "not a declared dependency")

	// Unloading or disabling the dependency is refused, unless forced.
	r = s.api("DELETE", "/api/plugins/"+inventory, nil)
	want(t, "unload a dependency", r, 409, "has_dependants")
	mentions("refused unload", r, report)
	want(t, "disable a dependency", s.api("POST", "/api/plugins/"+inventory+"/disable", nil), 409, "has_dependants")
	want(t, "forced unload", s.api("DELETE", "/api/plugins/"+inventory+"?force=true", nil), 200, "")
	r = s.api("GET", "/api/plugins/"+report, nil)
	if r.body["state"] != "degraded" || !strings.Contains(r.body["last_error"].(string), "dependency cluster-inventory (>=1.2 <2) is not installed") {
		t.Errorf("the dependant after a forced unload: %s", r)
	}
	r = s.endpoint("GET", report, "/report")
	want(t, "the degraded dependant's call", r, 502, "")
	mentions("degraded call", r, "dependency unavailable")

	// Installing the dependency again as a dependant of its dependant
	// would close a cycle.
	r = load(inventoryAt("1.5.0", "\ndependencies:\n  - {plugin: inventory-report}"))
	want(t, "a cycle", r, 400, "dependency_cycle")
	mentions("cycle", r, "cluster-inventory -> inventory-report -> cluster-inventory")

	want(t, "install inventory 1.5.0", load(inventoryAt("1.5.0", "")), 201, "")
	if r := s.api("GET", "/api/plugins/"+report, nil); r.body["state"] != "active" || r.body["last_error"] != nil {
		t.Errorf("the dependant once its dependency is back: %s", r)
	}
	want(t, "the dependant's call again", s.endpoint("GET", report, "/report"), 200, "")
	want(t, "forced disable", s.api("POST", "/api/plugins/"+inventory+"/disable?force=true", nil), 200, "")
	if r := s.api("GET", "/api/plugins/"+report, nil); r.body["state"] != "degraded" {
		t.Errorf("the dependant after a forced disable: %s", r)
	}
	want(t, "enable", s.api("POST", "/api/plugins/"+inventory+"/enable", nil), 200, "")

	// A restart brings the two back, the dependency first.
	s.kill()
	s = startServerAt(t, f, s.data)
	for _, id := range []string{inventory, report} {
		if r := s.api("GET", "/api/plugins/"+id, nil); r.body["state"] != "active" {
			t.Errorf("%s after a restart: %s", id, r)
		}
	}
	r = s.endpoint("GET", report, "/report")
	want(t, "the dependant's call after a restart", r, 200, "")
	mentions("after a restart", r, `"version":"1.5.0"`)
}

// TestSandboxedDependencyCall has a sandboxed plugin call its native
// dependency through the SDK: the call carries the rights of whoever called
// the sandboxed plugin, whose token the guest never receives; a plugin it
// does not declare is refused, and so is a dependency that is gone.
func TestSandboxedDependencyCall(t *testing.T) {
	f := shared
	s := startServer(t, f)
	const (
		inventory = "cluster-inventory"
		report    = "inventory-report"
	)
	reportDir := copyPlugin(t, filepath.Join(f.root, "test/e2e/testdata/plugins/inventoryreport"))
	edit(t, filepath.Join(reportDir, "plugin.yaml"), "\nendpoints:", "\nsecurity:\n  sandboxed: true\nendpoints:")
	load := func(dir string) reply {
		t.Helper()
		return s.api("POST", "/api/plugins/load", map[string]any{"source": dir})
	}
	want(t, "install the dependency", load(copyPlugin(t, filepath.Join(f.root, "test/e2e/testdata/plugins/inventory"))), 201, "")
	want(t, "install the sandboxed dependant", load(reportDir), 201, "")
	if r := s.api("GET", "/api/plugins/"+report, nil); r.body["tier"] != "sandboxed" {
		t.Fatalf("the dependant runs in tier %v, want sandboxed", r.body["tier"])
	}

	r := s.endpoint("GET", report, "/report")
	want(t, "an anonymous caller's call", r, 200, "")
	for _, w := range []string{`"status":200`, `"clusters":["its1","wds1"]`, `"caller_plugin":"inventory-report"`, `"caller":""`} {
		if !strings.Contains(r.raw, w) {
			t.Errorf("an anonymous caller's call: %s; want %s", r, w)
		}
	}
	r = s.endpointWithHeader("GET", report, "/report", "Authorization", "Bearer "+s.token)
	want(t, "an authenticated caller's call", r, 200, "")
	if !strings.Contains(r.raw, `"caller_plugin":"inventory-report"`) || strings.Contains(r.raw, `"caller":""`) || !strings.Contains(r.raw, `"caller":"`) {
		t.Errorf("the dependency does not see the sandboxed plugin's caller: %s", r)
	}

	r = s.endpoint("GET", report, "/undeclared")
	want(t, "a call to an undeclared plugin", r, 502, "")
	if !strings.Contains(r.raw, "not a declared dependency") {
		t.Errorf("a call to an undeclared plugin: %s", r)
	}

	want(t, "forced unload", s.api("DELETE", "/api/plugins/"+inventory+"?force=true", nil), 200, "")
	r = s.endpoint("GET", report, "/report")
	want(t, "a call to a dependency that is gone", r, 502, "")
	if !strings.Contains(r.raw, "dependency unavailable") {
		t.Errorf("a call to a dependency that is gone: %s", r)
	}
}
