package e2e

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// BenchmarkFirstSandboxedInstall measures a fresh machine's first
// sandboxed install: a server with a Go build cache, a wazero compilation
// cache and a data folder of its own, all empty, as after installing the
// server. Only the module cache is shared, and with GOPROXY=off nothing is
// fetched.
//
// warm-up: the server warms the build cache up on its start; warm-up-s is
// how long its operation ran. Once it succeeded, two plugins as `ksplugins
// new` writes them are installed sandboxed one after the other, each with
// an id and a greeting of its own; first-install-s and second-install-s
// are the time from the load request to the plugin's first answer,
// first/second their ratio, and first-build-s and second-build-s the part
// of each that was its building step (the rest is mostly wazero compiling
// the new module, which no warm-up can do ahead).
//
// no-warm-up: the same server with the warm-up off; first-install-s and
// first-build-s are the first install's, which compiles what the warm-up
// would have.
//
// Each server compiles Go's standard library for WebAssembly from nothing,
// so it runs only with -bench and takes minutes:
//
//	cd test/e2e && go test -trimpath -count=1 -run '^$' -bench BenchmarkFirstSandboxedInstall -benchtime 1x -timeout 30m .
func BenchmarkFirstSandboxedInstall(b *testing.B) {
	f := setup(b)
	b.Run("warm-up", func(b *testing.B) {
		var warm, first, second, firstBuild, secondBuild time.Duration
		for i := range b.N {
			s := freshServer(b, f, true)
			warm += waitWarmUp(b, s)
			took, build := timeInstall(b, s, newSandboxed(b, f, fmt.Sprintf("first-install-a%d", i)))
			first, firstBuild = first+took, firstBuild+build
			took, build = timeInstall(b, s, newSandboxed(b, f, fmt.Sprintf("first-install-b%d", i)))
			second, secondBuild = second+took, secondBuild+build
			s.kill()
		}
		b.ReportMetric(0, "ns/op")
		b.ReportMetric(warm.Seconds()/float64(b.N), "warm-up-s")
		b.ReportMetric(first.Seconds()/float64(b.N), "first-install-s")
		b.ReportMetric(second.Seconds()/float64(b.N), "second-install-s")
		b.ReportMetric(first.Seconds()/second.Seconds(), "first/second")
		b.ReportMetric(firstBuild.Seconds()/float64(b.N), "first-build-s")
		b.ReportMetric(secondBuild.Seconds()/float64(b.N), "second-build-s")
	})
	b.Run("no-warm-up", func(b *testing.B) {
		var first, firstBuild time.Duration
		for i := range b.N {
			s := freshServer(b, f, false)
			took, build := timeInstall(b, s, newSandboxed(b, f, fmt.Sprintf("first-install-c%d", i)))
			first, firstBuild = first+took, firstBuild+build
			s.kill()
		}
		b.ReportMetric(0, "ns/op")
		b.ReportMetric(first.Seconds()/float64(b.N), "first-install-s")
		b.ReportMetric(firstBuild.Seconds()/float64(b.N), "first-build-s")
	})
}

// freshServer starts a server on empty folders: data, its cache folder
// (built plugins and wazero's compilation cache) and GOCACHE.
func freshServer(b *testing.B, f fixture, warmUp bool) *server {
	b.Helper()
	work := b.TempDir()
	return startServerArgs(b, f, freeAddr(b), filepath.Join(work, "data"), filepath.Join(work, "cache"), nil,
		"GOCACHE="+filepath.Join(work, "gocache"), "GOPROXY=off", fmt.Sprintf("KSPLUGINS_WARM_UP=%t", warmUp))
}

// waitWarmUp waits for the server's warm-up to succeed and returns how
// long its operation ran.
func waitWarmUp(b *testing.B, s *server) time.Duration {
	b.Helper()
	for deadline := time.Now().Add(20 * time.Minute); ; time.Sleep(500 * time.Millisecond) {
		r := s.api("GET", "/api/plugins/system/warm-up", nil)
		switch st := r.body["state"]; {
		case r.status != 200 || st == "failed" || st == "off":
			b.Fatalf("the warm-up: %s", r)
		case st == "succeeded":
			op, _ := r.body["operation"].(map[string]any)
			began, err1 := time.Parse(time.RFC3339Nano, fmt.Sprint(op["created_at"]))
			ended, err2 := time.Parse(time.RFC3339Nano, fmt.Sprint(op["finished_at"]))
			if err1 != nil || err2 != nil {
				b.Fatalf("the warm-up's times: %s", r)
			}
			return ended.Sub(began)
		case time.Now().After(deadline):
			b.Fatalf("the warm-up did not finish in 20 minutes: %s", r)
		}
	}
}

// newSandboxed writes a plugin as `ksplugins new` does, marked sandboxed,
// with a greeting of its own, and returns its folder.
func newSandboxed(b *testing.B, f fixture, id string) string {
	b.Helper()
	dir := filepath.Join(b.TempDir(), id)
	cmd := exec.Command(f.bin, "new", id, "--dir", dir)
	cmd.Dir = f.root
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("new %s: %v\n%s", id, err, out)
	}
	edit(b, filepath.Join(dir, "plugin.yaml"), "\nendpoints:", "\nsecurity:\n  sandboxed: true\nendpoints:")
	edit(b, filepath.Join(dir, "main.go"), `"Hello from `+id+`!"`, `"Good day from `+id+`!"`)
	return dir
}

// timeInstall loads the plugin in dir and returns how long it took from
// the request to the plugin's first answer with its greeting, and how long
// of that its building step took. It logs each step of the install.
func timeInstall(b *testing.B, s *server, dir string) (took, build time.Duration) {
	b.Helper()
	id := filepath.Base(dir)
	began := time.Now()
	r := s.api("POST", "/api/plugins/load?async=true", map[string]any{"source": dir})
	want(b, "load "+id, r, 202, "")
	opPath := "/api/plugins/operations/" + fmt.Sprint(r.body["id"])
	for deadline := began.Add(20 * time.Minute); ; time.Sleep(10 * time.Millisecond) {
		if r := s.endpoint("GET", id, "/hello"); r.status == 200 && r.body["message"] == "Good day from "+id+"!" {
			break
		}
		if op := s.api("GET", opPath, nil); op.body["state"] == "failed" || time.Now().After(deadline) {
			b.Fatalf("install %s: %s", id, op)
		}
	}
	took = time.Since(began)
	// The plugin may answer a moment before its operation records the end.
	op := s.api("GET", opPath, nil)
	for end := time.Now().Add(10 * time.Second); op.body["state"] == "running" && time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		op = s.api("GET", opPath, nil)
	}
	steps, _ := op.body["steps"].([]any)
	var parts []string
	for _, st := range steps {
		st, _ := st.(map[string]any)
		from, err1 := time.Parse(time.RFC3339Nano, fmt.Sprint(st["started_at"]))
		to, err2 := time.Parse(time.RFC3339Nano, fmt.Sprint(st["finished_at"]))
		if err1 == nil && err2 == nil {
			if st["name"] == "building" {
				build = to.Sub(from)
			}
			parts = append(parts, fmt.Sprintf("%s %.2fs", st["name"], to.Sub(from).Seconds()))
		}
	}
	b.Logf("install %s: %.2fs to the first answer; %s", id, took.Seconds(), strings.Join(parts, ", "))
	return took, build
}
