package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/kubestellar/ksplugins/internal/auth"
	"github.com/kubestellar/ksplugins/internal/host"
	"github.com/kubestellar/ksplugins/internal/openapi"
)

// readDoc is the OpenAPI document s serves.
func readDoc(t *testing.T, s *Server) openapi.Document {
	t.Helper()
	var doc openapi.Document
	if err := json.Unmarshal(s.openapi, &doc); err != nil {
		t.Fatalf("the document does not read back: %v", err)
	}
	return doc
}

// TestOpenAPIMatchesRoutes compares the document with the routes the
// server serves, both ways: every management route is documented, and
// every documented operation is served.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	s, h := newServer(t)
	doc := readDoc(t, s)
	endpoints, _ := openAPIPath(strings.TrimSuffix(host.EndpointPrefix, "/") + "/:id/*path")

	served := map[string]bool{}
	for _, rt := range h.(*gin.Engine).Routes() {
		if !strings.HasPrefix(rt.Path, "/api/") {
			continue // the page, /healthz and /metrics are not the management API
		}
		path, _ := openAPIPath(rt.Path)
		method := strings.ToLower(rt.Method)
		served[method+" "+path] = true
		if path == endpoints && !slices.Contains(pluginEndpointMethods(), method) {
			continue // plugin endpoints take any method; the common ones are documented
		}
		if doc.Paths[path][method] == nil {
			t.Errorf("%s %s is served but not documented", rt.Method, rt.Path)
		}
	}
	var documented int
	for path, item := range doc.Paths {
		for method := range item {
			documented++
			if !served[method+" "+path] {
				t.Errorf("%s %s is documented but not served", strings.ToUpper(method), path)
			}
		}
	}
	if documented < len(s.routes()) {
		t.Fatalf("%d operations documented, fewer than the %d routes", documented, len(s.routes()))
	}
}

// TestOpenAPISchemasAreWireTypes: each route's request and response
// schemas are the reflection of the wire types its table entry declares,
// and every JSON body with a declared type is a named component.
func TestOpenAPISchemasAreWireTypes(t *testing.T) {
	s, _ := newServer(t)
	doc := readDoc(t, s)
	reflected := openapi.NewSchemas()
	for _, rt := range s.routes() {
		path, _ := openAPIPath(managementPrefix + rt.path)
		op := doc.Paths[path][strings.ToLower(rt.method)]
		if op == nil {
			t.Errorf("%s %s: not documented", rt.method, rt.path)
			continue
		}
		if op.OperationID != rt.action || op.Role != rt.role {
			t.Errorf("%s %s: operationId %q role %q, want %q %q", rt.method, rt.path, op.OperationID, op.Role, rt.action, rt.role)
		}
		if rt.body != nil {
			if op.RequestBody == nil {
				t.Errorf("%s: no request body documented", rt.action)
			} else {
				sameSchema(t, rt.action+" request", doc, op.RequestBody.Content[rt.body.contentType].Schema, reflected, requestSchema(reflected, rt.body))
			}
		} else if op.RequestBody != nil {
			t.Errorf("%s: a request body is documented; the route reads none", rt.action)
		}
		for _, a := range rt.answers {
			resp := op.Responses[strconv.Itoa(a.status)]
			if resp == nil || resp.Content[a.contentType].Schema == nil {
				t.Errorf("%s: %d %s not documented", rt.action, a.status, a.contentType)
				continue
			}
			if a.typ == nil {
				continue
			}
			got := resp.Content[a.contentType].Schema
			for _, alt := range got.AnyOf {
				if alt.Ref == reflected.Of(a.typ).Ref {
					got = alt
				}
			}
			sameSchema(t, rt.action+" "+strconv.Itoa(a.status), doc, got, reflected, reflected.Of(a.typ))
		}
		for _, code := range []string{"401", "403", "default"} {
			if r := op.Responses[code]; r == nil || r.Content[jsonContent].Schema.Ref != openapi.RefPrefix+"ErrorBody" {
				t.Errorf("%s: %s is not the error body", rt.action, code)
			}
		}
	}
}

