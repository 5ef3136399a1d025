package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/mod/modfile"

	"github.com/kubestellar/ksplugins/internal/manifest"
)

// runRoot runs the ksplugins command line and returns its output streams.
func runRoot(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	root := rootCommand()
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&errOut)
	err = root.ExecuteContext(t.Context())
	return out.String(), errOut.String(), err
}

func readGoMod(t *testing.T, dir string) *modfile.File {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := modfile.Parse("go.mod", data, nil)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func realPath(t *testing.T, p string) string {
	t.Helper()
	r, err := filepath.EvalSymlinks(p)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestNewInCheckout(t *testing.T) {
	checkout := t.TempDir()
	if err := os.WriteFile(filepath.Join(checkout, "go.mod"), []byte("module github.com/kubestellar/ksplugins\n\ngo 1.26.0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A plugin module between the working folder and the checkout is
	// passed over.
	wd := filepath.Join(checkout, "plugins", "other")
	if err := os.MkdirAll(wd, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(wd, "go.mod"), []byte("module example.com/other\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(wd)

	stdout, stderr, err := runRoot(t, "new", "demo-plugin", "--author", "Ada")
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(wd, "demo-plugin")
	md, _, err := manifest.ParseFile(filepath.Join(dir, "plugin.yaml"))
	if err != nil || md.ID != "demo-plugin" || md.Author != "Ada" {
		t.Fatalf("plugin.yaml: %+v %v", md, err)
	}
	mf := readGoMod(t, dir)
	if len(mf.Replace) != 1 || mf.Replace[0].Old.Path != hostModulePath || !filepath.IsAbs(mf.Replace[0].New.Path) ||
		realPath(t, mf.Replace[0].New.Path) != realPath(t, checkout) {
		t.Errorf("go.mod replaces %+v, want %s => %s", mf.Replace, hostModulePath, checkout)
	}
	for _, s := range []string{"demo-plugin/plugin.yaml", "ksplugins test demo-plugin", "ksplugins dev demo-plugin"} {
		if !strings.Contains(stdout, s) {
			t.Errorf("output lacks %q:\n%s", s, stdout)
		}
	}
	if stderr != "" {
		t.Errorf("unexpected note: %s", stderr)
	}

	// The same name again: the folder is taken.
	if _, _, err := runRoot(t, "new", "demo-plugin"); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("second new = %v, want a refusal", err)
	}
}

// TestNewOutsideCheckout: outside a checkout, go.mod replaces the SDK
// module with the SDK source the binary carries, written once to the
// user's cache folder as a module of its own.
func TestNewOutsideCheckout(t *testing.T) {
	wd := t.TempDir()
	if c := findSDKCheckout(wd); c != "" {
		t.Skipf("the temporary folder is inside a checkout (%s)", c)
	}
	t.Chdir(wd)
	cache := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", cache)
	target := filepath.Join(t.TempDir(), "nested", "elsewhere")
	stdout, _, err := runRoot(t, "new", "elsewhere", "--dir", target)
	if err != nil {
		t.Fatal(err)
	}
	mf := readGoMod(t, target)
	if len(mf.Replace) != 1 || mf.Replace[0].Old.Path != hostModulePath || !strings.HasPrefix(mf.Replace[0].New.Path, filepath.Join(cache, "ksplugins", "sdk")) {
		t.Fatalf("go.mod replaces %+v; want the SDK module with the carried SDK", mf.Replace)
	}
	sdkDir := mf.Replace[0].New.Path
	for _, f := range []string{"go.mod", "go.sum", "sdk/plugin.go"} {
		if _, err := os.Stat(filepath.Join(sdkDir, f)); err != nil {
			t.Errorf("the carried SDK lacks %s: %v", f, err)
		}
	}
	if data, err := os.ReadFile(filepath.Join(sdkDir, "go.mod")); err != nil || modfile.ModulePath(data) != hostModulePath {
		t.Errorf("the carried SDK's go.mod is not the SDK module: %v", err)
	}
	if !strings.Contains(stdout, sdkDir) {
		t.Errorf("new does not say where the SDK is:\n%s", stdout)
	}
	// A second plugin shares the SDK folder.
	if _, _, err := runRoot(t, "new", "again", "--dir", filepath.Join(t.TempDir(), "again")); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(filepath.Join(cache, "ksplugins", "sdk")); len(entries) != 1 {
		t.Errorf("%d SDK folders after two plugins; want one", len(entries))
	}
	if !strings.Contains(stdout, "ksplugins test "+target) {
		t.Errorf("next steps do not name --dir:\n%s", stdout)
	}
	if _, err := os.Stat(filepath.Join(wd, "elsewhere")); err == nil {
		t.Error("new wrote into ./<name> despite --dir")
	}
}

func TestNewRefusals(t *testing.T) {
	t.Chdir(t.TempDir())
	for _, args := range [][]string{
		{"new", "Bad_Name"},
		{"new", "system"},
		{"new"},
		{"new", "a", "b"},
	} {
		if _, _, err := runRoot(t, args...); err == nil {
			t.Errorf("%q succeeded", args)
		}
	}
	entries, _ := os.ReadDir(".")
	if len(entries) != 0 {
		t.Errorf("refused commands left %v", entries)
	}
}

func TestGoTestArgs(t *testing.T) {
	vendored := t.TempDir()
	if err := os.Mkdir(filepath.Join(vendored, "vendor"), 0o755); err != nil {
		t.Fatal(err)
	}
	plain := t.TempDir()
	tests := []struct {
		dir, goflags string
		extra        []string
		want         []string
	}{
		{plain, "", nil, []string{"test", "-mod=mod", "./..."}},
		{plain, "-buildvcs=false", []string{"-run", "X"}, []string{"test", "-mod=mod", "-run", "X", "./..."}},
		{plain, "-mod=readonly", nil, []string{"test", "./..."}},
		{vendored, "", nil, []string{"test", "./..."}},
	}
	for _, tt := range tests {
		if got := goTestArgs(tt.dir, tt.goflags, tt.extra); !slices.Equal(got, tt.want) {
			t.Errorf("goTestArgs(%s, %q, %q) = %q, want %q", tt.dir, tt.goflags, tt.extra, got, tt.want)
		}
	}
}

func TestTestCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go test on plugin folders")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command:", err)
	}
	// The working folder is cmd/ksplugins of this checkout, so the new
	// plugin builds against this SDK.
	if findSDKCheckout(".") == "" {
		t.Fatal("the test does not run inside the ksplugins checkout")
	}

	t.Run("scaffolded plugin passes", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "fresh")
		if _, _, err := runRoot(t, "new", "fresh", "--dir", dir); err != nil {
			t.Fatal(err)
		}
		stdout, stderr, err := runRoot(t, "test", dir, "--", "-count=1")
		if err != nil {
			t.Fatalf("test = %v\n%s%s", err, stdout, stderr)
		}
		if !strings.Contains(stdout, "ok") {
			t.Errorf("go test output not streamed:\n%s%s", stdout, stderr)
		}
	})

	failing := t.TempDir()
	for name, content := range map[string]string{
		"go.mod":       "module example.com/failing\n\ngo 1.26.0\n",
		"fail_test.go": "package failing\n\nimport \"testing\"\n\nfunc TestFails(t *testing.T) { t.Fatal(\"deliberate failure\") }\n",
	} {
		if err := os.WriteFile(filepath.Join(failing, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("failing test is an error", func(t *testing.T) {
		stdout, stderr, err := runRoot(t, "test", failing)
		if err == nil || !strings.Contains(err.Error(), "tests failed") {
			t.Fatalf("test = %v, want tests failed", err)
		}
		if !strings.Contains(stdout+stderr, "deliberate failure") {
			t.Errorf("go test output not streamed:\n%s%s", stdout, stderr)
		}
	})
	t.Run("flags after -- reach go test", func(t *testing.T) {
		if stdout, stderr, err := runRoot(t, "test", failing, "--", "-run", "NoSuchTest"); err != nil {
			t.Fatalf("test -run NoSuchTest = %v\n%s%s", err, stdout, stderr)
		}
	})
	t.Run("refusals", func(t *testing.T) {
		for _, args := range [][]string{
			{"test", failing, "-run"},
			{"test", failing, "extra"},
			{"test", filepath.Join(failing, "missing")},
			{"test", filepath.Join(failing, "go.mod")},
			{"test"},
			{"test", "--", "-v"},
		} {
			if _, _, err := runRoot(t, args...); err == nil || strings.Contains(err.Error(), "tests failed") {
				t.Errorf("%q = %v, want a refusal before go test runs", args, err)
			}
		}
	})
}
