// Package sdktest lets a plugin's own tests call its handlers the way the
// host would, without starting a server or building a shared object.
//
// A plugin's unit tests otherwise have to guess at what the host does
// around a handler: which configuration Initialize sees, that
// ValidateRequest runs before each handler, what a panic turns into, which path
// parameters exist. Getting any of that wrong gives tests that pass while
// the loaded plugin fails. A [Harness] reproduces those parts of the host:
//
//	func TestHello(t *testing.T) {
//		h := sdktest.New(t, NewPlugin(), sdktest.WithManifest("plugin.yaml"))
//		code, body := h.JSON("GET", "/hello", nil)
//		if code != 200 || body["message"] != "Hello from plugin!" {
//			t.Fatalf("GET /hello = %d %v", code, body)
//		}
//	}
//
// What it leaves out is what belongs to the operator rather than the
// plugin: authentication, rate limits, body size limits, health checks and
// call timeouts.
package sdktest

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"sigs.k8s.io/yaml"

	"github.com/kubestellar/ksplugins/sdk"
	"github.com/kubestellar/ksplugins/sdk/router"
)

func init() {
	// gin's debug mode prints every route and a warning per harness; that
	// drowns a plugin's test output. An explicit GIN_MODE still wins.
	if os.Getenv(gin.EnvGinMode) == "" {
		gin.SetMode(gin.TestMode)
	}
}

// Harness drives one plugin instance through the host's lifecycle order, so
// that a test exercises the plugin as it will run once loaded: configured,
// validated, routed by its declared endpoints, and shut down at the end of
// the test.
//
// A Harness is safe for concurrent use by parallel subtests, as long as the
// plugin's handlers are, which the host requires of them anyway.
type Harness struct {
	t      testing.TB
	plugin sdk.KubestellarPlugin
	engine *gin.Engine
}

// Option changes how [New] starts the plugin, for the few things the host
// takes from outside the plugin's code.
type Option func(*options)

type options struct {
	config   map[string]any
	manifest string
}

// WithConfig sets configuration values over the defaults the plugin
// declares, as an operator's PUT /configuration would, so a test can cover
// a setting without editing the manifest.
func WithConfig(cfg map[string]any) Option {
	return func(o *options) {
		if o.config == nil {
			o.config = map[string]any{}
		}
		maps.Copy(o.config, cfg)
	}
}

// WithManifest routes by the endpoints of the plugin.yaml at path instead
// of those GetMetadata reports. A plugin folder is loaded by its manifest,
// so this is what catches a handler name or path that the code and the
// manifest disagree on. The manifest's configuration, when it has one, is
// the default configuration, and its id and version must match
// GetMetadata's, as the host requires.
//
// The file is read leniently (unknown keys are ignored); the host's full
// validation is `ksplugins build`'s job.
func WithManifest(path string) Option {
	return func(o *options) { o.manifest = path }
}

