package e2e

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// restartPlugins is how many plugins of each tier BenchmarkRestart's
// server holds.
const restartPlugins = 10

// BenchmarkRestart kills a server holding restartPlugins native and
// restartPlugins sandboxed plugins with SIGKILL and starts it again on the
// same data and caches, as after a crash: port-ms is how long after the
// start its port accepted a connection, ready-ms when GET /readyz first
// answered 200 (every plugin back), and restoring-answers how many calls to
// a plugin, made meanwhile every 5 ms, were answered 503 plugin_restoring
// before it served.
//
// It runs only with -bench (the twenty builds take minutes the first time):
//
//	cd test/e2e && go test -trimpath -count=1 -run '^$' -bench BenchmarkRestart -benchtime 3x .
func BenchmarkRestart(b *testing.B) {
	f := setup(b)
	work := b.TempDir()
	data, cache := filepath.Join(work, "data"), filepath.Join(work, "cache")
	addr := freeAddr(b)
	s := startServerArgs(b, f, addr, data, cache, nil)
	var last string
	for tier, sandboxed := range map[string]bool{"native": false, "sandboxed": true} {
		for i := range restartPlugins {
			name := fmt.Sprintf("restart-%s-%d", tier, i)
			dir := filepath.Join(work, "src", name)
			cmd := exec.Command(f.bin, "new", name, "--dir", dir)
			cmd.Dir = f.root // builds against this checkout's SDK
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("new %s: %v\n%s", name, err, out)
			}
			if sandboxed {
				edit(b, filepath.Join(dir, "plugin.yaml"), "\nendpoints:", "\nsecurity:\n  sandboxed: true\nendpoints:")
			}
			want(b, "load "+name, s.api("POST", "/api/plugins/load", map[string]any{"source": dir}), 201, "")
			last = name
		}
	}
	s.kill()

	b.ResetTimer()
	var port, ready time.Duration
	restoring := 0
	for range b.N {
		began := time.Now()
		cmd := exec.Command(f.bin, "serve", "--addr", addr, "--data-dir", data, "--cache-dir", cache, "--plugin-dir", filepath.Join(data, "plugins"))
		cmd.Env = append(os.Environ(), "KSPLUGINS_TOKEN=e2e-token", "KSPLUGINS_WARM_UP=false")
		cmd.Dir = f.root
		var logs bytes.Buffer
		cmd.Stdout, cmd.Stderr = &logs, &logs
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		deadline := began.Add(time.Minute)
		for {
			if c, err := net.DialTimeout("tcp", addr, 50*time.Millisecond); err == nil {
				c.Close()
				break
			}
			if time.Now().After(deadline) {
				_ = cmd.Process.Kill()
				b.Fatalf("the port did not open:\n%s", logs.String())
			}
			time.Sleep(time.Millisecond)
		}
		port += time.Since(began)
		for {
			if resp, err := http.Get("http://" + addr + "/api/plugin-endpoints/" + last + "/hello"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusServiceUnavailable {
					restoring++
				}
			}
			resp, err := http.Get("http://" + addr + "/readyz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
			if time.Now().After(deadline) {
				_ = cmd.Process.Kill()
				b.Fatalf("not ready within a minute:\n%s", logs.String())
			}
			time.Sleep(5 * time.Millisecond)
		}
		ready += time.Since(began)
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}
	b.ReportMetric(float64(port.Milliseconds())/float64(b.N), "port-ms")
	b.ReportMetric(float64(ready.Milliseconds())/float64(b.N), "ready-ms")
	b.ReportMetric(float64(restoring)/float64(b.N), "restoring-answers")
}
