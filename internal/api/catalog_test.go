package api

import (
	"strings"
	"testing"

	"github.com/kubestellar/ksplugins/internal/auth"
)

func TestCatalogRequests(t *testing.T) {
	s, h := newServer(t)
	admin, viewer := "Bearer "+token, "Bearer "+roleToken(t, s, auth.Viewer)
	const key = "ed25519:11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
	tests := []struct {
		name, auth, method, path, body string
		status                         int
		code, contains                 string
	}{
		{"empty list", viewer, "GET", "/api/plugins/catalog", "", 200, "", `"entries":[],"total":0,"page":1,"per_page":20,"categories":[],"catalogs":[]`},
		{"bad tier", viewer, "GET", "/api/plugins/catalog?tier=fast", "", 400, "invalid_request", "tier:"},
		{"bad page", viewer, "GET", "/api/plugins/catalog?page=0", "", 400, "invalid_request", "page:"},
		{"pages too long", viewer, "GET", "/api/plugins/catalog?per_page=1000", "", 400, "invalid_request", "per_page:"},
		{"unknown entry", viewer, "GET", "/api/plugins/catalog/ghost", "", 404, "not_found", "ghost"},
		{"refresh is a route, not an id", viewer, "POST", "/api/plugins/catalog/refresh", "", 403, "forbidden", "catalog-refresh"},
		{"viewer install", viewer, "POST", "/api/plugins/catalog/ghost/install", "", 403, "forbidden", "admin"},
		{"install unknown", admin, "POST", "/api/plugins/catalog/ghost/install", "", 404, "not_found", ""},
		{"install unknown field", admin, "POST", "/api/plugins/catalog/ghost/install", `{"versoin": "1"}`, 400, "invalid_request", "versoin"},
		{"update unknown", admin, "POST", "/api/plugins/catalog/ghost/update", `{"version": ""}`, 404, "not_found", ""},
		{"refresh nothing", admin, "POST", "/api/plugins/catalog/refresh", "", 200, "", `{"catalogs":[]}`},
		{"catalog without keys", admin, "PUT", "/api/plugins/system/configuration",
			`{"catalogs": [{"name": "main", "location": "https://github.com/example/catalog", "keys": []}]}`, 400, "invalid_configuration", "catalogs[0].keys"},
		{"catalog with a bad key", admin, "PUT", "/api/plugins/system/configuration",
			`{"catalogs": [{"name": "main", "location": "https://github.com/example/catalog", "keys": ["ed25519:short"]}]}`, 400, "invalid_configuration", "catalogs[0].keys[0]"},
		{"catalog over plain http", admin, "PUT", "/api/plugins/system/configuration",
			`{"catalogs": [{"name": "main", "location": "http://example.com/catalog.yaml", "keys": ["` + key + `"]}]}`, 400, "invalid_configuration", "catalogs[0].location"},
		{"two catalogs of one name", admin, "PUT", "/api/plugins/system/configuration",
			`{"catalogs": [{"name": "main", "location": "https://github.com/a/b", "keys": ["` + key + `"]}, {"name": "main", "location": "https://github.com/c/d", "keys": ["` + key + `"]}]}`, 400, "invalid_configuration", "catalogs[1].name"},
		{"a catalog", admin, "PUT", "/api/plugins/system/configuration",
			`{"catalogs": [{"name": "main", "location": "https://example.com/plugins/catalog.yaml", "keys": ["` + key + `"]}]}`, 200, "", `"catalogs":[{"name":"main"`},
		{"its status before a read", viewer, "GET", "/api/plugins/catalog", "", 200, "", `"catalogs":[{"name":"main","location":"https://example.com/plugins/catalog.yaml","ref":"","entries":0,"error":""}]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := do(h, tt.method, tt.path, tt.body, tt.auth)
			if r.status != tt.status || r.code() != tt.code || !strings.Contains(r.raw, tt.contains) {
				t.Fatalf("got %d %s; want %d %q containing %q", r.status, r.raw, tt.status, tt.code, tt.contains)
			}
		})
	}
}
