package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"sigs.k8s.io/yaml"

	"github.com/kubestellar/ksplugins/sdk"
)

// head is the smallest valid manifest; cases append the part under test.
const head = "id: p\nname: P\nversion: 1.0.0\n"

// kube is a kubernetes section with one valid rule, to be followed by more.
const kube = "kubernetes:\n  contexts: [its1]\n  rules:\n    - {apiGroups: [''], resources: [pods], verbs: [get]}\n"

// ep is one valid endpoint list item, to be followed by more.
const ep = "endpoints:\n  - {path: /a, method: GET, handler: A}\n"

type validCase struct {
	name  string
	yaml  string
	warns map[string]string // field -> message fragment
	check func(t *testing.T, md *sdk.PluginMetadata)
}

func validCases(t *testing.T) []validCase {
	return []validCase{
		{name: "readme example", yaml: fixture(t, "readme.yaml"), check: func(t *testing.T, md *sdk.PluginMetadata) {
			if md.ID != "my-plugin" || len(md.Endpoints) != 1 || md.Configuration["timeout"] != "30s" ||
				!md.Security.Sandboxed || md.Health.IntervalSeconds != 30 {
				t.Errorf("decoded %+v", md)
			}
		}},
		{name: "minimal", yaml: head},
		{name: "module and plugin dependencies", yaml: head + "dependencies:\n  - k8s.io/client-go\n" +
			"  - {plugin: cluster-inventory, version: '>=1.2 <2'}\n  - github.com/acme/lib@v1.0.0\n  - {plugin: audit-log, colour: red}\n",
			warns: map[string]string{"dependencies[3].colour": "unknown field"},
			check: func(t *testing.T, md *sdk.PluginMetadata) {
				if want := []string{"k8s.io/client-go", "github.com/acme/lib@v1.0.0"}; !slices.Equal(md.Dependencies, want) {
					t.Errorf("dependencies = %q, want %q", md.Dependencies, want)
				}
				want := []sdk.PluginDependency{{Plugin: "cluster-inventory", Version: ">=1.2 <2"}, {Plugin: "audit-log"}}
				if !slices.Equal(md.PluginDependencies, want) {
					t.Errorf("plugin dependencies = %+v, want %+v", md.PluginDependencies, want)
				}
			}},
		{name: "every field", yaml: fixture(t, "full.yaml"), check: func(t *testing.T, md *sdk.PluginMetadata) {
			var got []string
			for _, e := range md.Endpoints {
				got = append(got, e.Method)
			}
			if want := []string{"GET", "GET", "PUT", "DELETE", "GET", "GET"}; !slices.Equal(got, want) {
				t.Errorf("methods = %v, want %v", got, want)
			}
			if rl := md.Endpoints[1].RateLimit; rl == nil || rl.RPM != 60 || rl.WindowSizeMs != 60000 {
				t.Errorf("rate limit = %+v", rl)
			}
			k := md.Kubernetes
			if k == nil || !slices.Equal(k.Contexts, []string{"its1", "wds1"}) || len(k.Rules) != 3 || !k.ExternalClusters {
				t.Fatalf("kubernetes = %+v", k)
			}
			if r := k.Rules[1]; !slices.Equal(r.APIGroups, []string{""}) || r.Namespaces[0] != "open-cluster-management" || len(r.ResourceNames) != 2 {
				t.Errorf("kubernetes.rules[1] = %+v", r)
			}
		}},
		{name: "same wildcard position, other method", yaml: head + ep +
			"  - {path: /a/:x, method: GET, handler: A}\n  - {path: /a/:y/b, method: POST, handler: B}\n"},
		{name: "static beside parameter", yaml: head + ep +
			"  - {path: /a/:x, method: GET, handler: A}\n  - {path: /a/b, method: GET, handler: B}\n"},
		{name: "lowercase method", yaml: head + "endpoints:\n  - {path: /a, method: delete, handler: A}\n",
			check: func(t *testing.T, md *sdk.PluginMetadata) {
				if m := md.Endpoints[0].Method; m != "DELETE" {
					t.Errorf("method = %q, want DELETE", m)
				}
			}},
		{name: "unknown keys at every depth", yaml: head + "foo: 1\n" + ep +
			"  - {path: /b, method: GET, handler: B, foo: {x: 1}}\n" +
			"health: {enabled: true, bar: x}\nsecurity: {extra: {deep: true}}\n" +
			"endpoints_v2: []\nID: upper\nloaded_at: yesterday\n",
			warns: map[string]string{
				"foo": "unknown field", "endpoints[1].foo": "unknown field", "health.bar": "unknown field",
				"security.extra": "unknown field", "endpoints_v2": "unknown field", "ID": "unknown field",
				"loaded_at": "unknown field",
			},
			check: func(t *testing.T, md *sdk.PluginMetadata) {
				if md.ID != "p" || md.LoadedAt != "" {
					t.Errorf("host-only or case-folded key leaked: ID=%q LoadedAt=%q", md.ID, md.LoadedAt)
				}
			}},
		{name: "seed era", yaml: fixture(t, "seed.yaml"),
			warns: map[string]string{"config": "deprecated, use configuration"},
			check: func(t *testing.T, md *sdk.PluginMetadata) {
				if md.Compatibility["ui_version"] != "0.1" || md.Configuration["refresh"] != "30s" {
					t.Errorf("compatibility=%v configuration=%v", md.Compatibility, md.Configuration)
				}
				if md.Kubernetes != nil {
					t.Errorf("a manifest without a kubernetes section asks for access: %+v", md.Kubernetes)
				}
			}},
		{name: "config beside configuration", yaml: head + "config: {a: 1}\nconfiguration: {b: 2}\n",
			warns: map[string]string{"config": "ignored because configuration is set"},
			check: func(t *testing.T, md *sdk.PluginMetadata) {
				if _, ok := md.Configuration["a"]; ok || md.Configuration["b"] != 2.0 {
					t.Errorf("configuration = %v", md.Configuration)
				}
			}},
	}
}

