package host

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	apiv1 "github.com/kubestellar/ksplugins/api/v1"

	"github.com/gin-gonic/gin"

	"github.com/kubestellar/ksplugins/internal/build"
	"github.com/kubestellar/ksplugins/internal/runtime"
	"github.com/kubestellar/ksplugins/internal/store"
	"github.com/kubestellar/ksplugins/sdk"
)

// depPlugin is a testPlugin at a version of its own that depends on
// other plugins.
type depPlugin struct {
	*testPlugin
	version  string
	requires []sdk.PluginDependency
	// started, when set, records the plugin's id at OnLoad.
	started func(id string)
}

func (p *depPlugin) GetMetadata() sdk.PluginMetadata {
	md := p.testPlugin.GetMetadata()
	md.Version, md.PluginDependencies = p.version, p.requires
	return md
}

func (p *depPlugin) OnLoad() error {
	if p.started != nil {
		p.started(p.id)
	}
	return p.testPlugin.OnLoad()
}

func needs(id, version string, requires ...string) *depPlugin {
	p := &depPlugin{testPlugin: &testPlugin{id: id, reply: id + " " + version}, version: version}
	for _, r := range requires {
		plugin, rng, _ := strings.Cut(r, "@")
		p.requires = append(p.requires, sdk.PluginDependency{Plugin: plugin, Version: rng})
	}
	return p
}

func dependencyErr(t *testing.T, err error, reason DependencyReason) *DependencyError {
	t.Helper()
	derr, ok := errors.AsType[*DependencyError](err)
	if !ok || derr.Reason != reason {
		t.Fatalf("error = %v, want a %s DependencyError", err, reason)
	}
	return derr
}

func TestInstallChecksDependencies(t *testing.T) {
	tests := []struct {
		name    string
		plugin  *depPlugin
		reason  DependencyReason // "" for a successful install
		message string
	}{
		{"in range", needs("app", "1.0.0", "inventory@>=1.2 <2"), "", ""},
		{"any version", needs("app", "1.0.0", "inventory"), "", ""},
		{"missing", needs("app", "1.0.0", "inventory@>=1.2 <2", "audit@^1"), DependencyMissing,
			"install app: it depends on plugin audit (^1), which is not installed"},
		{"out of range", needs("app", "1.0.0", "inventory@>=2"), DependencyVersion,
			"install app: it depends on plugin inventory >=2, but inventory 1.5.0 is installed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newTestHost(t)
			add(t, h, needs("inventory", "1.5.0"))
			_, err := addErr(h, tt.plugin)
			if tt.reason == "" {
				if err != nil {
					t.Fatalf("install: %v", err)
				}
				info, _ := h.Get("app")
				if info.State != apiv1.StateActive || len(info.Dependencies) != 1 || !info.Dependencies[0].Satisfied || info.Dependencies[0].Installed != "1.5.0" {
					t.Errorf("app: state %s, dependencies %+v", info.State, info.Dependencies)
				}
				if inv, _ := h.Get("inventory"); !slices.Equal(inv.Dependants, []string{"app"}) {
					t.Errorf("inventory's dependants = %v, want [app]", inv.Dependants)
				}
				return
			}
			dependencyErr(t, err, tt.reason)
			if !strings.Contains(err.Error(), tt.message) {
				t.Errorf("error = %q, want it to say %q", err, tt.message)
			}
			if _, gerr := h.Get(tt.plugin.id); !errors.Is(gerr, ErrNotFound) {
				t.Errorf("a refused install left the plugin registered: %v", gerr)
			}
			if n, _ := h.store.Plugins(context.Background()); len(n) != 1 {
				t.Errorf("a refused install left a record: %d records", len(n))
			}
		})
	}
}

