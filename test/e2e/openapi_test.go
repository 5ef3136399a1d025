package e2e

import (
	"bytes"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// TestOpenAPI: the server describes its management API at
// /api/plugins/openapi.json, and what it answers about a real plugin
// matches that description.
func TestOpenAPI(t *testing.T) {
	f := setup(t)
	s := startServer(t, f)

	doc := s.api("GET", "/api/plugins/openapi.json", nil)
	want(t, "openapi.json", doc, 200, "")
	info, _ := doc.body["info"].(map[string]any)
	paths, _ := doc.body["paths"].(map[string]any)
	if v, _ := doc.body["openapi"].(string); !strings.HasPrefix(v, "3.") || info["version"] == nil || len(paths) == 0 {
		t.Fatalf("not an OpenAPI 3 document: %.300s", doc.raw)
	}
	want(t, "openapi.json without a token", s.call("GET", "/api/plugins/openapi.json", nil, false), 401, "unauthorized")

	parsed, err := jsonschema.UnmarshalJSON(strings.NewReader(doc.raw))
	if err != nil {
		t.Fatal(err)
	}
	const docURL = "file:///openapi.json"
	compiler := jsonschema.NewCompiler()
	if err := compiler.AddResource(docURL, parsed); err != nil {
		t.Fatal(err)
	}
	check := func(method, path string, r reply) {
		t.Helper()
		ptr := "/paths/" + url.PathEscape(strings.ReplaceAll(path, "/", "~1")) + "/" + strings.ToLower(method) +
			"/responses/" + strconv.Itoa(r.status) + "/content/application~1json/schema"
		schema, err := compiler.Compile(docURL + "#" + ptr)
		if err != nil {
			t.Fatalf("%s %s %d: not documented: %v", method, path, r.status, err)
		}
		inst, err := jsonschema.UnmarshalJSON(bytes.NewReader([]byte(r.raw)))
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		if err := schema.Validate(inst); err != nil {
			t.Errorf("%s %s %d does not match the document: %v\n%.2000s", method, path, r.status, err, r.raw)
		}
	}

	dir := copyPlugin(t, filepath.Join(f.root, "plugins/examples/hello"))
	r := s.api("POST", "/api/plugins/load", map[string]any{"source": dir})
	want(t, "load", r, 201, "")
	check("POST", "/api/plugins/load", r)
	s.endpoint("GET", helloID, "/hello")

	for _, c := range []struct{ method, path, doc string }{
		{"GET", "/api/plugins", "/api/plugins"},
		{"GET", "/api/plugins/" + helloID, "/api/plugins/{id}"},
		{"GET", "/api/plugins/" + helloID + "/status", "/api/plugins/{id}/status"},
		{"GET", "/api/plugins/" + helloID + "/metrics", "/api/plugins/{id}/metrics"},
		{"GET", "/api/plugins/" + helloID + "/configuration", "/api/plugins/{id}/configuration"},
		{"POST", "/api/plugins/" + helloID + "/disable", "/api/plugins/{id}/disable"},
		{"POST", "/api/plugins/" + helloID + "/enable", "/api/plugins/{id}/enable"},
		{"GET", "/api/plugins/health/summary", "/api/plugins/health/summary"},
		{"GET", "/api/plugins/system/metrics", "/api/plugins/system/metrics"},
		{"GET", "/api/plugins/events?since=0", "/api/plugins/events"},
		{"GET", "/api/plugins/cache/info", "/api/plugins/cache/info"},
		{"GET", "/api/plugins/audit", "/api/plugins/audit"},
	} {
		r := s.api(c.method, c.path, nil)
		if r.status != 200 {
			t.Errorf("%s %s: %s", c.method, c.path, r)
			continue
		}
		check(c.method, c.doc, r)
	}
	r = s.api("POST", "/api/plugins/load?async=true", map[string]any{"source": dir})
	want(t, "async load", r, 202, "")
	check("POST", "/api/plugins/load", r)
	r = s.api("DELETE", "/api/plugins/"+helloID, nil)
	want(t, "unload", r, 200, "")
	check("DELETE", "/api/plugins/{id}", r)
}