type invalidCase struct {
	name   string
	yaml   string
	errs   map[string]string // field -> message fragment, exactly the fields expected
	schema bool              // the JSON Schema can express the rule and must reject too
}

func invalidCases() []invalidCase {
	endpoint := func(fields string) string { return head + "endpoints:\n  - {" + fields + "}\n" }
	return []invalidCase{
		{"missing id", "name: P\nversion: 1.0.0\n", map[string]string{"id": "is required"}, true},
		{"bad id chars", "id: My_Plugin\nname: P\nversion: 1.0.0\n", map[string]string{"id": "lowercase letters"}, true},
		{"id ends with hyphen", "id: abc-\nname: P\nversion: 1.0.0\n", map[string]string{"id": "lowercase letters"}, true},
		{"reserved id", "id: health\nname: P\nversion: 1.0.0\n", map[string]string{"id": `"health" is reserved`}, true},
		{"too long id", "id: " + strings.Repeat("a", 64) + "\nname: P\nversion: 1.0.0\n", map[string]string{"id": "at most 63"}, true},
		{"missing name", "id: p\nversion: 1.0.0\n", map[string]string{"name": "is required"}, true},
		{"blank name", "id: p\nname: '  '\nversion: 1.0.0\n", map[string]string{"name": "is required"}, true},
		{"missing version", "id: p\nname: P\n", map[string]string{"version": "is required"}, true},
		{"wildcard version", "id: p\nname: P\nversion: 1.x\n", map[string]string{"version": `semantic version such as 1.0.0, got "1.x"`}, true},
		{"latest version", "id: p\nname: P\nversion: latest\n", map[string]string{"version": "semantic version"}, true},
		{"invalid method", head + ep + "  - {path: /b, method: POST, handler: B}\n  - {path: /c, method: FETCH, handler: C}\n",
			map[string]string{"endpoints[2].method": "must be one of GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS"}, true},
		{"missing method", endpoint("path: /a, handler: A"), map[string]string{"endpoints[0].method": "is required"}, true},
		{"missing path", endpoint("method: GET, handler: A"), map[string]string{"endpoints[0].path": "is required"}, true},
		{"path without slash", endpoint("path: hello, method: GET, handler: A"), map[string]string{"endpoints[0].path": `must start with "/"`}, true},
		{"path with dotdot", endpoint("path: /a/../b, method: GET, handler: A"), map[string]string{"endpoints[0].path": `".."`}, true},
		{"path with double slash", endpoint("path: /a//b, method: GET, handler: A"), map[string]string{"endpoints[0].path": `"//"`}, true},
		{"path with query", endpoint("path: '/a?b=1', method: GET, handler: A"), map[string]string{"endpoints[0].path": "query"}, true},
		{"wildcard not last", endpoint("path: /files/*rest/meta, method: GET, handler: A"), map[string]string{"endpoints[0].path": "must be the last segment"}, true},
		{"unnamed parameter", endpoint("path: '/a/:', method: GET, handler: A"), map[string]string{"endpoints[0].path": "needs a name"}, true},
		{"colon inside segment", endpoint("path: '/a/x:y', method: GET, handler: A"), map[string]string{"endpoints[0].path": "may only start a segment"}, true},
		{"missing handler", endpoint("path: /a, method: GET"), map[string]string{"endpoints[0].handler": "is required"}, true},
		{"handler not identifier", endpoint("path: /a, method: GET, handler: hello-world"), map[string]string{"endpoints[0].handler": "Go identifier"}, true},
		{"duplicate endpoint", head + ep + "  - {path: /b, method: GET, handler: B}\n  - {path: /a, method: get, handler: C}\n",
			map[string]string{"endpoints[2]": "duplicates endpoints[0] (GET /a)"}, false},
		{"conflicting parameter names", head + ep + "  - {path: '/a/:x', method: GET, handler: B}\n  - {path: '/a/:y/b', method: GET, handler: C}\n",
			map[string]string{"endpoints[2].path": "conflicts with endpoints[1] (GET /a/:x)"}, false},
		{"catch-all beside static", head + "endpoints:\n  - {path: /f/list, method: GET, handler: A}\n  - {path: '/f/*p', method: GET, handler: B}\n",
			map[string]string{"endpoints[1].path": "conflicts with endpoints[0]"}, false},
		{"endpoints is a map", head + "endpoints:\n  path: /a\n", map[string]string{"endpoints": "must be a list, got map"}, true},
		{"endpoint is a string", head + "endpoints: [hello]\n", map[string]string{"endpoints[0]": "must be a map, got string"}, true},
		{"method is a number", endpoint("path: /a, method: 1, handler: A"), map[string]string{"endpoints[0].method": "must be a string, got number"}, true},
		{"interval is text", head + "health: {interval_seconds: thirty}\n", map[string]string{"health.interval_seconds": "must be an integer, got string"}, true},
		{"interval is a fraction", head + "health: {interval_seconds: 1.5}\n", map[string]string{"health.interval_seconds": "must be an integer, got number"}, true},
		{"sandboxed is text", head + "security: {sandboxed: maybe}\n", map[string]string{"security.sandboxed": "must be a boolean, got string"}, true},
		{"unquoted ui_version", head + "compatibility: {ui_version: 0.1}\n", map[string]string{"compatibility.ui_version": "must be a string, got number (quote it)"}, true},
		{"seed config not a map", head + "config: 3\n", map[string]string{"config": "must be a map, got number"}, true},
		{"permissions is a string", head + "permissions: resource.read\n", map[string]string{"permissions": "must be a list, got string"}, true},
		{"bad permissions", head + "permissions: [Resource.Read, read, resource.]\n",
			map[string]string{"permissions[0]": "dotted lowercase", "permissions[1]": "dotted lowercase", "permissions[2]": "dotted lowercase"}, true},
		{"duplicate permission", head + "permissions: [resource.read, resource.write, resource.read]\n",
			map[string]string{"permissions[2]": "duplicates permissions[0]"}, true},
		{"empty dependency", head + "dependencies: [k8s.io/client-go, '']\n", map[string]string{"dependencies[1]": "must not be empty"}, true},
		{"empty dependency after a plugin", head + "dependencies: [{plugin: a}, k8s.io/client-go, '']\n", map[string]string{"dependencies[2]": "must not be empty"}, true},
		{"dependency of neither kind", head + "dependencies: [k8s.io/client-go, 3]\n", map[string]string{"dependencies[1]": "must be a string (a Go module requirement) or a map {plugin, version}"}, true},
		{"plugin dependency problems", head + "dependencies:\n  - x.io/m\n  - {version: '1.x'}\n  - {plugin: inv, version: '>=1.2 <'}\n" +
			"  - {plugin: p}\n  - {plugin: inv}\n  - {plugin: Bad_Id}\n  - {plugin: ok, version: 2}\n",
			map[string]string{
				"dependencies[1].plugin": "is required", "dependencies[2].version": `semantic version range such as ">=1.2 <2"`,
				"dependencies[3].plugin": "cannot depend on itself", "dependencies[4].plugin": "names inv a second time",
				"dependencies[5].plugin": "lowercase letters", "dependencies[6].version": "must be a string, got number",
			}, false},
		{"bad checksum", head + "security: {checksum: 'sha256:ABC'}\n", map[string]string{"security.checksum": `"sha256:" followed by 64`}, true},
		{"interval out of range", head + "health: {interval_seconds: 86401, timeout_seconds: -1}\n",
			map[string]string{"health.interval_seconds": "between 1 and 86400", "health.timeout_seconds": "between 1 and 3600"}, true},
		{"timeout not below interval", head + "health: {interval_seconds: 10, timeout_seconds: 10}\n",
			map[string]string{"health.timeout_seconds": "less than interval_seconds (10)"}, false},
		{"rate limit rpm 0", endpoint("path: /a, method: GET, handler: A, rate_limit: {enabled: true, rpm: 0}"),
			map[string]string{"endpoints[0].rate_limit.rpm": "at least 1 when enabled"}, true},
		{"rate limit negatives", endpoint("path: /a, method: GET, handler: A, rate_limit: {burst: -1, window_ms: -5}"),
			map[string]string{"endpoints[0].rate_limit.burst": "negative", "endpoints[0].rate_limit.window_ms": "negative"}, true},
		{"bad auth role", endpoint("path: /a, method: GET, handler: A, auth: {roles: [viewer, root]}"),
			map[string]string{"endpoints[0].auth.roles[1]": "must be one of viewer, operator, admin"}, true},
		{"bad homepage", head + "homepage: kubestellar.io\nrepository: ftp://example.com/x\n",
			map[string]string{"homepage": "absolute http(s) URL", "repository": "absolute http(s) URL"}, true},
		{"ui component incomplete", head + "ui_components:\n  - {route: plugins}\n",
			map[string]string{"ui_components[0].name": "is required", "ui_components[0].route": `must start with "/"`, "ui_components[0].component": "is required"}, true},
		{"ui component entry outside ui/", head + "ui_components:\n  - {name: a, route: /a, component: A, entry: ../plugin.yaml, slot: sidebar}\n  - {name: b, route: /b, component: B, entry: /etc/passwd}\n  - {name: c, route: /c, component: C, entry: .hidden/x.html}\n",
			map[string]string{"ui_components[0].entry": "ui/ folder", "ui_components[0].slot": "one of detail-tab, page, card", "ui_components[1].entry": "ui/ folder", "ui_components[2].entry": "ui/ folder"}, true},
		{"kubernetes is a list", head + "kubernetes: [its1]\n", map[string]string{"kubernetes": "must be a map, got list"}, true},
		{"kubernetes rule without lists", head + "kubernetes:\n  rules:\n    - {}\n    - {apiGroups: [], resources: [], verbs: []}\n",
			map[string]string{
				"kubernetes.rules[0].apiGroups": "at least one", "kubernetes.rules[0].resources": "at least one", "kubernetes.rules[0].verbs": "at least one",
				"kubernetes.rules[1].apiGroups": "at least one", "kubernetes.rules[1].resources": "at least one", "kubernetes.rules[1].verbs": "at least one",
			}, true},
		{"unknown kubernetes verb", head + kube + "    - {apiGroups: [''], resources: [pods], verbs: [get, escalate, GET]}\n",
			map[string]string{"kubernetes.rules[1].verbs[1]": "must be one of get, list, watch", "kubernetes.rules[1].verbs[2]": `got "GET"`}, true},
		{"bad resources", head + kube + "    - {apiGroups: [''], resources: [Pods, pods/log/x, /status, 'pods/', 'pods/*', '*/*'], verbs: [get]}\n",
			map[string]string{
				"kubernetes.rules[1].resources[0]": "lowercase resource name", "kubernetes.rules[1].resources[1]": `"pods/log/x"`,
				"kubernetes.rules[1].resources[2]": `"/status"`, "kubernetes.rules[1].resources[3]": `"pods/"`,
				"kubernetes.rules[1].resources[4]": "RBAC has no resource/*", "kubernetes.rules[1].resources[5]": `"*/*"`,
			}, true},
		{"bad api groups", head + kube + "    - {apiGroups: [Apps, 'a..b', '.io'], resources: [deployments], verbs: [get]}\n",
			map[string]string{"kubernetes.rules[1].apiGroups[0]": "API group", "kubernetes.rules[1].apiGroups[1]": `"a..b"`, "kubernetes.rules[1].apiGroups[2]": `".io"`}, true},
		{"bad namespaces and names", head + kube +
			"    - {apiGroups: [''], resources: [secrets], verbs: [get], namespaces: [Default, 'a.b', ''], resourceNames: ['my secret', 'ok.name', 'x:']}\n",
			map[string]string{
				"kubernetes.rules[1].namespaces[0]": "DNS label", "kubernetes.rules[1].namespaces[1]": `"a.b"`, "kubernetes.rules[1].namespaces[2]": `""`,
				"kubernetes.rules[1].resourceNames[0]": "object name", "kubernetes.rules[1].resourceNames[2]": `"x:"`,
			}, true},
		{"bad contexts", head + "kubernetes: {contexts: [its1, '', ' wds1', its1]}\n",
			map[string]string{"kubernetes.contexts[1]": "without surrounding spaces", "kubernetes.contexts[2]": `" wds1"`, "kubernetes.contexts[3]": "duplicates contexts[0] (its1)"}, true},
		{"external clusters is text", head + "kubernetes: {external_clusters: yes please}\n",
			map[string]string{"kubernetes.external_clusters": "must be a boolean, got string"}, true},
		{"yaml syntax error", "id: p\nname: [\n", map[string]string{"": "line 2"}, false},
		{"empty document", "# nothing but a comment\n", map[string]string{"": "empty document"}, true},
		{"document is a list", "- id: p\n", map[string]string{"": "must be a map, got list"}, true},
		{"many problems at once", "id: Bad!\nversion: one\nendpoints:\n  - {path: a, method: FETCH}\n" +
			"permissions: [x]\nhealth: {timeout_seconds: true}\nhomepage: nope\n",
			map[string]string{
				"id": "lowercase letters", "name": "is required", "version": "semantic version", "homepage": "URL",
				"endpoints[0].path": `must start with "/"`, "endpoints[0].method": "must be one of",
				"endpoints[0].handler": "is required", "permissions[0]": "dotted lowercase",
				"health.timeout_seconds": "must be an integer, got boolean",
			}, true},
	}
}

