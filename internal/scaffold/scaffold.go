// Package scaffold writes the folder of a new plugin: a manifest, code that
// agrees with it, a test that exercises it through sdktest, and a go.mod
// pinned to the host's own versions, so that the first build and the first
// test of a new plugin work before its author has changed a line.
package scaffold

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"go/format"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/template"

	"golang.org/x/mod/modfile"
	"sigs.k8s.io/yaml"

	"github.com/kubestellar/ksplugins"
	"github.com/kubestellar/ksplugins/internal/manifest"
)

// sdkModule is the module a plugin imports the SDK from.
const sdkModule = "github.com/kubestellar/ksplugins"

// ginModule is the one requirement a plugin's code names besides the SDK;
// it must be at the host's version, which the host checks at build time.
const ginModule = "github.com/gin-gonic/gin"

// Options are the choices [Write] cannot derive from the plugin's id.
type Options struct {
	// Author goes into plugin.yaml and GetMetadata.
	Author string
	// SDKDir, when set, is a ksplugins checkout the new go.mod replaces the
	// SDK module with, so the plugin builds and tests offline against that
	// SDK. When empty, github.com/kubestellar/ksplugins must be resolvable
	// by the go command on its own.
	SDKDir string
	// UI adds a UI component: a ui/ folder whose page calls the plugin's
	// endpoint through the bridge, declared in plugin.yaml for the detail
	// view of the manager page.
	UI bool
}

// Write creates the plugin folder dir for a plugin whose id is name. dir
// must not exist or must be empty; parents are created as needed. The
// folder appears complete or not at all: it is written under a temporary
// name beside dir and renamed into place.
func Write(dir, name string, opts Options) error {
	if err := checkName(name); err != nil {
		return err
	}
	files, err := render(name, opts)
	if err != nil {
		return err
	}
	return writeAtomically(dir, files)
}

// checkName applies the manifest's id rules, so that a scaffold never
// produces a plugin the host would refuse.
func checkName(name string) error {
	bad := func(why string) error { return fmt.Errorf("invalid plugin name %q: %s", name, why) }
	switch {
	case name == "":
		return bad("it is empty")
	case len(name) > 63:
		return bad(fmt.Sprintf("it has %d characters, at most 63 are allowed", len(name)))
	case slices.Contains(manifest.ReservedIDs(), name):
		return bad("it is reserved for a management route")
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		alnum := c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
		if !alnum && (c != '-' || i == 0 || i == len(name)-1) {
			return bad("use lowercase letters, digits and hyphens, starting and ending with a letter or digit")
		}
	}
	return nil
}

// data is what the templates are filled with.
type data struct {
	ID, Name, Description, Author string
	Version, Message              string
	Module                        string
	UI                            bool
}

const version = "0.1.0"

// render produces every file of the folder, by name.
func render(name string, opts Options) (map[string][]byte, error) {
	src := ksplugins.SDKSource()
	hostMod, err := fs.ReadFile(src, "go.mod")
	if err != nil {
		return nil, fmt.Errorf("reading the SDK's go.mod: %w", err)
	}
	goSum, err := fs.ReadFile(src, "go.sum")
	if err != nil {
		return nil, fmt.Errorf("reading the SDK's go.sum: %w", err)
	}
	d := data{
		ID:      name,
		Name:    title(name),
		Author:  opts.Author,
		Version: version,
		Module:  "example.com/" + name,
		Message: "Hello from " + name + "!",
		UI:      opts.UI,
	}
	d.Description = d.Name + ", a KubeStellar plugin"

	goMod, err := renderGoMod(d.Module, hostMod, opts.SDKDir)
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{
		"go.mod": goMod,
		"go.sum": goSum,
	}
	templates := []struct {
		name string
		tmpl *template.Template
	}{
		{"plugin.yaml", manifestTmpl},
		{"main.go", mainTmpl},
		{"main_test.go", testTmpl},
		{"README.md", readmeTmpl},
	}
	if opts.UI {
		files["ui/index.html"] = []byte(uiIndex)
		files["ui/app.js"] = []byte(uiScript)
	}
	for _, f := range templates {
		var b bytes.Buffer
		if err := f.tmpl.Execute(&b, d); err != nil {
			return nil, fmt.Errorf("rendering %s: %w", f.name, err)
		}
		out := b.Bytes()
		if strings.HasSuffix(f.name, ".go") {
			if out, err = format.Source(out); err != nil {
				return nil, fmt.Errorf("rendering %s: %w", f.name, err)
			}
		}
		files[f.name] = out
	}
	// The manifest is the contract the host checks first: never hand out
	// one it would refuse, whatever the author's name holds.
	if _, warns, err := manifest.Parse(files["plugin.yaml"]); err != nil || len(warns) > 0 {
		return nil, fmt.Errorf("rendering plugin.yaml: %v %v", err, warns)
	}
	return files, nil
}

