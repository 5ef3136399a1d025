package build

import (
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"
	"time"
)

// TestNewRemovesLeftovers checks that a new builder removes the work
// folders of builds that died, and leaves those of running builds.
func TestNewRemovesLeftovers(t *testing.T) {
	cache := t.TempDir()
	opts := Options{CacheDir: cache, SDK: fstest.MapFS{}}
	running, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	held, unlock, err := running.workDir("held")
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	dead, deadUnlock, err := running.workDir("dead")
	if err != nil {
		t.Fatal(err)
	}
	deadUnlock() // as the kernel does when a process is killed
	work := filepath.Join(cache, "work")
	old, young := filepath.Join(work, "old-1"), filepath.Join(work, "young-1")
	for _, dir := range []string{old, young, filepath.Join(cache, "sdk", ".tmp-sdk-1")} {
		if err := os.MkdirAll(filepath.Join(dir, "host"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	past := time.Now().Add(-time.Hour)
	for _, dir := range []string{held, dead, old, filepath.Join(cache, "sdk", ".tmp-sdk-1")} {
		if err := os.Chtimes(dir, past, past); err != nil {
			t.Fatal(err)
		}
	}

	if _, err := New(opts); err != nil {
		t.Fatal(err)
	}
	for dir, kept := range map[string]bool{
		held:  true,  // a running build's
		young: true,  // perhaps a build that has not locked it yet
		dead:  false, // its build died
		old:   false, // an old builder's, without a lock
		filepath.Join(cache, "sdk", ".tmp-sdk-1"): false,
	} {
		_, err := os.Stat(dir)
		if got := err == nil; got != kept {
			t.Errorf("%s: kept = %v; want %v", filepath.Base(dir), got, kept)
		}
	}
}