func TestParseValid(t *testing.T) {
	for _, tc := range validCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			md, warns, err := Parse([]byte(tc.yaml))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			assertProblems(t, "warning", warns, tc.warns)
			if tc.check != nil {
				tc.check(t, md)
			}
		})
	}
}

func TestParseInvalid(t *testing.T) {
	for _, tc := range invalidCases() {
		t.Run(tc.name, func(t *testing.T) {
			md, _, err := Parse([]byte(tc.yaml))
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Parse error = %v, want *Error", err)
			}
			if md != nil {
				t.Errorf("Parse returned metadata with an error: %+v", md)
			}
			assertProblems(t, "error", e.Problems, tc.errs)
		})
	}
}

func TestErrorOrderAndText(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plugin.yaml")
	data := head + "permissions: [x]\nendpoints:\n  - {path: /a, method: GET, handler: A}\n" +
		"  - {path: /a, method: GET, handler: A}\n  - {path: /b, method: GET}\nid: ''\n"
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err := ParseFile(path)
	want := path + `: 4 problems: id: is required; endpoints[1]: duplicates endpoints[0] (GET /a); ` +
		`endpoints[2].handler: is required; permissions[0]: must be dotted lowercase names such as resource.read, got "x"`
	if err == nil || err.Error() != want {
		t.Errorf("error =\n%v\nwant\n%s", err, want)
	}

	one := &Error{Problems: []Problem{{Message: "empty document"}}}
	if got := one.Error(); got != "invalid manifest: empty document" {
		t.Errorf("single problem = %q", got)
	}
	if _, _, err := ParseFile(filepath.Join(t.TempDir(), "missing.yaml")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file error = %v", err)
	}
}