// renderGoMod requires the SDK and gin at the host's gin version and go
// line, read from the host's own go.mod so a new plugin never drifts from
// the host that will build it.
func renderGoMod(module string, hostMod []byte, sdkDir string) ([]byte, error) {
	host, err := modfile.ParseLax("go.mod", hostMod, nil)
	if err != nil {
		return nil, fmt.Errorf("parsing the SDK's go.mod: %w", err)
	}
	var ginVersion string
	for _, r := range host.Require {
		if r.Mod.Path == ginModule {
			ginVersion = r.Mod.Version
		}
	}
	if ginVersion == "" {
		return nil, fmt.Errorf("the SDK's go.mod does not require %s", ginModule)
	}
	goVersion := "1.26.0"
	if host.Go != nil {
		goVersion = host.Go.Version
	}
	var b strings.Builder
	fmt.Fprintf(&b, "module %s\n\ngo %s\n\nrequire (\n\t%s %s\n\t%s v0.0.0\n)\n",
		module, goVersion, ginModule, ginVersion, sdkModule)
	if sdkDir != "" {
		fmt.Fprintf(&b, "\n// The host builds this plugin against its own SDK and ignores this line;\n"+
			"// it lets the folder build and test on its own against a local copy of the SDK.\n"+
			"replace %s => %s\n", sdkModule, modfile.AutoQuote(sdkDir))
	}
	f, err := modfile.Parse("go.mod", []byte(b.String()), nil)
	if err != nil {
		return nil, fmt.Errorf("rendering go.mod: %w", err)
	}
	return modfile.Format(f.Syntax), nil
}

// writeAtomically writes files into a temporary folder beside dir and
// renames it to dir, removing everything it created on failure.
func writeAtomically(dir string, files map[string][]byte) (err error) {
	dir = filepath.Clean(dir)
	mode := fs.FileMode(0o755)
	existed := false
	switch fi, statErr := os.Stat(dir); {
	case errors.Is(statErr, fs.ErrNotExist):
	case statErr != nil:
		return statErr
	case !fi.IsDir():
		return fmt.Errorf("%s exists and is not a folder", dir)
	default:
		entries, err := os.ReadDir(dir)
		if err != nil {
			return err
		}
		if len(entries) > 0 {
			return fmt.Errorf("%s already exists and is not empty", dir)
		}
		mode = fi.Mode().Perm()
		existed = true
	}

	parent := filepath.Dir(dir)
	created, err := mkdirAll(parent)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dir)+".tmp-")
	if err != nil {
		if created != "" {
			os.RemoveAll(created)
		}
		return err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
			if created != "" {
				os.RemoveAll(created)
			}
		}
	}()
	for name, content := range files {
		path := filepath.Join(tmp, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, content, 0o644); err != nil {
			return err
		}
	}
	if err := os.Chmod(tmp, mode); err != nil {
		return err
	}
	if testHookBeforeRename != nil {
		if err := testHookBeforeRename(tmp); err != nil {
			return err
		}
	}
	// Not every file system lets rename(2) replace an empty folder: remove
	// it first (Remove refuses a folder that gained files since the check
	// above) and put it back if the rename fails.
	if existed {
		if err := os.Remove(dir); err != nil {
			return fmt.Errorf("creating %s: %w", dir, err)
		}
	}
	if err := os.Rename(tmp, dir); err != nil {
		if existed {
			os.Mkdir(dir, mode)
		}
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	return nil
}

// testHookBeforeRename lets tests fail a write at its last step.
var testHookBeforeRename func(tmp string) error

// mkdirAll creates dir and its missing parents and returns the topmost
// folder it created ("" when dir existed), for removal on failure.
func mkdirAll(dir string) (string, error) {
	top := ""
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(d); err == nil {
			break
		} else if !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
		top = d
		if filepath.Dir(d) == d {
			break
		}
	}
	if top == "" {
		return "", nil
	}
	return top, os.MkdirAll(dir, 0o755)
}

// title turns an id such as "my-plugin" into a display name, "My Plugin".
func title(id string) string {
	words := strings.Split(id, "-")
	for i, w := range words {
		if w != "" {
			words[i] = strings.ToUpper(w[:1]) + w[1:]
		}
	}
	return strings.Join(words, " ")
}

// yamlString renders s as a YAML scalar, plain when that reads back as the
// same string and double-quoted (JSON is valid YAML) otherwise.
func yamlString(s string) string {
	var back map[string]any
	if err := yaml.Unmarshal([]byte("k: "+s+"\n"), &back); err == nil {
		if v, ok := back["k"].(string); ok && v == s && !strings.ContainsAny(s, "\n\r") {
			return s
		}
	}
	q, _ := json.Marshal(s)
	return string(q)
}

var funcs = template.FuncMap{"yaml": yamlString, "go": strconv.Quote}

var manifestTmpl = template.Must(template.New("plugin.yaml").Funcs(funcs).Parse(`id: {{yaml .ID}}
name: {{yaml .Name}}
version: {{yaml .Version}}
description: {{yaml .Description}}
author: {{yaml .Author}}

endpoints:
  - path: /hello
    method: GET
    handler: HelloHandler
    description: Returns a greeting

{{- if .UI}}

# The manager page shows ui/index.html as a tab of this plugin's view, in a
# sandboxed frame; see docs/web.md, "Plugin UI components".
ui_components:
  - name: main
    route: /main
    component: Main
    entry: index.html
    slot: detail-tab
    title: {{yaml .Name}}
{{- end}}

health:
  enabled: true
  interval_seconds: 30
`))