// sameSchema checks that got is a reference to the component want, the
// reflection of the declared type, and that the two components are the
// same.
func sameSchema(t *testing.T, what string, doc openapi.Document, got *openapi.Schema, reflected *openapi.Schemas, want *openapi.Schema) {
	t.Helper()
	if want.Ref == "" {
		t.Errorf("%s: the declared type is not a named type", what)
		return
	}
	if got.Ref != want.Ref {
		t.Errorf("%s: schema %+v, want %s", what, got, want.Ref)
		return
	}
	name := strings.TrimPrefix(want.Ref, openapi.RefPrefix)
	g, _ := json.Marshal(doc.Components.Schemas[name])
	w, _ := json.Marshal(reflected.Components()[name])
	if !bytes.Equal(g, w) {
		t.Errorf("%s: component %s is\n%s\nwant\n%s", what, name, g, w)
	}
}

// validator checks bodies against the schemas of a document.
type validator struct {
	t        *testing.T
	compiler *jsonschema.Compiler
}

const docURL = "file:///openapi.json"

func newValidator(t *testing.T, data []byte) *validator {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(docURL, doc); err != nil {
		t.Fatal(err)
	}
	return &validator{t: t, compiler: c}
}

// check validates body against the documented schema of path's method
// answering status (or the default answer) as JSON.
func (v *validator) check(path, method string, status int, body []byte) {
	v.t.Helper()
	if err := v.validate(path, method, status, body); err != nil {
		v.t.Errorf("%s %s %d: %v\n%s", method, path, status, err, body)
	}
}

