package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/kubestellar/ksplugins"
	"github.com/kubestellar/ksplugins/internal/auth"
	"github.com/kubestellar/ksplugins/internal/build"
	"github.com/kubestellar/ksplugins/internal/config"
	"github.com/kubestellar/ksplugins/internal/events"
	"github.com/kubestellar/ksplugins/internal/host"
	"github.com/kubestellar/ksplugins/internal/source"
	"github.com/kubestellar/ksplugins/internal/store/sqlite"
	"github.com/kubestellar/ksplugins/internal/toolchain"
)

const token = "test-token"

// roleToken makes a token with role on s and returns its secret.
func roleToken(t *testing.T, s *Server, role string) string {
	t.Helper()
	secret, tok, err := auth.NewToken(role+"-token", role, 0, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.store.PutToken(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	return secret
}

func newServer(t *testing.T) (*Server, http.Handler) {
	t.Helper()
	gin.SetMode(gin.TestMode)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "test.db"))
	if err != nil {
		t.Fatal(err)
	}
	bus := events.NewBus(events.Options{Logger: log})
	target, err := toolchain.Host()
	if err != nil {
		t.Fatal(err)
	}
	b, err := build.New(build.Options{CacheDir: t.TempDir(), SDK: ksplugins.SDKSource(), Target: target, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	sources, err := source.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	h := host.New(host.Options{Store: db, Events: bus, Builder: b, Sources: sources, Logger: log})
	t.Cleanup(func() {
		h.Close(context.Background())
		db.Close()
	})
	authn := auth.NewAuthenticator(token, db)
	s, err := New(Options{Host: h, Store: db, Events: bus, Auth: authn, System: config.DefaultSystem(), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	return s, s.Handler()
}

type result struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func (r result) code() string {
	e, _ := r.body["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

func do(h http.Handler, method, path, body, auth string) result {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	r := result{status: rec.Code, header: rec.Header(), raw: rec.Body.String()}
	_ = json.Unmarshal(rec.Body.Bytes(), &r.body)
	return r
}

// TestEveryManagementRouteNeedsToken walks the registered routes, so a route
// added without authentication fails here.
func TestEveryManagementRouteNeedsToken(t *testing.T) {
	s, h := newServer(t)
	roleTokens := map[string]string{auth.Viewer: roleToken(t, s, auth.Viewer), auth.Operator: roleToken(t, s, auth.Operator)}
	routes := h.(*gin.Engine).Routes()
	var checked int
	for _, rt := range routes {
		if !strings.HasPrefix(rt.Path, "/api/plugins") {
			continue
		}
		path := strings.NewReplacer(":id", "some-plugin").Replace(rt.Path)
		for _, auth := range []string{"", "Bearer wrong", "Basic " + token, "Bearer"} {
			if r := do(h, rt.Method, path, "{}", auth); r.status != 401 || r.code() != "unauthorized" {
				t.Errorf("%s %s with %q: got %d %s; want 401", rt.Method, rt.Path, auth, r.status, r.raw)
			}
		}
		checked++
	}
	if checked < 12 {
		t.Fatalf("checked %d management routes; the seed's API has at least 12", checked)
	}
	// Every route refuses a role below the one it needs, naming it.
	roles := map[string]string{}
	for _, rt := range (&Server{}).routes() {
		roles[rt.method+" /api/plugins"+rt.path] = rt.role
	}
	var forbidden int
	for _, rt := range routes {
		need, ok := roles[rt.Method+" "+rt.Path]
		if !ok {
			continue
		}
		path := strings.NewReplacer(":id", "some-plugin", ":op", "op-1", ":name", "someone").Replace(rt.Path)
		if strings.HasSuffix(path, "/events") {
			path += "?since=0" // the list, not the endless stream
		}
		for _, role := range []string{auth.Viewer, auth.Operator} {
			r := do(h, rt.Method, path, "{}", "Bearer "+roleTokens[role])
			if auth.Allows(role, need) {
				if r.status == 401 || r.status == 403 {
					t.Errorf("%s %s as %s: got %d; the role suffices", rt.Method, rt.Path, role, r.status)
				}
				continue
			}
			forbidden++
			if r.status != 403 || r.code() != "forbidden" || !strings.Contains(r.raw, "needs the "+need+" role") {
				t.Errorf("%s %s as %s: got %d %s; want 403 naming %s", rt.Method, rt.Path, role, r.status, r.raw, need)
			}
		}
	}
	if forbidden < 20 {
		t.Fatalf("only %d role refusals checked", forbidden)
	}
	// Plugin endpoints are the plugins' own business.
	if r := do(h, "GET", "/api/plugin-endpoints/ghost/x", "", ""); r.status != 404 || r.code() != "plugin_not_found" {
		t.Fatalf("plugin endpoint without token: %d %s", r.status, r.raw)
	}
}

func TestRequests(t *testing.T) {
	_, h := newServer(t)
	bearer := "Bearer " + token
	tests := []struct {
		name, method, path, body string
		status                   int
		code, contains           string
	}{
		{"list empty", "GET", "/api/plugins", "", 200, "", `"count":0`},
		{"unknown plugin", "GET", "/api/plugins/ghost", "", 404, "plugin_not_found", ""},
		{"unload unknown", "DELETE", "/api/plugins/ghost", "", 404, "plugin_not_found", ""},
		{"reload unknown", "POST", "/api/plugins/ghost/reload", "", 404, "plugin_not_found", ""},
		{"enable unknown", "POST", "/api/plugins/ghost/enable", "", 404, "plugin_not_found", ""},
		{"status unknown", "GET", "/api/plugins/ghost/status", "", 404, "plugin_not_found", ""},
		{"load empty body", "POST", "/api/plugins/load", "", 400, "invalid_request", "body is empty"},
		{"load bad JSON", "POST", "/api/plugins/load", "{", 400, "invalid_request", "invalid JSON"},
		{"load source not a string", "POST", "/api/plugins/load", `{"source": 7}`, 400, "invalid_request", "source: must be a string"},
		{"load no source", "POST", "/api/plugins/load", `{}`, 400, "invalid_source", "source: is required"},
		{"load missing path", "POST", "/api/plugins/load", `{"source": "/no/such/folder"}`, 400, "invalid_source", "no such file"},
		{"load URL not allowed", "POST", "/api/plugins/load", `{"source": "https://github.com/x/y"}`, 403, "policy_refused", "allowed_repos"},
		{"load URL with credentials", "POST", "/api/plugins/load", `{"source": "https://u:p@github.com/kubestellar/y"}`, 400, "invalid_source", "credentials"},
		{"upload not multipart", "POST", "/api/plugins/upload", `{}`, 400, "invalid_request", "multipart"},
		{"unknown operation", "GET", "/api/plugins/operations/op-nope", "", 404, "operation_not_found", ""},
		{"cache info", "GET", "/api/plugins/cache/info", "", 200, "", `"entries"`},
		{"update unknown", "POST", "/api/plugins/ghost/update", `{"version": "v2"}`, 404, "plugin_not_found", ""},
		{"load not a plugin", "POST", "/api/plugins/load", `{"source": "."}`, 400, "invalid_source", "no plugin.yaml"},
		{"schema", "GET", "/api/plugins/manifest-schema", "", 200, "", `"$schema"`},
		{"metrics", "GET", "/api/plugins/system/metrics", "", 200, "", `"goroutines"`},
		{"configuration", "GET", "/api/plugins/system/configuration", "", 200, "", `"security_mode":"normal"`},
		{"health summary", "GET", "/api/plugins/health/summary", "", 200, "", `"counts"`},
		{"events list", "GET", "/api/plugins/events?since=0", "", 200, "", `"last_id"`},
		{"events bad since", "GET", "/api/plugins/events?since=yesterday", "", 400, "invalid_request", "since:"},
		{"plugin configuration unknown", "GET", "/api/plugins/ghost/configuration", "", 404, "plugin_not_found", ""},
		{"put plugin configuration unknown", "PUT", "/api/plugins/ghost/configuration", `{"a": 1}`, 404, "plugin_not_found", ""},
		{"put plugin configuration not an object", "PUT", "/api/plugins/ghost/configuration", `[1]`, 400, "invalid_request", "must be an object"},
		{"unknown route", "GET", "/api/nothing", "", 404, "not_found", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := do(h, tt.method, tt.path, tt.body, bearer)
			if r.status != tt.status || r.code() != tt.code || !strings.Contains(r.raw, tt.contains) {
				t.Fatalf("got %d %s; want %d %q containing %q", r.status, r.raw, tt.status, tt.code, tt.contains)
			}
		})
	}
}

func TestConfiguration(t *testing.T) {
	s, h := newServer(t)
	bearer := "Bearer " + token
	jwt := config.JWTConfig{JWKSFile: "keys.json", Audience: "ksplugins"}
	live := jwt
	s.mu.Lock()
	s.sys.JWT = &live
	s.mu.Unlock()
	before := s.system()

	r := do(h, "PUT", "/api/plugins/system/configuration", `{"security_mode": "lax", "health": {"interval_seconds": 0}, "jwt": {"audience": "other"}, "allowed_repos": ["example.com/*"]}`, bearer)
	if r.status != 400 || r.code() != "invalid_configuration" || !strings.Contains(r.raw, "security_mode") || !strings.Contains(r.raw, "health.interval_seconds") {
		t.Fatalf("invalid PUT: %d %s", r.status, r.raw)
	}
	r = do(h, "PUT", "/api/plugins/system/configuration", `{"no_such_field": 1}`, bearer)
	if r.status != 400 || !strings.Contains(r.raw, "no_such_field") {
		t.Fatalf("unknown field: %d %s", r.status, r.raw)
	}
	r = do(h, "PUT", "/api/plugins/system/configuration", `{"max_plugin_size": "big"}`, bearer)
	if r.status != 400 || !strings.Contains(r.raw, "max_plugin_size: must be a number") {
		t.Fatalf("wrong type: %d %s", r.status, r.raw)
	}
	if got := s.system(); !reflect.DeepEqual(got, before) || *got.JWT != jwt {
		t.Fatalf("a refused PUT changed the configuration: %+v, jwt %+v", got, got.JWT)
	}
	// No keys.json exists: a PUT keeping this JWT configuration is refused.
	s.mu.Lock()
	s.sys.JWT = nil
	s.mu.Unlock()

	r = do(h, "PUT", "/api/plugins/system/configuration", `{"security_mode": "strict", "debug": true}`, bearer)
	if r.status != 200 || r.body["security_mode"] != "strict" {
		t.Fatalf("valid PUT: %d %s", r.status, r.raw)
	}
	got := s.system()
	if got.SecurityMode != "strict" || !got.Debug || got.MaxPluginSize != before.MaxPluginSize {
		t.Fatalf("after PUT: %+v", got)
	}
	if s.level.Level() != slog.LevelDebug {
		t.Fatal("debug: true did not turn on debug logging")
	}
	stored, err := s.store.Setting(context.Background(), SystemSetting)
	if err != nil || !strings.Contains(string(stored), `"security_mode":"strict"`) {
		t.Fatalf("configuration not stored: %s %v", stored, err)
	}
	var back config.System
	if err := json.Unmarshal(stored, &back); err != nil || !reflect.DeepEqual(back, got) {
		t.Fatalf("the stored configuration reads back as %+v (%v); want %+v", back, err, got)
	}
	if e := s.events.Since(0); len(e) != 1 || e[0].Type != events.ConfigChanged {
		t.Fatalf("events after PUT: %+v", e)
	}
	r = do(h, "GET", "/api/plugins/system/configuration", "", bearer)
	if r.body["security_mode"] != "strict" {
		t.Fatalf("GET after PUT: %s", r.raw)
	}
}

func TestConfigurationKubernetes(t *testing.T) {
	s, h := newServer(t)
	bearer := "Bearer " + token
	put := func(body string) result {
		return do(h, "PUT", "/api/plugins/system/configuration", body, bearer)
	}
	rule := `{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}`
	if r := put(`{"kubernetes": {"allowed_contexts": ["its1"], "granted": {"cm": {"contexts": ["its1"], "rules": [` + rule + `]}, "other": {"external_clusters": true}}}}`); r.status != 200 {
		t.Fatalf("PUT grants: %d %s", r.status, r.raw)
	}
	before := s.system()
	if len(before.Kubernetes.Granted) != 2 || !before.Kubernetes.Granted["other"].ExternalClusters {
		t.Fatalf("granted after PUT: %+v", before.Kubernetes.Granted)
	}

	r := put(`{"kubernetes": {"granted": {"cm": {"rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["escalate"]}]}, "Bad": {}}}}`)
	if r.status != 400 || !strings.Contains(r.raw, "kubernetes.granted.cm.rules[0].verbs[0]") || !strings.Contains(r.raw, "kubernetes.granted.Bad") {
		t.Fatalf("invalid grant: %d %s", r.status, r.raw)
	}
	if got := s.system(); !reflect.DeepEqual(got, before) {
		t.Fatalf("a refused PUT changed the grants: %+v; want %+v", got.Kubernetes, before.Kubernetes)
	}

	// Entries merge by plugin id; null removes one; allowed_contexts, not
	// sent, is kept.
	if r := put(`{"kubernetes": {"granted": {"other": null, "new": {"contexts": ["wds1"]}}}}`); r.status != 200 {
		t.Fatalf("PUT merge: %d %s", r.status, r.raw)
	}
	k := s.system().Kubernetes
	if _, ok := k.Granted["other"]; ok || k.Granted["cm"] == nil || len(k.Granted["cm"].Rules) != 1 || k.Granted["new"] == nil {
		t.Fatalf("granted after merge: %+v", k.Granted)
	}
	if len(k.AllowedContexts) != 1 || k.AllowedContexts[0] != "its1" {
		t.Fatalf("allowed_contexts after a PUT that did not send it: %v", k.AllowedContexts)
	}
}

func TestTokensAndAudit(t *testing.T) {
	s, h := newServer(t)
	admin := "Bearer " + token
	r := do(h, "POST", "/api/plugins/tokens", `{"name": "ci", "role": "operator", "ttl": "1h"}`, admin)
	secret, _ := r.body["secret"].(string)
	if r.status != 201 || !strings.HasPrefix(secret, "ksp_") {
		t.Fatalf("create token: %d %s", r.status, r.raw)
	}
	if r := do(h, "POST", "/api/plugins/tokens", `{"name": "ci", "role": "operator"}`, admin); r.status != 409 {
		t.Fatalf("duplicate name: %d %s", r.status, r.raw)
	}
	if r := do(h, "POST", "/api/plugins/tokens", `{"name": "x", "role": "root"}`, admin); r.status != 400 || !strings.Contains(r.raw, "role") {
		t.Fatalf("bad role: %d %s", r.status, r.raw)
	}
	if r := do(h, "GET", "/api/plugins/whoami", "", "Bearer "+secret); r.body["name"] != "ci" || r.body["role"] != "operator" {
		t.Fatalf("whoami: %s", r.raw)
	}
	if r := do(h, "GET", "/api/plugins/tokens", "", admin); strings.Contains(r.raw, secret) || !strings.Contains(r.raw, `"ci"`) {
		t.Fatalf("token list must not show secrets: %s", r.raw)
	}
	if r := do(h, "DELETE", "/api/plugins/tokens/ci", "", admin); r.status != 200 {
		t.Fatalf("revoke: %d %s", r.status, r.raw)
	}
	if r := do(h, "GET", "/api/plugins/whoami", "", "Bearer "+secret); r.status != 401 || !strings.Contains(r.raw, "revoked") {
		t.Fatalf("revoked token: %d %s", r.status, r.raw)
	}
	// An operator tries an admin action: denied, and audited.
	operator := roleToken(t, s, auth.Operator)
	do(h, "DELETE", "/api/plugins/some-plugin", "", "Bearer "+operator)
	r = do(h, "GET", "/api/plugins/audit", "", admin)
	entries, _ := r.body["entries"].([]any)
	var seen []string
	for _, e := range entries {
		m := e.(map[string]any)
		seen = append(seen, fmt.Sprintf("%s %s %s", m["actor"], m["action"], m["result"]))
	}
	want := "admin token-create ok,admin token-create error,admin token-create error,admin token-revoke ok,operator-token unload denied"
	if strings.Join(seen, ",") != want {
		t.Fatalf("audit:\n got %s\nwant %s", strings.Join(seen, ","), want)
	}
	if r := do(h, "GET", "/api/plugins/audit", "", "Bearer "+operator); r.status != 403 {
		t.Fatalf("the audit log is for admins: %d", r.status)
	}
}
