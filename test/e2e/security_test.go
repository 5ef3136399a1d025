package e2e

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// TestSandboxCapabilities: a sandboxed plugin that did not ask for the
// network or storage is refused both; asked for and granted, it gets them.
func TestSandboxCapabilities(t *testing.T) {
	f := setup(t)
	data := t.TempDir()
	s := startServerAt(t, f, data)
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "reached") }))
	defer target.Close()
	hostPort := strings.TrimPrefix(target.URL, "http://")

	dir := copyPlugin(t, filepath.Join(f.root, "test/e2e/testdata/plugins/netcall"))
	want(t, "load without grants", s.api("POST", "/api/plugins/load", map[string]any{"source": dir}), 201, "")
	r := s.endpoint("GET", "netcall", "/fetch?url="+target.URL)
	if !strings.Contains(r.raw, "network access not granted") {
		t.Fatalf("fetch without the grant: %s", r)
	}
	if r := s.endpoint("GET", "netcall", "/store"); !strings.Contains(r.raw, "error") {
		t.Fatalf("storage without the grant: %s", r)
	}
	want(t, "unload", s.api("DELETE", "/api/plugins/netcall", nil), 200, "")

	appendFile(t, filepath.Join(dir, "plugin.yaml"), fmt.Sprintf("  network_access: true\n  filesystem_access: true\nsandbox:\n  allowed_hosts: [%q]\n", hostPort))
	r = s.api("POST", "/api/plugins/load", map[string]any{"source": dir})
	want(t, "load with grants", r, 201, "")
	if !strings.Contains(r.raw, `"granted_permissions":["network.egress","storage.data"]`) {
		t.Fatalf("grants not recorded: %s", r)
	}
	if r := s.endpoint("GET", "netcall", "/fetch?url="+target.URL); r.body["body"] != "reached" {
		t.Fatalf("fetch with the grant: %s", r)
	}
	if r := s.endpoint("GET", "netcall", "/fetch?url=http://127.0.0.2:1/"); !strings.Contains(r.raw, "allowed hosts") {
		t.Fatalf("fetch of a host not in the list: %s", r)
	}
	if r := s.endpoint("GET", "netcall", "/store"); r.body["stored"] != "kept" {
		t.Fatalf("storage with the grant: %s", r)
	}
	if got := readFile(t, filepath.Join(data, "plugin-data", "netcall", "note.txt")); string(got) != "kept" {
		t.Fatalf("the plugin's file is not in its data folder: %q", got)
	}
}

func appendFile(t *testing.T, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
}

// TestAttacks sends hostile requests over HTTP: each gets a clean refusal
// and the server keeps serving.
func TestAttacks(t *testing.T) {
	f := setup(t)
	s := startServer(t, f)
	dir := copyPlugin(t, filepath.Join(f.root, "plugins/examples/hello"))
	want(t, "load", s.api("POST", "/api/plugins/load", map[string]any{"source": dir}), 201, "")
	big := strings.Repeat("x", 2<<20)

	attacks := []struct {
		name, method, path, body string
		auth                     bool
		status                   []int
	}{
		{"traversal out of a plugin", "GET", "/api/plugin-endpoints/my-plugin/../../plugins", "", false, []int{404}},
		{"encoded traversal", "GET", "/api/plugin-endpoints/my-plugin/..%2f..%2fplugins", "", false, []int{404}},
		{"management route through a plugin", "GET", "/api/plugin-endpoints/my-plugin/api/plugins", "", false, []int{404}},
		{"NUL in a plugin id", "GET", "/api/plugin-endpoints/my%00plugin/hello", "", false, []int{404}},
		{"unicode plugin id", "GET", "/api/plugin-endpoints/my-pl%C3%BCgin/hello", "", false, []int{404}},
		{"very long plugin id", "GET", "/api/plugin-endpoints/" + strings.Repeat("a", 5000) + "/hello", "", false, []int{404}},
		{"oversized management body", "POST", "/api/plugins/load", `{"source":"` + big + `"}`, true, []int{413}},
		{"oversized plugin body", "POST", "/api/plugin-endpoints/my-plugin/hello", big + big + big + big + big + big, false, []int{405, 413}},
		{"type confusion: source list", "POST", "/api/plugins/load", `{"source":["a","b"]}`, true, []int{400}},
		{"type confusion: enabled string", "PUT", "/api/plugins/system/configuration", `{"debug":"yes"}`, true, []int{400}},
		{"type confusion: top-level array", "POST", "/api/plugins/load", `[1,2]`, true, []int{400}},
		{"reserved id as a plugin route", "GET", "/api/plugins/system", "", true, []int{404}},
		{"no token", "POST", "/api/plugins/load", `{"source":"x"}`, false, []int{401}},
	}
	for _, a := range attacks {
		t.Run(a.name, func(t *testing.T) {
			var body *strings.Reader
			if a.body != "" {
				body = strings.NewReader(a.body)
			} else {
				body = strings.NewReader("")
			}
			req, err := http.NewRequest(a.method, s.url+a.path, body)
			if err != nil {
				t.Fatal(err)
			}
			if a.auth {
				req.Header.Set("Authorization", "Bearer "+s.token)
			}
			r := s.send(req)
			ok := false
			for _, st := range a.status {
				ok = ok || r.status == st
			}
			if !ok || r.body["error"] == nil {
				t.Fatalf("got %s; want one of %v with the error shape", r, a.status)
			}
		})
	}

	// A manifest whose id is a management route is refused by name.
	sys := copyPlugin(t, filepath.Join(f.root, "plugins/examples/hello"))
	edit(t, filepath.Join(sys, "plugin.yaml"), "id: my-plugin", "id: system")
	r := s.api("POST", "/api/plugins/load", map[string]any{"source": sys})
	if r.status != 422 || !strings.Contains(r.raw, "reserved") {
		t.Fatalf("id system: %s", r)
	}

	// Concurrent loads and unloads of one id leave one consistent answer.
	want(t, "unload", s.api("DELETE", "/api/plugins/"+helloID, nil), 200, "")
	var wg sync.WaitGroup
	for i := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i%2 == 0 {
				s.api("POST", "/api/plugins/load", map[string]any{"source": dir})
			} else {
				s.api("DELETE", "/api/plugins/"+helloID, nil)
			}
		}()
	}
	wg.Wait()
	r = s.api("GET", "/api/plugins/"+helloID, nil)
	e := s.endpoint("GET", helloID, "/hello")
	switch {
	case r.status == 200 && r.body["state"] == "active" && e.status == 200:
	case r.status == 404 && e.status == 404:
	default:
		t.Fatalf("after concurrent load/unload: plugin %s, endpoint %s", r, e)
	}
	want(t, "host alive", s.call("GET", "/healthz", nil, false), 200, "")
}