// uiIndex and uiScript are the UI component --ui adds. The page runs in a
// sandbox with no network; the bridge the host serves reaches the
// plugin's own endpoints.
const uiIndex = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Plugin</title>
<script src="/plugins-ui/bridge-v1.js"></script>
<script src="app.js" defer></script>
</head>
<body>
<p id="message">Loading…</p>
</body>
</html>
`

const uiScript = `// Calls this plugin's GET /hello through the manager page and shows the
// answer. Only scripts from files (no inline script) and no fetch: the
// page's bridge makes the call, with the signed-in user's rights.
ksplugins.call('GET', '/hello').then(function (res) {
  document.getElementById('message').textContent = JSON.parse(res.body).message;
}, function (err) {
  document.getElementById('message').textContent = 'Refused: ' + err.code;
});
`

var mainTmpl = template.Must(template.New("main.go").Funcs(funcs).Parse(`// Command {{.ID}} is a KubeStellar plugin. The host builds this package,
// calls NewPlugin and serves its handlers under
// /api/plugin-endpoints/{{.ID}}/.
package main

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/kubestellar/ksplugins/sdk"
)

// Plugin embeds sdk.Base, which gives every lifecycle method a default;
// override the ones you need (Initialize, Health, ValidateRequest...).
type Plugin struct {
	sdk.Base
}

// NewPlugin is the symbol the host looks up.
func NewPlugin() sdk.KubestellarPlugin {
	return &Plugin{}
}

// GetMetadata must agree with plugin.yaml: the host refuses a plugin whose
// id or version differ, and routes by the manifest's endpoints.
func (p *Plugin) GetMetadata() sdk.PluginMetadata {
	return sdk.PluginMetadata{
		ID: {{go .ID}},
		Name: {{go .Name}},
		Version: {{go .Version}},
		Description: {{go .Description}},
		Author: {{go .Author}},
		Endpoints: []sdk.EndpointConfig{
			{Path: "/hello", Method: "GET", Handler: "HelloHandler", Description: "Returns a greeting"},
		},
		Health: sdk.HealthConfig{Enabled: true, IntervalSeconds: 30},
	}
}

// GetHandlers maps the handler names used in plugin.yaml to functions.
func (p *Plugin) GetHandlers() map[string]gin.HandlerFunc {
	return map[string]gin.HandlerFunc{
		"HelloHandler": p.HelloHandler,
	}
}

// HelloHandler answers GET /hello. Handlers may run concurrently.
func (p *Plugin) HelloHandler(c *gin.Context) {
	c.JSON(http.StatusOK, gin.H{"message": {{go .Message}}})
}
`))

var testTmpl = template.Must(template.New("main_test.go").Funcs(funcs).Parse(`package main

import (
	"net/http"
	"testing"

	"github.com/kubestellar/ksplugins/sdk/sdktest"
)

// TestHello calls the handler through plugin.yaml's routes, the way the
// host will once the plugin is loaded.
func TestHello(t *testing.T) {
	h := sdktest.New(t, NewPlugin(), sdktest.WithManifest("plugin.yaml"))
	code, body := h.JSON(http.MethodGet, "/hello", nil)
	if code != http.StatusOK {
		t.Fatalf("GET /hello = %d %v", code, body)
	}
	if want := {{go .Message}}; body["message"] != want {
		t.Errorf("GET /hello message = %v, want %q", body["message"], want)
	}
}
`))

// readmeTmpl is written with ‵ for backquotes, which a Go raw string
// cannot hold.
var readmeTmpl = template.Must(template.New("README.md").Parse(strings.ReplaceAll(`# {{.Name}}

A KubeStellar plugin (id ‵{{.ID}}‵), created by ‵ksplugins new‵.

- ‵plugin.yaml‵ declares the plugin: the host routes by its endpoints.
- ‵main.go‵ implements it; ‵GetMetadata‵ must keep the same id and version.
- ‵main_test.go‵ calls the handlers through ‵sdk/sdktest‵, with the host's
  lifecycle, routing and error answers but no server.

## Test

‵‵‵sh
ksplugins test .
‵‵‵

This runs ‵go test ./...‵ here and, on the first run, adds to go.mod the
indirect requirements it still lacks. Plain ‵go test ./...‵ works once they
are there (or after ‵go mod tidy‵).

go.mod's ‵replace github.com/kubestellar/ksplugins => ...‵ line points at a
local copy of the SDK (a ksplugins checkout, or the SDK ‵ksplugins new‵
wrote to your cache folder), so nothing needs fetching; the host ignores
the line when it builds the plugin.

## Load

Against a running host (‵make run‵ in the ksplugins checkout):

‵‵‵sh
ksplugins dev .        # load it, and reload it whenever a file changes
ksplugins install .    # or load it once
curl localhost:4000/api/plugin-endpoints/{{.ID}}/hello
‵‵‵

‵ksplugins build .‵ builds the ‵.so‵ the host would load, without loading it.
`, "‵", "`")))
