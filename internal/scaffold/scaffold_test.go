package scaffold

import (
	"bytes"
	"errors"
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/mod/modfile"

	"github.com/kubestellar/ksplugins"
	"github.com/kubestellar/ksplugins/internal/extension"
	"github.com/kubestellar/ksplugins/internal/manifest"
	"github.com/kubestellar/ksplugins/sdk"
)

func TestNames(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"a", true},
		{"7", true},
		{"my-plugin", true},
		{"a-b-c-1", true},
		{"a--b", true},
		{strings.Repeat("a", 63), true},
		{"", false},
		{strings.Repeat("a", 64), false},
		{"-a", false},
		{"a-", false},
		{"My-plugin", false},
		{"my_plugin", false},
		{"my plugin", false},
		{"my.plugin", false},
		{"../x", false},
		{"plügin", false},
	}
	for _, id := range manifest.ReservedIDs() {
		tests = append(tests, struct {
			name string
			ok   bool
		}{id, false})
	}
	for _, tt := range tests {
		t.Run(strconv.Quote(tt.name), func(t *testing.T) {
			parent := t.TempDir()
			dir := filepath.Join(parent, "p")
			err := Write(dir, tt.name, Options{})
			if tt.ok != (err == nil) {
				t.Fatalf("Write(%q) = %v, want ok=%v", tt.name, err, tt.ok)
			}
			if err != nil {
				if !strings.Contains(err.Error(), strconv.Quote(tt.name)) {
					t.Errorf("error %q does not name the plugin", err)
				}
				assertEntries(t, parent)
				return
			}
			md, warns, err := manifest.ParseFile(filepath.Join(dir, "plugin.yaml"))
			if err != nil || len(warns) > 0 || md.ID != tt.name {
				t.Errorf("plugin.yaml: %v %v %+v", err, warns, md)
			}
		})
	}
}

func TestContents(t *testing.T) {
	hostMod, err := fs.ReadFile(ksplugins.SDKSource(), "go.mod")
	if err != nil {
		t.Fatal(err)
	}
	hostSum, err := fs.ReadFile(ksplugins.SDKSource(), "go.sum")
	if err != nil {
		t.Fatal(err)
	}
	host, err := modfile.Parse("go.mod", hostMod, nil)
	if err != nil {
		t.Fatal(err)
	}
	var ginVersion string
	for _, r := range host.Require {
		if r.Mod.Path == ginModule {
			ginVersion = r.Mod.Version
		}
	}

	tests := []struct {
		name       string
		id         string
		opts       Options
		wantName   string
		wantAuthor string
	}{
		{"plain", "hello-world", Options{Author: "Ada Lovelace"}, "Hello World", "Ada Lovelace"},
		{"no author", "x1", Options{}, "X1", ""},
		{"yaml-hostile author", "quoting", Options{Author: `Bob: "the #1" <bob@example.com>`}, "Quoting", `Bob: "the #1" <bob@example.com>`},
		{"local SDK", "local", Options{SDKDir: "/src/ksplugins"}, "Local", ""},
		{"local SDK with spaces", "spaced", Options{SDKDir: "/my src/ks plugins"}, "Spaced", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), tt.id)
			if err := Write(dir, tt.id, tt.opts); err != nil {
				t.Fatal(err)
			}
			assertEntries(t, dir, "README.md", "go.mod", "go.sum", "main.go", "main_test.go", "plugin.yaml")
			if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o755 {
				t.Errorf("folder mode: %v %v", fi.Mode(), err)
			}

			// plugin.yaml: valid, with exactly the promised content.
			md, warns, err := manifest.ParseFile(filepath.Join(dir, "plugin.yaml"))
			if err != nil || len(warns) > 0 {
				t.Fatalf("plugin.yaml: %v %v", err, warns)
			}
			want := sdk.PluginMetadata{
				ID: tt.id, Name: tt.wantName, Version: "0.1.0",
				Description: tt.wantName + ", a KubeStellar plugin", Author: tt.wantAuthor,
				Endpoints: []sdk.EndpointConfig{{Path: "/hello", Method: "GET", Handler: "HelloHandler", Description: "Returns a greeting"}},
				Health:    sdk.HealthConfig{Enabled: true, IntervalSeconds: 30},
			}
			if got := *md; !metadataEqual(got, want) {
				t.Errorf("plugin.yaml = %+v\nwant %+v", got, want)
			}

			// main.go: package main with NewPlugin, and GetMetadata's
			// literal agreeing with plugin.yaml field by field.
			fields := metadataLiteral(t, filepath.Join(dir, "main.go"))
			for k, v := range map[string]string{"ID": md.ID, "Name": md.Name, "Version": md.Version, "Description": md.Description, "Author": md.Author} {
				if fields[k] != v {
					t.Errorf("GetMetadata %s = %q, plugin.yaml has %q", k, fields[k], v)
				}
			}
			mainGo := readFile(t, dir, "main.go")
			if !strings.Contains(mainGo, `"Hello from `+tt.id+`!"`) {
				t.Errorf("main.go does not answer the promised message:\n%s", mainGo)
			}
			testGo := readFile(t, dir, "main_test.go")
			for _, s := range []string{`sdktest.New(t, NewPlugin(), sdktest.WithManifest("plugin.yaml"))`, `"Hello from ` + tt.id + `!"`} {
				if !strings.Contains(testGo, s) {
					t.Errorf("main_test.go lacks %s:\n%s", s, testGo)
				}
			}
			parseGo(t, filepath.Join(dir, "main_test.go"))

			// go.mod: module, go line, the two requirements, the replace.
			mf, err := modfile.Parse("go.mod", []byte(readFile(t, dir, "go.mod")), nil)
			if err != nil {
				t.Fatal(err)
			}
			if mf.Module.Mod.Path != "example.com/"+tt.id || mf.Go.Version != "1.26.0" {
				t.Errorf("go.mod: module %s go %s", mf.Module.Mod.Path, mf.Go.Version)
			}
			var reqs []string
			for _, r := range mf.Require {
				reqs = append(reqs, r.Mod.String())
			}
			if wantReqs := []string{"github.com/gin-gonic/gin@" + ginVersion, "github.com/kubestellar/ksplugins@v0.0.0"}; !slices.Equal(reqs, wantReqs) {
				t.Errorf("go.mod requires %v, want %v", reqs, wantReqs)
			}
			switch {
			case tt.opts.SDKDir == "" && len(mf.Replace) != 0:
				t.Errorf("go.mod replaces %v without an SDKDir", mf.Replace)
			case tt.opts.SDKDir != "" && (len(mf.Replace) != 1 || mf.Replace[0].Old.Path != sdkModule || mf.Replace[0].New.Path != tt.opts.SDKDir):
				t.Errorf("go.mod replaces %+v, want %s => %s", mf.Replace, sdkModule, tt.opts.SDKDir)
			}

			if got := readFile(t, dir, "go.sum"); got != string(hostSum) {
				t.Error("go.sum is not the host's")
			}
			readme := readFile(t, dir, "README.md")
			for _, s := range []string{"ksplugins test .", "ksplugins dev .", "/api/plugin-endpoints/" + tt.id + "/hello"} {
				if !strings.Contains(readme, s) {
					t.Errorf("README.md does not mention %q", s)
				}
			}
		})
	}
}

