package build

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"golang.org/x/mod/modfile"
)

func TestMergeGoMod(t *testing.T) {
	host, err := modfile.Parse("go.mod", []byte("module github.com/kubestellar/ksplugins\n\ngo 1.26.0\n\nrequire github.com/gin-gonic/gin v1.12.0\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	plugin := `module example.com/p

go 1.26.0

require (
	github.com/gin-gonic/gin v1.13.0
	github.com/kubestellar/ksplugins v0.0.0
	github.com/kubestellar/ui v0.0.0
	k8s.io/client-go v0.37.2
)

replace github.com/kubestellar/ksplugins => ../../..

replace github.com/kubestellar/ui => ../compat

replace example.com/lib => ./lib

replace example.com/ver => example.com/fork v1.2.3
`
	notes, err := mergeGoMod(host, []byte(plugin), "/src/p", "/tmp/module", "github.com/kubestellar/ksplugins", map[string]string{"github.com/gin-gonic/gin": "v1.12.0"}, true)
	if err != nil {
		t.Fatal(err)
	}
	host.Cleanup()
	out, _ := host.Format()
	got := string(out)
	for _, gone := range []string{"../../..", "../compat", "./lib", "github.com/kubestellar/ui"} {
		if strings.Contains(got, gone) {
			t.Errorf("result has %q:\n%s", gone, got)
		}
	}
	for _, kept := range []string{"k8s.io/client-go v0.37.2", "github.com/gin-gonic/gin v1.13.0", "example.com/p v0.0.0", "example.com/p => /tmp/module", "example.com/lib => /src/p/lib", "example.com/ver => example.com/fork v1.2.3"} {
		if !strings.Contains(got, kept) {
			t.Errorf("result lacks %q:\n%s", kept, got)
		}
	}
	if len(notes) != 1 || !strings.Contains(notes[0], "github.com/gin-gonic/gin v1.13.0, newer than the host's v1.12.0") {
		t.Errorf("notes = %q; want one about gin", notes)
	}
	if _, err := mergeGoMod(host, []byte("module"), "/src", "/m", "x", nil, true); err == nil {
		t.Error("a broken go.mod was accepted")
	}
}

func TestWriteSDK(t *testing.T) {
	src := fstest.MapFS{
		"go.mod":                                {Data: []byte("module github.com/kubestellar/ksplugins\n\ngo 1.26.0\n")},
		"go.sum":                                {Data: []byte("")},
		"sdk/plugin.go":                         {Data: []byte("package sdk\n")},
		"sdk/compat/dynamic_plugins/aliases.go": {Data: []byte("package dynamic_plugins\n")},
	}
	root := t.TempDir()
	tree, err := writeSDK(root, src)
	if err != nil {
		t.Fatal(err)
	}
	if tree.HostModule != "github.com/kubestellar/ksplugins" || tree.GoVersion != "1.26.0" {
		t.Fatalf("tree = %+v", tree)
	}
	for _, f := range []string{filepath.Join(tree.CompatDir, "dynamic_plugins/aliases.go")} {
		if _, err := os.Stat(f); err != nil {
			t.Fatal(err)
		}
	}
	mod, err := os.ReadFile(filepath.Join(tree.CompatDir, "go.mod"))
	if err != nil || !strings.HasPrefix(string(mod), "module github.com/kubestellar/ui\n") {
		t.Fatalf("compat go.mod: %q %v", mod, err)
	}
	again, err := writeSDK(root, src)
	if err != nil || again.Digest != tree.Digest {
		t.Fatalf("second write: %+v %v", again, err)
	}
	src["sdk/plugin.go"] = &fstest.MapFile{Data: []byte("package sdk // changed\n")}
	changed, err := writeSDK(root, src)
	if err != nil || changed.Digest == tree.Digest {
		t.Fatalf("changed source kept digest %s (%v)", tree.Digest, err)
	}
}

func TestKeyIgnoresNoise(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("main.go", "package main\n")
	write("plugin.yaml", "id: x\n")
	b := &Builder{}
	tree := &sdkTree{Digest: "d"}
	k1, err := b.key(tree, dir, Native, FullTrust)
	if err != nil {
		t.Fatal(err)
	}
	write(".git/HEAD", "ref")
	write("old.so", "binary")
	if k2, _ := b.key(tree, dir, Native, FullTrust); k2 != k1 {
		t.Fatal("hidden files or built plugins changed the key")
	}
	write("main.go", "package main // edited\n")
	if k3, _ := b.key(tree, dir, Native, FullTrust); k3 == k1 {
		t.Fatal("a source edit kept the key")
	}
	if k4, _ := b.key(&sdkTree{Digest: "other"}, dir, Native, FullTrust); k4 == k1 {
		t.Fatal("another SDK kept the key")
	}
	k3, _ := b.key(tree, dir, Native, FullTrust)
	if k5, _ := b.key(tree, dir, Sandboxed, FullTrust); k5 == k3 {
		t.Fatal("another tier kept the key")
	}
	if k6, _ := b.key(tree, dir, Native, Trust(0)); k6 == k3 {
		t.Fatal("another trust kept the key: build.sh or go build may make the artifact")
	}
}