func TestValidate(t *testing.T) {
	valid := func() *sdk.PluginMetadata {
		return &sdk.PluginMetadata{ID: "p", Name: "P", Version: "v1.2.3",
			Endpoints: []sdk.EndpointConfig{{Path: "/a/:id", Method: "get", Handler: "Get"}}}
	}
	tests := []struct {
		name   string
		mutate func(md *sdk.PluginMetadata)
		errs   map[string]string
	}{
		{"valid, lowercase method accepted", func(*sdk.PluginMetadata) {}, nil},
		{"reserved id", func(md *sdk.PluginMetadata) { md.ID = "tokens" }, map[string]string{"id": "reserved"}},
		{"bad version", func(md *sdk.PluginMetadata) { md.Version = "1.0" }, map[string]string{"version": "semantic version"}},
		{"conflict", func(md *sdk.PluginMetadata) {
			md.Endpoints = append(md.Endpoints, sdk.EndpointConfig{Path: "/a/:name/x", Method: "GET", Handler: "X"})
		}, map[string]string{"endpoints[1].path": "conflicts with endpoints[0] (GET /a/:id)"}},
		{"plugin dependencies", func(md *sdk.PluginMetadata) {
			md.Dependencies = []string{" "}
			md.PluginDependencies = []sdk.PluginDependency{{Plugin: "inv", Version: "^1"}, {Plugin: "p"}, {Plugin: "x", Version: "one"}}
		}, map[string]string{"dependencies[0]": "must not be empty", "plugin_dependencies[1].plugin": "itself", "plugin_dependencies[2].version": "range"}},
		{"duplicate across case", func(md *sdk.PluginMetadata) {
			md.Endpoints = append(md.Endpoints, sdk.EndpointConfig{Path: "/a/:id", Method: "GET", Handler: "X"})
		}, map[string]string{"endpoints[1]": "duplicates endpoints[0] (GET /a/:id)"}},
		{"semantic errors everywhere", func(md *sdk.PluginMetadata) {
			md.Name = ""
			md.Endpoints[0].RateLimit = &sdk.RateLimitConfig{Enabled: true}
			md.Endpoints[0].Auth = &sdk.AuthConfig{Roles: []string{"Admin"}}
			md.Permissions = []string{"a.b", "a.b"}
			md.Security.Checksum = "md5:00"
			md.Health = sdk.HealthConfig{IntervalSeconds: 5, TimeoutSeconds: 9}
			md.UIComponents = []sdk.UIComponentConfig{{Name: "n", Component: "C"}}
			md.Kubernetes = &sdk.KubernetesAccess{Contexts: []string{"its1"}, Rules: []sdk.KubernetesRule{
				{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get"}},
				{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: []string{"list", "impersonate"}},
			}}
		}, map[string]string{
			"kubernetes.rules[1].verbs[1]": "must be one of",
			"name":                         "is required", "endpoints[0].rate_limit.rpm": "at least 1", "endpoints[0].auth.roles[0]": "one of",
			"permissions[1]": "duplicates", "security.checksum": "sha256", "health.timeout_seconds": "less than",
			"ui_components[0].route": "is required",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			md := valid()
			tc.mutate(md)
			assertProblems(t, "error", Validate(md), tc.errs)
		})
	}
	assertProblems(t, "error", Validate(nil), map[string]string{"": "missing"})
	for _, id := range ReservedIDs() {
		md := valid()
		md.ID = id
		assertProblems(t, "error", Validate(md), map[string]string{"id": "reserved"})
	}
}

func TestSchema(t *testing.T) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(Schema()))
	if err != nil {
		t.Fatal(err)
	}
	const id = "https://kubestellar.io/schemas/plugin.schema.json"
	if got := doc.(map[string]any)["$id"]; got != id {
		t.Errorf("$id = %v, want %s", got, id)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(id, doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile(id)
	if err != nil {
		t.Fatalf("schema does not compile: %v", err)
	}
	validate := func(t *testing.T, src string) error {
		t.Helper()
		js, err := yaml.YAMLToJSON([]byte(src))
		if err != nil {
			t.Fatal(err)
		}
		v, err := jsonschema.UnmarshalJSON(bytes.NewReader(js))
		if err != nil {
			t.Fatal(err)
		}
		return sch.Validate(v)
	}
	for _, tc := range validCases(t) {
		t.Run("valid/"+tc.name, func(t *testing.T) {
			if err := validate(t, tc.yaml); err != nil {
				t.Errorf("schema rejects a valid manifest: %v", err)
			}
		})
	}
	for _, tc := range invalidCases() {
		if !tc.schema {
			continue
		}
		t.Run("invalid/"+tc.name, func(t *testing.T) {
			if validate(t, tc.yaml) == nil {
				t.Error("schema accepts an invalid manifest")
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(head + ep))
	for _, name := range []string{"readme.yaml", "full.yaml", "seed.yaml"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, tc := range invalidCases()[:10] {
		f.Add([]byte(tc.yaml))
	}
	f.Add([]byte("endpoints: [{path: '/a/:x'}, {path: '/a/*y'}, ~]\nhealth: {interval_seconds: 1e30}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		md, _, err := Parse(data)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || len(e.Problems) == 0 {
				t.Fatalf("error %v is not an *Error with problems", err)
			}
			return
		}
		if md == nil || md.ID == "" {
			t.Fatalf("no error but metadata %+v", md)
		}
	})
}

// assertProblems checks that got holds exactly the fields in want, one
// problem each, and that each message contains the wanted fragment.
func assertProblems(t *testing.T, kind string, got []Problem, want map[string]string) {
	t.Helper()
	seen := map[string]bool{}
	for _, p := range got {
		frag, ok := want[p.Field]
		switch {
		case !ok:
			t.Errorf("unexpected %s %q", kind, p)
		case seen[p.Field]:
			t.Errorf("second %s for %q: %q", kind, p.Field, p)
		case !strings.Contains(p.Message, frag):
			t.Errorf("%s %q does not contain %q", kind, p, frag)
		}
		seen[p.Field] = true
	}
	for f := range want {
		if !seen[f] {
			t.Errorf("missing %s for field %q; got %s", kind, f, mustJSON(got))
		}
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func fixture(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