func TestTarget(t *testing.T) {
	t.Run("existing non-empty folder", func(t *testing.T) {
		parent := t.TempDir()
		dir := filepath.Join(parent, "taken")
		writeFile(t, filepath.Join(dir, "keep.txt"), "mine")
		err := Write(dir, "taken", Options{})
		if err == nil || !strings.Contains(err.Error(), "not empty") {
			t.Fatalf("Write = %v, want a refusal", err)
		}
		assertEntries(t, dir, "keep.txt")
		assertEntries(t, parent, "taken")
	})
	t.Run("existing file", func(t *testing.T) {
		parent := t.TempDir()
		dir := filepath.Join(parent, "file")
		writeFile(t, dir, "x")
		if err := Write(dir, "file", Options{}); err == nil {
			t.Fatal("Write over a file succeeded")
		}
		assertEntries(t, parent, "file")
	})
	t.Run("existing empty folder keeps its mode", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "empty")
		if err := os.Mkdir(dir, 0o750); err != nil {
			t.Fatal(err)
		}
		if err := Write(dir, "empty", Options{}); err != nil {
			t.Fatal(err)
		}
		assertEntries(t, dir, "README.md", "go.mod", "go.sum", "main.go", "main_test.go", "plugin.yaml")
		if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o750 {
			t.Errorf("mode = %v", fi.Mode())
		}
	})
	t.Run("missing parents are created", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "a", "b", "deep")
		if err := Write(dir, "deep", Options{}); err != nil {
			t.Fatal(err)
		}
		assertEntries(t, filepath.Dir(dir), "deep")
	})
	t.Run("nothing is left when the write fails", func(t *testing.T) {
		root := t.TempDir()
		testHookBeforeRename = func(tmp string) error {
			if _, err := os.Stat(filepath.Join(tmp, "plugin.yaml")); err != nil {
				t.Errorf("the hook ran before the files were written: %v", err)
			}
			return errors.New("disk full")
		}
		t.Cleanup(func() { testHookBeforeRename = nil })
		err := Write(filepath.Join(root, "new", "sub", "p"), "p", Options{})
		if err == nil || !strings.Contains(err.Error(), "disk full") {
			t.Fatalf("Write = %v", err)
		}
		assertEntries(t, root)

		if err := os.Mkdir(filepath.Join(root, "existing"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := Write(filepath.Join(root, "existing", "p"), "p", Options{}); err == nil {
			t.Fatal("Write succeeded")
		}
		assertEntries(t, filepath.Join(root, "existing"))
	})
}

// TestScaffoldPasses runs the new plugin's own test against this checkout's
// SDK: it proves the scaffold, sdktest and the replace work together.
func TestScaffoldPasses(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go test on a new plugin")
	}
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command:", err)
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if mod := readFile(t, root, "go.mod"); modfile.ModulePath([]byte(mod)) != sdkModule {
		t.Fatalf("%s is not the %s checkout", root, sdkModule)
	}
	dir := filepath.Join(t.TempDir(), "hello-world")
	if err := Write(dir, "hello-world", Options{Author: "Test", SDKDir: root}); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), goCmd, "test", "-count=1", "./...")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go test in the scaffold: %v\n%s", err, out)
	}
	if !bytes.Contains(out, []byte("ok")) {
		t.Errorf("go test output: %s", out)
	}
}