// TestCycleRefused closes a cycle the only way the host lets one come
// near: a dependency forced out and installed again depending on its
// dependant.
func TestCycleRefused(t *testing.T) {
	ctx := context.Background()
	h := newTestHost(t)
	add(t, h, needs("inventory", "1.5.0"))
	add(t, h, needs("app", "1.0.0", "inventory@^1"))
	if err := h.ForceUnload(ctx, "inventory"); err != nil {
		t.Fatal(err)
	}
	_, err := addErr(h, needs("inventory", "1.6.0", "app"))
	derr := dependencyErr(t, err, DependencyCycle)
	if got := strings.Join(derr.Cycle, " -> "); got != "inventory -> app -> inventory" {
		t.Errorf("cycle = %s", got)
	}
	if !strings.Contains(err.Error(), "would form a cycle: inventory -> app -> inventory") {
		t.Errorf("error = %v", err)
	}
}

func TestDependantsHoldTheirDependency(t *testing.T) {
	ctx := context.Background()
	h := newTestHost(t)
	add(t, h, needs("inventory", "1.5.0"))
	add(t, h, needs("app", "1.0.0", "inventory@^1"))
	add(t, h, needs("report", "1.0.0", "inventory"))

	err := h.Unload(ctx, "inventory")
	derr := dependencyErr(t, err, HasDependants)
	if !slices.Equal(derr.Dependants, []string{"app", "report"}) || !strings.Contains(err.Error(), "app, report depend on it") {
		t.Errorf("refused unload: %v (dependants %v)", err, derr.Dependants)
	}
	_, err = h.SetEnabled(ctx, "inventory", false)
	dependencyErr(t, err, HasDependants)
	if info, _ := h.Get("inventory"); info.State != apiv1.StateActive {
		t.Fatalf("a refused disable changed the state: %s", info.State)
	}

	// A forced disable degrades the dependants, which still serve; enabling
	// the dependency brings them back.
	if _, err := h.ForceDisable(ctx, "inventory"); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"app", "report"} {
		info, _ := h.Get(id)
		if info.State != apiv1.StateDegraded || !strings.Contains(info.LastError, "dependency inventory") || !strings.Contains(info.LastError, "disabled") {
			t.Errorf("%s after a forced disable: state %s, last error %q", id, info.State, info.LastError)
		}
		if r := serve(h, "GET", id, "/hello"); r.status != 200 {
			t.Errorf("degraded %s does not serve: %+v", id, r)
		}
	}
	if _, err := h.SetEnabled(ctx, "inventory", true); err != nil {
		t.Fatal(err)
	}
	if info, _ := h.Get("app"); info.State != apiv1.StateActive || info.LastError != "" {
		t.Errorf("app after the dependency is enabled again: %s %q", info.State, info.LastError)
	}

	// A forced unload too; an install of a version out of range leaves
	// the dependant degraded, one in range brings it back.
	if err := h.ForceUnload(ctx, "inventory"); err != nil {
		t.Fatal(err)
	}
	info, _ := h.Get("app")
	if info.State != apiv1.StateDegraded || !strings.Contains(info.LastError, "not installed") || info.Dependencies[0].Satisfied {
		t.Fatalf("app after a forced unload: %s %q %+v", info.State, info.LastError, info.Dependencies)
	}
	add(t, h, needs("inventory", "2.0.0"))
	if info, _ := h.Get("app"); info.State != apiv1.StateDegraded || !strings.Contains(info.LastError, "2.0.0 is not in range ^1") {
		t.Errorf("app with inventory 2.0.0: %s %q", info.State, info.LastError)
	}
	if info, _ := h.Get("report"); info.State != apiv1.StateActive {
		t.Errorf("report, which takes any version: %s %q", info.State, info.LastError)
	}
	if err := h.ForceUnload(ctx, "inventory"); err != nil {
		t.Fatal(err)
	}
	add(t, h, needs("inventory", "1.9.0"))
	if info, _ := h.Get("app"); info.State != apiv1.StateActive || info.LastError != "" || !info.Dependencies[0].Satisfied {
		t.Errorf("app once inventory 1.9.0 is back: %s %q %+v", info.State, info.LastError, info.Dependencies)
	}

	// Disabled dependants still hold their dependency; once they are gone
	// it is free to go.
	for _, id := range []string{"app", "report"} {
		if err := h.Unload(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.Unload(ctx, "inventory"); err != nil {
		t.Errorf("unload without dependants: %v", err)
	}
}

// depRuntime opens artifacts of the fake tier whose content is
// "version requires...", each require "id@range", and records the order
// in which their plugins start.
type depRuntime struct {
	mu      sync.Mutex
	started []string
}

func (r *depRuntime) Tier() apiv1.Tier { return fakeTier }

func (r *depRuntime) Open(_ context.Context, a apiv1.Artifact, _ runtime.Spec) (runtime.Instance, error) {
	content, err := os.ReadFile(a.Path)
	if err != nil {
		return nil, err
	}
	fields := strings.Fields(string(content))
	p := needs(strings.TrimSuffix(filepath.Base(a.Path), ".bin"), fields[0], fields[1:]...)
	p.started = func(id string) {
		r.mu.Lock()
		r.started = append(r.started, id)
		r.mu.Unlock()
	}
	return depInstance{p}, nil
}

type depInstance struct{ p *depPlugin }

func (in depInstance) Plugin() sdk.KubestellarPlugin { return in.p }
func (depInstance) Close(context.Context) error      { return nil }

func (r *depRuntime) order() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.started)
}

