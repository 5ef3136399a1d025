package build

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubestellar/ksplugins/internal/extension"
)

// TestUIFilesInTheCache: a build's UI files are stored with its artifact
// and checked on every lookup, as the artifact file is: a cache entry whose
// UI files were changed, added or removed is not used.
func TestUIFilesInTheCache(t *testing.T) {
	src := t.TempDir()
	if err := os.MkdirAll(filepath.Join(src, "ui"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "ui", "index.html"), []byte("<p>chart</p>"), 0o644); err != nil {
		t.Fatal(err)
	}
	ui, err := extension.Load(filepath.Join(src, "ui"))
	if err != nil {
		t.Fatal(err)
	}
	b := &Builder{opts: Options{CacheDir: t.TempDir()}}
	key := strings.Repeat("ab", 32)
	tmp := t.TempDir()
	out := filepath.Join(tmp, ArtifactFile(Native))
	if err := os.WriteFile(out, []byte("code"), 0o644); err != nil {
		t.Fatal(err)
	}
	digest, err := FileDigest(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.install(tmp, out, ui, &Artifact{Key: key, Tier: Native, Digest: digest, UIDigest: ui.Digest}); err != nil {
		t.Fatal(err)
	}
	art, err := b.Lookup(key)
	if err != nil || art.UIDigest != ui.Digest {
		t.Fatalf("lookup: %v, %v; want the entry with UI digest %s", art, err, ui.Digest)
	}
	meta, err := os.Stat(filepath.Join(b.artifactDir(key), "artifact.json"))
	if err != nil {
		t.Fatal(err)
	}
	entries, err := b.entries()
	if want := meta.Size() + int64(len("code")+len("<p>chart</p>")); err != nil || len(entries) != 1 || entries[0].bytes != want {
		t.Fatalf("cache entries %+v, %v: want one of %d bytes, its UI files counted", entries, err, want)
	}
	served := filepath.Join(b.artifactDir(key), "ui")
	for name, change := range map[string]func() error{
		"changed": func() error { return os.WriteFile(filepath.Join(served, "index.html"), []byte("<p>other</p>"), 0o644) },
		"added":   func() error { return os.WriteFile(filepath.Join(served, "more.js"), []byte("1"), 0o644) },
		"removed": func() error { return os.RemoveAll(served) },
	} {
		t.Run(name, func(t *testing.T) {
			if err := os.RemoveAll(served); err != nil {
				t.Fatal(err)
			}
			if err := ui.WriteTo(served); err != nil {
				t.Fatal(err)
			}
			if err := change(); err != nil {
				t.Fatal(err)
			}
			if _, err := b.Lookup(key); !errors.As(err, new(*TamperedError)) {
				t.Fatalf("lookup after the UI files were %s: %v, want a TamperedError", name, err)
			}
		})
	}
}