// metadataEqual compares what the scaffold's manifest sets.
func metadataEqual(a, b sdk.PluginMetadata) bool {
	return a.ID == b.ID && a.Name == b.Name && a.Version == b.Version && a.Description == b.Description &&
		a.Author == b.Author && slices.EqualFunc(a.Endpoints, b.Endpoints, func(x, y sdk.EndpointConfig) bool {
		return x.Path == y.Path && x.Method == y.Method && x.Handler == y.Handler && x.Description == y.Description
	}) && a.Health == b.Health && len(a.Configuration) == 0 && len(a.Permissions) == 0
}

// metadataLiteral returns the string fields of the sdk.PluginMetadata
// literal GetMetadata returns in the Go file at path, checking on the way
// that the file is package main and declares NewPlugin.
func metadataLiteral(t *testing.T, path string) map[string]string {
	t.Helper()
	f := parseGo(t, path)
	fields := map[string]string{}
	var hasNewPlugin bool
	for _, d := range f.Decls {
		fn, ok := d.(*ast.FuncDecl)
		if !ok {
			continue
		}
		if fn.Recv == nil && fn.Name.Name == "NewPlugin" {
			hasNewPlugin = true
		}
		if fn.Recv == nil || fn.Name.Name != "GetMetadata" {
			continue
		}
		ast.Inspect(fn.Body, func(n ast.Node) bool {
			kv, ok := n.(*ast.KeyValueExpr)
			if !ok {
				return true
			}
			key, _ := kv.Key.(*ast.Ident)
			lit, _ := kv.Value.(*ast.BasicLit)
			if key != nil && lit != nil && lit.Kind == token.STRING {
				if v, err := strconv.Unquote(lit.Value); err == nil {
					if _, seen := fields[key.Name]; !seen {
						fields[key.Name] = v
					}
				}
			}
			return true
		})
	}
	if f.Name.Name != "main" || !hasNewPlugin {
		t.Errorf("%s: package %s, NewPlugin declared: %v", path, f.Name.Name, hasNewPlugin)
	}
	return fields
}

func parseGo(t *testing.T, path string) *ast.File {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	src := readFile(t, filepath.Dir(path), filepath.Base(path))
	if formatted, err := format.Source([]byte(src)); err != nil || string(formatted) != src {
		t.Errorf("%s is not gofmt-clean: %v", path, err)
	}
	return f
}

// assertEntries checks that dir holds exactly the names given, so that no
// temporary folder or stray file is left behind.
func assertEntries(t *testing.T, dir string, want ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("%s holds %v, want %v", dir, got, want)
	}
}

func readFile(t *testing.T, dir, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestUIComponent: --ui adds a ui/ folder the host serves and a component
// in plugin.yaml whose entry is in it; without it there is neither.
func TestUIComponent(t *testing.T) {
	for _, ui := range []bool{false, true} {
		t.Run(strconv.FormatBool(ui), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "with-ui")
			if err := Write(dir, "with-ui", Options{UI: ui}); err != nil {
				t.Fatal(err)
			}
			md, warns, err := manifest.ParseFile(filepath.Join(dir, "plugin.yaml"))
			if err != nil || len(warns) > 0 {
				t.Fatalf("plugin.yaml: %v %v", err, warns)
			}
			files, err := extension.Load(filepath.Join(dir, extension.Folder))
			if err != nil {
				t.Fatal(err)
			}
			if !ui {
				if len(md.UIComponents) != 0 || files != nil {
					t.Fatalf("without --ui: components %v, UI files %v", md.UIComponents, files)
				}
				return
			}
			want := []sdk.UIComponentConfig{{Name: "main", Route: "/main", Component: "Main", Entry: "index.html", Slot: sdk.UISlotDetailTab, Title: "With Ui"}}
			if !slices.EqualFunc(md.UIComponents, want, func(a, b sdk.UIComponentConfig) bool {
				return a.Name == b.Name && a.Entry == b.Entry && a.Slot == b.Slot && a.Title == b.Title
			}) {
				t.Fatalf("components %+v, want %+v", md.UIComponents, want)
			}
			if got := strings.Join(files.Paths(), " "); got != "app.js index.html" {
				t.Fatalf("UI files %q", got)
			}
			index := readFile(t, dir, "ui/index.html")
			if !strings.Contains(index, `<script src="/plugins-ui/bridge-v1.js"></script>`) || strings.Contains(index, "<script>") {
				t.Fatalf("index.html must load the bridge and no inline script:\n%s", index)
			}
			if app := readFile(t, dir, "ui/app.js"); !strings.Contains(app, "ksplugins.call('GET', '/hello')") {
				t.Fatalf("app.js does not call the plugin's endpoint through the bridge:\n%s", app)
			}
		})
	}
}