// storeDepPlugins records a depRuntime artifact for each id, whose
// content is "version requires...", as another server would have.
func storeDepPlugins(t *testing.T, h *Host, plugins map[string]string) {
	t.Helper()
	dir := t.TempDir()
	for id, content := range plugins {
		path := filepath.Join(dir, id+".bin")
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		digest, err := build.FileDigest(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := h.store.PutPlugin(context.Background(), store.Plugin{ID: id, SourceKind: string(apiv1.SourceFile), SourceLocation: path,
			Tier: string(fakeTier), ArtifactPath: path, ArtifactDigest: digest, Enabled: true}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestAdoptOrder: a replica that follows plugins another server installed
// starts each after the plugins it depends on, though it adopts them in
// the order of their ids.
func TestAdoptOrder(t *testing.T) {
	rt := &depRuntime{}
	h := newTestHost(t, func(o *Options) { o.Runtimes = []runtime.Runtime{rt} })
	storeDepPlugins(t, h, map[string]string{"a-app": "1.0.0 z-base@^1", "z-base": "1.2.0"})
	if err := h.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitState(t, h, "a-app", apiv1.StateActive)
	waitState(t, h, "z-base", apiv1.StateActive)
	if order := rt.order(); !slices.Equal(order, []string{"z-base", "a-app"}) {
		t.Errorf("start order = %v, want z-base first", order)
	}
}

// TestRestoreOrder restores plugins that depend on each other, stored in
// an order that is not theirs: each starts after what it depends on.
func TestRestoreOrder(t *testing.T) {
	ctx := context.Background()
	rt := &depRuntime{}
	h := newTestHost(t, func(o *Options) { o.Runtimes = []runtime.Runtime{rt} })
	storeDepPlugins(t, h, map[string]string{
		"a-app":    "1.0.0 m-mid@^1 z-base",
		"m-mid":    "1.1.0 z-base@>=1",
		"z-base":   "1.0.0",
		"b-other":  "1.0.0",
		"c-orphan": "1.0.0 gone",
	})
	if _, err := h.Restore(ctx); err != nil {
		t.Fatal(err)
	}
	<-h.Restored()
	order := rt.order()
	pos := func(id string) int { return slices.Index(order, id) }
	if len(order) != 5 || pos("z-base") > pos("m-mid") || pos("m-mid") > pos("a-app") {
		t.Errorf("start order = %v, want z-base before m-mid before a-app", order)
	}
	if info, _ := h.Get("a-app"); info.State != apiv1.StateActive {
		t.Errorf("a-app: %s %q", info.State, info.LastError)
	}
	// What depends on a plugin that is not there comes back degraded.
	if info, _ := h.Get("c-orphan"); info.State != apiv1.StateDegraded || !strings.Contains(info.LastError, "dependency gone (any version) is not installed") {
		t.Errorf("c-orphan: %s %q", info.State, info.LastError)
	}
}

// routePlugin is a depPlugin with one more endpoint: handler, named name,
// at GET path.
type routePlugin struct {
	*depPlugin
	name, path string
	handler    gin.HandlerFunc
}

func (p *routePlugin) GetMetadata() sdk.PluginMetadata {
	md := p.depPlugin.GetMetadata()
	md.Endpoints = append(md.Endpoints, sdk.EndpointConfig{Path: p.path, Method: "GET", Handler: p.name})
	return md
}

func (p *routePlugin) GetHandlers() map[string]gin.HandlerFunc {
	hs := p.depPlugin.GetHandlers()
	hs[p.name] = p.handler
	return hs
}

// callingPlugin calls, at GET /call/:id/*path, the plugin id through its
// PluginCaller and answers what it got.
type callingPlugin struct {
	*routePlugin
	calls sdk.PluginCaller
}

func calling(d *depPlugin) *callingPlugin {
	p := &callingPlugin{}
	p.routePlugin = &routePlugin{depPlugin: d, name: "Call", path: "/call/:id/*path", handler: func(c *gin.Context) {
		res, err := p.calls.CallPlugin(c.Request.Context(), c.Param("id"), "GET", c.Param("path"), nil)
		if err != nil {
			c.String(http.StatusBadGateway, err.Error())
			return
		}
		body, _ := io.ReadAll(res.Body)
		c.String(res.StatusCode, "%s|%s", body, res.Header.Get("X-Seen-Caller"))
	}}
	return p
}

func (p *callingPlugin) SetPluginCaller(c sdk.PluginCaller) { p.calls = c }

// who answers at /who which plugin called it.
func who(d *depPlugin) *routePlugin {
	return &routePlugin{depPlugin: d, name: "Who", path: "/who", handler: func(c *gin.Context) {
		c.Header("X-Seen-Caller", c.GetHeader(sdk.CallerPluginHeader))
		c.String(http.StatusOK, "who")
	}}
}

func TestCallPlugin(t *testing.T) {
	ctx := context.Background()
	h := newTestHost(t)
	add(t, h, who(needs("inventory", "1.5.0")))
	add(t, h, needs("other", "1.0.0"))
	add(t, h, calling(needs("app", "1.0.0", "inventory@^1")))

	tests := []struct {
		name, path string
		status     int
		body       string
	}{
		{"declared", "/call/inventory/who", 200, "who|app"},
		{"declared, the dependency's own 404", "/call/inventory/nowhere", 404, "plugin inventory has no endpoint /nowhere"},
		{"undeclared", "/call/other/hello", 502, "plugin app calls plugin other: not a declared dependency: add {plugin: other}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := serve(h, "GET", "app", tt.path)
			if r.status != tt.status || !strings.Contains(r.body, tt.body) {
				t.Errorf("GET %s = %d %q, want %d with %q", tt.path, r.status, r.body, tt.status, tt.body)
			}
		})
	}
	if _, err := h.ForceDisable(ctx, "inventory"); err != nil {
		t.Fatal(err)
	}
	if r := serve(h, "GET", "app", "/call/inventory/who"); r.status != 502 || !strings.Contains(r.body, "dependency unavailable: disabled") {
		t.Errorf("call to a disabled dependency = %d %q", r.status, r.body)
	}
}

// TestCallDepth refuses a call at the end of a chain of maxCallDepth calls
// and makes one just short of it.
func TestCallDepth(t *testing.T) {
	h := newTestHost(t)
	add(t, h, who(needs("inventory", "1.5.0")))
	app := needs("app", "1.0.0", "inventory@^1")
	add(t, h, app)
	c := pluginCaller{h: h, from: "app", declared: app.GetMetadata().PluginDependencies}
	for _, tt := range []struct {
		depth int
		err   error
	}{{0, nil}, {maxCallDepth - 1, nil}, {maxCallDepth, ErrCallDepth}} {
		ctx := context.WithValue(context.Background(), callDepthKey{}, tt.depth)
		res, err := c.CallPlugin(ctx, "inventory", "GET", "/who", nil)
		if !errors.Is(err, tt.err) {
			t.Errorf("a call after %d calls: %v, want %v", tt.depth, err, tt.err)
		}
		if err == nil && res.StatusCode != http.StatusOK {
			t.Errorf("a call after %d calls answered %d", tt.depth, res.StatusCode)
		}
	}
}
