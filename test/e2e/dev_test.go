package e2e

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestNewAndDev is an author's first minutes: `ksplugins new` scaffolds a
// plugin, `ksplugins dev` serves it, and an edit to its handler is live
// without a restart.
func TestNewAndDev(t *testing.T) {
	f := setup(t)
	work := t.TempDir()
	dir := filepath.Join(work, "hello2")
	cmd := exec.Command(f.bin, "new", "hello2", "--dir", dir)
	cmd.Dir = f.root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("new: %v\n%s", err, out)
	}

	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dev := exec.CommandContext(ctx, f.bin, "dev", dir, "--addr", addr, "--server", "http://"+addr)
	dev.Dir = work
	dev.Env = append(os.Environ(), "PLUGIN_CACHE_DIR="+f.cacheDir, "KSPLUGINS_DATA_DIR="+filepath.Join(work, "data"), "PLUGIN_DIR="+filepath.Join(work, "plugins"))
	out := &syncWriter{w: &bytes.Buffer{}}
	dev.Stdout, dev.Stderr = out, out
	if err := dev.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cancel()
		_ = dev.Wait()
		if t.Failed() {
			t.Logf("dev output:\n%s", out.String())
		}
	}()

	url := "http://" + addr + "/api/plugin-endpoints/hello2/hello"
	waitFor(t, url, "Hello from hello2!", 90*time.Second)

	main := filepath.Join(dir, "main.go")
	edit(t, main, "Hello from hello2!", "Hello again from hello2!")
	start := time.Now()
	waitFor(t, url, "Hello again from hello2!", 60*time.Second)
	t.Logf("saved to serving: %s", time.Since(start).Round(time.Millisecond))
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(out.String(), "reloaded hello2") {
		if time.Now().After(deadline) {
			t.Fatal("dev did not report the reload")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitFor polls url until its body contains want.
func waitFor(t *testing.T, url, want string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	var last string
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err == nil {
			var b bytes.Buffer
			_, _ = b.ReadFrom(resp.Body)
			resp.Body.Close()
			last = b.String()
			if strings.Contains(last, want) {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s never answered %q (last: %s)", url, want, last)
}
