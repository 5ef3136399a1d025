package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestSandboxMemory holds the sandbox's memory accounting to what the
// server process really spends (finding 6: a plugin capped at 512 MiB took
// the server from 0.9 GB to 2.9 GB resident with one request):
//
//   - a sandboxed plugin that allocates until its limit stops it raises the
//     server's resident set by no more than its limit plus a small margin;
//   - a load that would take the sum of the sandboxed instances' maximum
//     memory past sandbox.max_total_memory_mb is refused, naming it, and
//     the memory comes back to the budget when a plugin is unloaded;
//   - unloading gives the memory back to the OS.
func TestSandboxMemory(t *testing.T) {
	const (
		mib      = 1 << 20
		limitMiB = 256
		// marginMiB is what a busy instance may cost beyond its limit:
		// the request's and the guest's log lines on the host's heap.
		// Measured: under 8 MiB (internal/runtime/wasm BenchmarkRSS).
		marginMiB = 48
	)
	f := setup(t)
	s := startServer(t, f)
	pid := s.cmd.Process.Pid

	want(t, "set the budget", s.api("PUT", "/api/plugins/system/configuration",
		map[string]any{"sandbox": map[string]any{"max_total_memory_mb": 384}}), 200, "")
	r := s.api("GET", "/api/plugins/system/configuration", nil)
	if sb, _ := r.body["sandbox"].(map[string]any); sb["max_total_memory_mb"] != float64(384) {
		t.Fatalf("configuration after PUT: %s", r)
	}

	hostile := hostilePlugin(t, f, fmt.Sprintf(`id: hostile
name: Hostile
version: 1.0.0
description: allocates until its sandbox stops it
author: e2e
endpoints:
  - path: /alloc
    method: GET
    handler: alloc
security:
  sandboxed: true
sandbox:
  memory_mb: %d
`, limitMiB))
	before := procRSS(t, pid)
	want(t, "load hostile", s.api("POST", "/api/plugins/load", map[string]any{"source": hostile}), 201, "")
	idle := procRSS(t, pid)

	peak := peakDuring(t, pid, func() {
		want(t, "allocate until the limit", s.endpoint("GET", "hostile", "/alloc?chunk_mb=1"), 500, "plugin_crashed")
	})
	grew := peak - idle
	t.Logf("server resident: %d MiB before the load, %d MiB loaded and idle, %d MiB at the busy instance's peak (+%d MiB for a %d MiB limit)",
		before/mib, idle/mib, peak/mib, grew/mib, limitMiB)
	if grew > (limitMiB+marginMiB)*mib {
		t.Errorf("one busy instance with a %d MiB limit took the server %d MiB further; want at most %d MiB", limitMiB, grew/mib, limitMiB+marginMiB)
	}
	if !strings.Contains(s.logs.String(), "holding 192 MiB") {
		t.Errorf("the guest never got near its limit; the measure shows nothing:\n%s", s.logs.String())
	}

	// 256 MiB are held by hostile; another 256 MiB would pass 384.
	hello := copyPlugin(t, filepath.Join(f.root, "plugins/examples/hello"))
	sandbox(t, hello)
	appendFile(t, filepath.Join(hello, "plugin.yaml"), fmt.Sprintf("\nsandbox:\n  memory_mb: %d\n", limitMiB))
	r = s.api("POST", "/api/plugins/load", map[string]any{"source": hello})
	want(t, "a load past the budget", r, 403, "policy_refused")
	e, _ := r.body["error"].(map[string]any)
	details, _ := e["details"].(map[string]any)
	if msg, _ := e["message"].(string); details["rule"] != "sandbox.max_total_memory_mb" ||
		!strings.Contains(msg, "sandbox.max_total_memory_mb") || !strings.Contains(msg, "256 MiB") {
		t.Fatalf("the refusal does not say which setting refused it and why: %s", r)
	}
	want(t, "nothing was loaded", s.api("GET", "/api/plugins/"+helloID, nil), 404, "")

	want(t, "unload hostile", s.api("DELETE", "/api/plugins/hostile", nil), 200, "")
	after := procRSS(t, pid)
	t.Logf("server resident after the unload: %d MiB (%+d MiB from before the load)", after/mib, (after-before)/mib)
	if after-before > 32*mib {
		t.Errorf("the server kept %d MiB resident after the unload", (after-before)/mib)
	}
	want(t, "the unload gave the memory back to the budget", s.api("POST", "/api/plugins/load", map[string]any{"source": hello}), 201, "")
}

// hostilePlugin is a folder holding the sandbox tests' hostile guest with
// manifest as its plugin.yaml.
func hostilePlugin(t *testing.T, f fixture, manifest string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "hostile")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(filepath.Join(f.root, "internal/runtime/wasm/testdata/hostile/main.go"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "main.go"), src, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "plugin.yaml"), []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// procStatusOf reads fields of /proc/<pid>/status given in kB, in bytes.
func procStatusOf(t *testing.T, pid int, fields ...string) []int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("needs /proc: %v", err)
	}
	out := make([]int64, len(fields))
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		name, rest, _ := strings.Cut(sc.Text(), ":")
		for i, f := range fields {
			if name == f {
				kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
				out[i] = kb << 10
			}
		}
	}
	return out
}

// procRSS is the process's resident set once it has settled: the server's
// heap and the kernel's accounting move a little after a request.
func procRSS(t *testing.T, pid int) int64 {
	t.Helper()
	time.Sleep(300 * time.Millisecond)
	return procStatusOf(t, pid, "VmRSS")[0]
}

// peakDuring runs fn and returns the process's peak resident set while it
// ran: VmHWM after resetting it (Linux's clear_refs), and, where that
// cannot be reset, the highest VmRSS seen polling every 2 ms.
func peakDuring(t *testing.T, pid int, fn func()) int64 {
	t.Helper()
	reset := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0) == nil
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		seen int64
	)
	done := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
			if err != nil {
				continue
			}
			if _, rest, ok := strings.Cut(string(b), "\nVmRSS:"); ok {
				line, _, _ := strings.Cut(rest, "\n")
				kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(line), "kB")), 10, 64)
				mu.Lock()
				seen = max(seen, kb<<10)
				mu.Unlock()
			}
		}
	}()
	fn()
	close(done)
	wg.Wait()
	if reset {
		seen = max(seen, procStatusOf(t, pid, "VmHWM")[0])
	}
	return seen
}