func (v *validator) validate(path, method string, status int, body []byte) error {
	pointer := "/paths/" + escapePointer(path) + "/" + strings.ToLower(method) + "/responses/"
	schema, err := v.compiler.Compile(docURL + "#" + pointer + strconv.Itoa(status) + "/content/application~1json/schema")
	if err != nil {
		schema, err = v.compiler.Compile(docURL + "#" + pointer + "default/content/application~1json/schema")
	}
	if err != nil {
		return fmt.Errorf("no documented schema: %w", err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	if err := schema.Validate(inst); err != nil {
		return fmt.Errorf("the answer does not match the document: %w", err)
	}
	return nil
}

// escapePointer escapes a JSON pointer token for a URL fragment.
func escapePointer(token string) string {
	return url.PathEscape(strings.NewReplacer("~", "~0", "/", "~1").Replace(token))
}

// TestOpenAPIValidatesResponses sends a representative set of requests to
// a running server and validates every answer, errors included, against
// the schema the document gives for it: the declared type is the one the
// handler encodes.
func TestOpenAPIValidatesResponses(t *testing.T) {
	s, h := newServer(t)
	v := newValidator(t, s.openapi)
	// The validation can fail: bodies of the wrong shape are refused.
	for _, bad := range []struct {
		path, method string
		status       int
		body         string
	}{
		{"/api/plugins", "GET", 200, `{"plugins": "none", "count": 0}`},
		{"/api/plugins", "GET", 200, `{"plugins": []}`},
		{"/api/plugins/{id}", "GET", 404, `{"error": {"code": 404}}`},
		{"/api/plugins/whoami", "GET", 200, `{"name": "x", "role": "viewer", "via": "token", "allowed": [1]}`},
	} {
		if err := v.validate(bad.path, bad.method, bad.status, []byte(bad.body)); err == nil {
			t.Errorf("%s %s %d: %s passed validation", bad.method, bad.path, bad.status, bad.body)
		}
	}
	viewer := "Bearer " + roleToken(t, s, auth.Viewer)
	admin := "Bearer " + token
	tests := []struct {
		method, path, doc, body, auth string
		status                        int
	}{
		{"GET", "/api/plugins", "/api/plugins", "", admin, 200},
		{"GET", "/api/plugins", "/api/plugins", "", "", 401},
		{"GET", "/api/plugins/ghost", "/api/plugins/{id}", "", admin, 404},
		{"DELETE", "/api/plugins/ghost", "/api/plugins/{id}", "", viewer, 403},
		{"GET", "/api/plugins/ghost/status", "/api/plugins/{id}/status", "", admin, 404},
		{"GET", "/api/plugins/ghost/metrics", "/api/plugins/{id}/metrics", "", admin, 404},
		{"PUT", "/api/plugins/ghost/configuration", "/api/plugins/{id}/configuration", `[1]`, admin, 400},
		{"POST", "/api/plugins/ghost/update", "/api/plugins/{id}/update", `{"version": 2}`, admin, 400},
		{"POST", "/api/plugins/load", "/api/plugins/load", `{"sauce": "x"}`, admin, 400},
		{"POST", "/api/plugins/load", "/api/plugins/load", `{"source": "https://github.com/x/y"}`, admin, 403},
		{"POST", "/api/plugins/load?async=true", "/api/plugins/load", `{"source": "/no/such/folder"}`, admin, 202},
		{"GET", "/api/plugins/whoami", "/api/plugins/whoami", "", viewer, 200},
		{"GET", "/api/plugins/permissions", "/api/plugins/permissions", "", viewer, 200},
		{"GET", "/api/plugins/health/summary", "/api/plugins/health/summary", "", viewer, 200},
		{"GET", "/api/plugins/system/metrics", "/api/plugins/system/metrics", "", viewer, 200},
		{"GET", "/api/plugins/system/configuration", "/api/plugins/system/configuration", "", viewer, 200},
		{"PUT", "/api/plugins/system/configuration", "/api/plugins/system/configuration", `{"security_mode": "lax"}`, admin, 400},
		{"PUT", "/api/plugins/system/configuration", "/api/plugins/system/configuration", `{"debug": false, "jwt": {"audience": "x"}}`, admin, 400},
		{"PUT", "/api/plugins/system/configuration", "/api/plugins/system/configuration", `{"debug": false}`, admin, 200},
		{"GET", "/api/plugins/cache/info", "/api/plugins/cache/info", "", viewer, 200},
		{"DELETE", "/api/plugins/cache", "/api/plugins/cache", "", admin, 200},
		{"GET", "/api/plugins/events?since=0", "/api/plugins/events", "", viewer, 200},
		{"GET", "/api/plugins/events?since=yesterday", "/api/plugins/events", "", viewer, 400},
		{"POST", "/api/plugins/events/ticket", "/api/plugins/events/ticket", "", viewer, 201},
		{"GET", "/api/plugins/operations/op-nope", "/api/plugins/operations/{op}", "", viewer, 404},
		{"POST", "/api/plugins/tokens", "/api/plugins/tokens", `{"name": "ci", "role": "operator", "ttl": "1h"}`, admin, 201},
		{"POST", "/api/plugins/tokens", "/api/plugins/tokens", `{"name": "ci", "role": "operator"}`, admin, 409},
		{"GET", "/api/plugins/tokens", "/api/plugins/tokens", "", admin, 200},
		{"DELETE", "/api/plugins/tokens/ci", "/api/plugins/tokens/{name}", "", admin, 200},
		{"GET", "/api/plugins/audit", "/api/plugins/audit", "", admin, 200},
		{"POST", "/api/plugins/upload", "/api/plugins/upload", `{}`, admin, 400},
	}
	for _, tt := range tests {
		r := do(h, tt.method, tt.path, tt.body, tt.auth)
		if r.status != tt.status {
			t.Errorf("%s %s: %d %s, want %d", tt.method, tt.path, r.status, r.raw, tt.status)
			continue
		}
		v.check(tt.doc, tt.method, r.status, []byte(r.raw))
		if r.status == 202 {
			// Follow the operation to its failure, which carries an error.
			id, _ := r.body["id"].(string)
			op := waitOperation(t, h, id, admin)
			v.check("/api/plugins/operations/{op}", "GET", 200, []byte(op.raw))
			if op.body["error"] == nil || op.body["status"] == nil {
				t.Errorf("failed operation without its error: %s", op.raw)
			}
		}
	}
}

// waitOperation polls an operation until it ends.
func waitOperation(t *testing.T, h http.Handler, id, bearer string) result {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		r := do(h, "GET", "/api/plugins/operations/"+id, "", bearer)
		if r.status != 200 || r.body["state"] != "running" {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("operation %s still running: %s", id, r.raw)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestOpenAPIServed: the route answers a valid OpenAPI 3 document, to
// callers with a token only, like every management route.
func TestOpenAPIServed(t *testing.T) {
	_, h := newServer(t)
	r := do(h, "GET", "/api/plugins/openapi.json", "", "Bearer "+token)
	if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
		t.Fatalf("GET openapi.json: %d %s", r.status, r.header.Get("Content-Type"))
	}
	version, _ := r.body["openapi"].(string)
	info, _ := r.body["info"].(map[string]any)
	paths, _ := r.body["paths"].(map[string]any)
	if !strings.HasPrefix(version, "3.") || info["version"] == "" || info["version"] == nil || len(paths) == 0 {
		t.Fatalf("not an OpenAPI 3 document: openapi %q, info %v, %d paths", version, info, len(paths))
	}
	// The document's own schemas are valid JSON Schemas.
	v := newValidator(t, []byte(r.raw))
	for name := range r.body["components"].(map[string]any)["schemas"].(map[string]any) {
		if _, err := v.compiler.Compile(docURL + "#/components/schemas/" + url.PathEscape(name)); err != nil {
			t.Errorf("schema %s: %v", name, err)
		}
	}
	if r := do(h, "GET", "/api/plugins/openapi.json", "", ""); r.status != 401 {
		t.Errorf("without a token: %d, want 401", r.status)
	}
}

// TestOpenAPIRequestBodies: the document's request schemas and the
// server's decoding agree on which bodies are well-formed: a body the
// schema refuses is refused as invalid_request, and one it accepts is not.
func TestOpenAPIRequestBodies(t *testing.T) {
	s, h := newServer(t)
	v := newValidator(t, s.openapi)
	tests := []struct {
		method, path, doc, body string
		valid                   bool
	}{
		{"POST", "/api/plugins/load", "/api/plugins/load", `{"source": "/no/such/folder", "version": "1.0.0"}`, true},
		{"POST", "/api/plugins/load", "/api/plugins/load", `{}`, true},
		{"POST", "/api/plugins/load", "/api/plugins/load", `{"sauce": "x"}`, false},
		{"POST", "/api/plugins/load", "/api/plugins/load", `{"source": 7}`, false},
		{"POST", "/api/plugins/ghost/update", "/api/plugins/{id}/update", `{"version": "v2"}`, true},
		{"POST", "/api/plugins/ghost/update", "/api/plugins/{id}/update", `{"version": 2}`, false},
		{"POST", "/api/plugins/tokens", "/api/plugins/tokens", `{"name": "ci", "role": "viewer"}`, true},
		{"POST", "/api/plugins/tokens", "/api/plugins/tokens", `{"name": "cd", "role": "viewer", "admin": true}`, false},
		{"PUT", "/api/plugins/system/configuration", "/api/plugins/system/configuration", `{"sandbox": {"max_pool_size": 4}, "jwt": null}`, true},
		{"PUT", "/api/plugins/system/configuration", "/api/plugins/system/configuration", `{"sandbox": {"pool": 4}}`, false},
		{"PUT", "/api/plugins/system/configuration", "/api/plugins/system/configuration", `{"debug": "yes"}`, false},
		{"PUT", "/api/plugins/ghost/configuration", "/api/plugins/{id}/configuration", `{"any": {"value": [1]}}`, true},
		{"PUT", "/api/plugins/ghost/configuration", "/api/plugins/{id}/configuration", `[1]`, false},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path+" "+tt.body, func(t *testing.T) {
			ptr := "/paths/" + escapePointer(tt.doc) + "/" + strings.ToLower(tt.method) + "/requestBody/content/application~1json/schema"
			schema, err := v.compiler.Compile(docURL + "#" + ptr)
			if err != nil {
				t.Fatalf("no documented request body: %v", err)
			}
			inst, err := jsonschema.UnmarshalJSON(strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if err := schema.Validate(inst); (err == nil) != tt.valid {
				t.Errorf("the document says valid=%v (%v), want %v", err == nil, err, tt.valid)
			}
			r := do(h, tt.method, tt.path, tt.body, "Bearer "+token)
			if refused := r.code() == "invalid_request"; refused == tt.valid {
				t.Errorf("the server answers %d %s; want it to refuse the body: %v", r.status, r.raw, !tt.valid)
			}
		})
	}
}
