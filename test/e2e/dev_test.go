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
	out := startDev(t, f, dir, addr, work,
		append(os.Environ(), "PLUGIN_CACHE_DIR="+f.cacheDir, "KSPLUGINS_DATA_DIR="+filepath.Join(work, "data"), "PLUGIN_DIR="+filepath.Join(work, "plugins")))

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

// TestNewOutsideCheckout is an author who installed only the ksplugins
// binary: `ksplugins new` in a folder outside any checkout writes a module
// that needs nothing fetched (GOPROXY=off here), whose go.mod points at the
// SDK the binary carries; `ksplugins test` passes there, and `ksplugins
// dev` serves it in both tiers.
func TestNewOutsideCheckout(t *testing.T) {
	f := setup(t)
	work := t.TempDir()
	cache := filepath.Join(work, "cache")
	// A cache folder of its own for the SDK, but Go's build cache as it
	// was: it would move with XDG_CACHE_HOME.
	gocache, err := exec.Command("go", "env", "GOCACHE").Output()
	if err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "XDG_CACHE_HOME="+cache, "GOCACHE="+strings.TrimSpace(string(gocache)), "GOPROXY=off", "GOWORK=off",
		"PLUGIN_CACHE_DIR="+f.cacheDir, "KSPLUGINS_DATA_DIR="+filepath.Join(work, "data"), "PLUGIN_DIR="+filepath.Join(work, "plugins"))
	run := func(name string, args ...string) string {
		t.Helper()
		cmd := exec.Command(f.bin, args...)
		cmd.Dir, cmd.Env = work, env
		start := time.Now()
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", name, err, out)
		}
		t.Logf("%s: %s", name, time.Since(start).Round(time.Millisecond))
		return string(out)
	}
	for _, name := range []string{"outside1", "outside2"} {
		out := run("new "+name, "new", name)
		if !strings.Contains(out, filepath.Join(cache, "ksplugins", "sdk")) {
			t.Errorf("new %s does not say where its SDK is: %s", name, out)
		}
	}
	gomod := string(readFile(t, filepath.Join(work, "outside1", "go.mod")))
	if !strings.Contains(gomod, "replace github.com/kubestellar/ksplugins => "+filepath.Join(cache, "ksplugins", "sdk")) {
		t.Fatalf("go.mod does not replace the SDK with the carried one:\n%s", gomod)
	}
	if out := run("test", "test", "outside1"); !strings.Contains(out, "ok") {
		t.Errorf("ksplugins test: %s", out)
	}
	// The second plugin runs sandboxed.
	edit(t, filepath.Join(work, "outside2", "plugin.yaml"), "\nendpoints:", "\nsecurity:\n  sandboxed: true\nendpoints:")

	addr := freeAddr(t)
	for _, name := range []string{"outside1", "outside2"} {
		startDev(t, f, name, addr, work, env)
		start := time.Now()
		waitFor(t, "http://"+addr+"/api/plugin-endpoints/"+name+"/hello", "Hello from "+name+"!", 3*time.Minute)
		t.Logf("dev %s serving after %s", name, time.Since(start).Round(time.Millisecond))
	}
	r := (&server{t: t, url: "http://" + addr}).call("GET", "/api/plugins/outside2", nil, false)
	if r.body["tier"] != "sandboxed" {
		t.Errorf("outside2 runs %v, want sandboxed: %s", r.body["tier"], r)
	}
}

// startDev runs `ksplugins dev dir` in work with env, against the server
// at addr or one it starts there, until the test ends, and returns its
// output, which a failed test logs.
func startDev(t *testing.T, f fixture, dir, addr, work string, env []string) *syncWriter {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	dev := exec.CommandContext(ctx, f.bin, "dev", dir, "--addr", addr, "--server", "http://"+addr)
	dev.Dir, dev.Env = work, env
	out := &syncWriter{w: &bytes.Buffer{}}
	dev.Stdout, dev.Stderr = out, out
	if err := dev.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = dev.Wait()
		if t.Failed() {
			t.Logf("dev %s output:\n%s", dir, out.String())
		}
	})
	return out
}