// New starts p the way the host loads a plugin: GetMetadata, then the
// router from the endpoints and GetHandlers (each request runs
// ValidateRequest, whose error answers 400 invalid_request, before the
// handler, and a panic answers 500 plugin_panic), then Validate,
// Initialize with the declared configuration merged under [WithConfig]'s
// and OnLoad. When one of those fails, New calls Cleanup, as the host does,
// and fails the test. At the end of the test OnUnload and Cleanup run and
// their errors fail it.
func New(t testing.TB, p sdk.KubestellarPlugin, opts ...Option) *Harness {
	t.Helper()
	if p == nil {
		t.Fatal("sdktest.New: nil plugin")
	}
	var o options
	for _, opt := range opts {
		opt(&o)
	}

	var meta sdk.PluginMetadata
	if err := guard(func() error { meta = p.GetMetadata(); return nil }); err != nil {
		t.Fatalf("sdktest: GetMetadata: %v", err)
	}
	if o.manifest != "" {
		declared, err := readManifest(o.manifest)
		if err != nil {
			t.Fatalf("sdktest: %v", err)
		}
		if declared.ID != meta.ID || declared.Version != meta.Version {
			t.Fatalf("sdktest: %s declares %s %s but GetMetadata returns %s %s; the host refuses such a plugin",
				o.manifest, declared.ID, declared.Version, meta.ID, meta.Version)
		}
		if len(declared.Configuration) == 0 {
			declared.Configuration = meta.Configuration
		}
		meta = *declared
	}

	var handlers map[string]gin.HandlerFunc
	if err := guard(func() error { handlers = p.GetHandlers(); return nil }); err != nil {
		t.Fatalf("sdktest: GetHandlers: %v", err)
	}
	h := &Harness{t: t, plugin: p}
	engine, err := router.New(p, meta.Endpoints, handlers, router.Options{
		Name: "plugin " + meta.ID,
		Use: []gin.HandlerFunc{router.RecoverPanics(func(c *gin.Context, v any, stack []byte) {
			t.Logf("sdktest: handler for %s %s panicked: %v\n%s", c.Request.Method, c.Request.URL.Path, v, stack)
		})},
	})
	if err != nil {
		t.Fatalf("sdktest: %v", err)
	}
	h.engine = engine

	config := maps.Clone(meta.Configuration)
	if config == nil {
		config = map[string]any{}
	}
	maps.Copy(config, o.config)
	steps := []struct {
		name string
		fn   func() error
	}{
		{"Validate", p.Validate},
		{"Initialize", func() error { return p.Initialize(config) }},
		{"OnLoad", p.OnLoad},
	}
	for _, s := range steps {
		if err := guard(s.fn); err != nil {
			if cerr := guard(p.Cleanup); cerr != nil {
				t.Errorf("sdktest: Cleanup after failed %s: %v", s.name, cerr)
			}
			t.Fatalf("sdktest: %s: %v", s.name, err)
		}
	}
	t.Cleanup(func() {
		if err := guard(p.OnUnload); err != nil {
			t.Errorf("sdktest: OnUnload: %v", err)
		}
		if err := guard(p.Cleanup); err != nil {
			t.Errorf("sdktest: Cleanup: %v", err)
		}
	})
	return h
}

// Plugin returns the instance under test, so a test can inspect state the
// handlers left behind or call the other lifecycle methods itself.
func (h *Harness) Plugin() sdk.KubestellarPlugin { return h.plugin }

// Do sends a request to the plugin and returns what it answered. path is
// relative to the plugin, as in its manifest ("/greet/ada", query string
// allowed), not under /api/plugin-endpoints/<id>. header holds key, value
// pairs. The request's context ends with the test.
func (h *Harness) Do(method, path string, body io.Reader, header ...string) *httptest.ResponseRecorder {
	h.t.Helper()
	if len(header)%2 != 0 {
		h.t.Fatalf("sdktest: Do %s %s: header must be key, value pairs, got %d strings", method, path, len(header))
	}
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	req := httptest.NewRequestWithContext(h.t.Context(), method, path, body)
	for i := 0; i < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.engine.ServeHTTP(rec, req)
	return rec
}

// JSON is [Harness.Do] for the common case of a JSON API: it marks a
// non-nil body as JSON and decodes the answer into a map, failing the test
// when the answer is not a JSON object, so assertions can go straight to
// the fields.
func (h *Harness) JSON(method, path string, body io.Reader) (int, map[string]any) {
	h.t.Helper()
	header := []string{"Accept", "application/json"}
	if body != nil {
		header = append(header, "Content-Type", "application/json")
	}
	rec := h.Do(method, path, body, header...)
	var out map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		h.t.Fatalf("sdktest: %s %s answered %d with a body that is not a JSON object: %v\n%s",
			method, path, rec.Code, err, rec.Body.String())
	}
	return rec.Code, out
}

// guard runs plugin code, turning a panic into an error.
func guard(fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return fn()
}

func readManifest(path string) (*sdk.PluginMetadata, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	md := new(sdk.PluginMetadata)
	if err := yaml.Unmarshal(data, md); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return md, nil
}
