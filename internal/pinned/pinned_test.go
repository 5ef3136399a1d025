package pinned

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kubestellar/ksplugins/internal/build"
)

// TestKeep: a copy is made once, found by its digest, made again when it
// no longer has the digest its name says (never used as it is), and not
// hashed again when the caller opens the copy itself.
func TestKeep(t *testing.T) {
	const content = "the installed code"
	art := filepath.Join(t.TempDir(), "plugin.so")
	if err := os.WriteFile(art, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	digest, err := build.FileDigest(art)
	if err != nil {
		t.Fatal(err)
	}
	ways := []struct {
		name string
		keep func(d Dir, path string) (string, error)
	}{
		{"KeepFile", func(d Dir, path string) (string, error) { return d.KeepFile(path, digest) }},
		{"KeepBytes", func(d Dir, path string) (string, error) { return d.KeepBytes(path, digest, []byte(content)) }},
	}
	for _, w := range ways {
		t.Run(w.name, func(t *testing.T) {
			d := New(t.TempDir(), ".so")
			if _, ok := d.Lookup(digest); ok {
				t.Fatal("an empty folder has a copy")
			}
			kept, err := w.keep(d, art)
			if err != nil || kept != d.Path(digest) || filepath.Ext(kept) != ".so" {
				t.Fatalf("keep = %s, %v; want %s", kept, err, d.Path(digest))
			}
			if found, ok := d.Lookup(digest); !ok || found != kept {
				t.Fatalf("Lookup = %s, %v; want %s", found, ok, kept)
			}
			if err := os.WriteFile(kept, []byte("tampered"), 0o600); err != nil {
				t.Fatal(err)
			}
			// The copy itself is the caller's to check, as on a restore from it.
			if again, err := w.keep(d, kept); err != nil || again != kept {
				t.Fatalf("keep of the copy = %s, %v; want it as it is", again, err)
			}
			if got, _ := os.ReadFile(kept); string(got) != "tampered" {
				t.Fatalf("keeping the copy itself rewrote it: %q", got)
			}
			if again, err := w.keep(d, art); err != nil || again != kept {
				t.Fatalf("keep = %s, %v; want %s", again, err, kept)
			}
			if got, err := os.ReadFile(kept); err != nil || string(got) != content {
				t.Fatalf("the copy holds %q, %v; want the artifact's content again", got, err)
			}
		})
	}
}

// TestNewRemovesLeftovers: a temporary file a killed process left behind
// goes once it is old enough not to be another's copy under way.
func TestNewRemovesLeftovers(t *testing.T) {
	dir := t.TempDir()
	old, fresh := filepath.Join(dir, ".tmp-old"), filepath.Join(dir, ".tmp-fresh")
	for _, p := range []string{old, fresh} {
		if err := os.WriteFile(p, []byte("half"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	long := time.Now().Add(-time.Hour)
	if err := os.Chtimes(old, long, long); err != nil {
		t.Fatal(err)
	}
	New(dir, ".wasm")
	if _, err := os.Stat(old); !os.IsNotExist(err) {
		t.Errorf("the old leftover is still there: %v", err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("a copy under way was removed: %v", err)
	}
}
