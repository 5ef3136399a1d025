package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// helloBody is what GET /hello answers, from the plugin and from the
// plain gin server alike.
const helloBody = `{"message":"Hello from plugin!"}`

// The CPUs BenchmarkThroughput pins to: the servers share one, the load
// generator has the other, so that it does not take the servers' time.
const (
	serverCPU = 1
	loadCPU   = 0
)

// throughputSettings are BenchmarkThroughput's knobs, from the environment.
type throughputSettings struct {
	clients  int           // concurrent keep-alive clients
	duration time.Duration // measured time of one target in one round
	warmUp   time.Duration // unmeasured load before each measurement
	rounds   int           // rounds of plain gin, native, sandboxed
	pool     int           // the sandboxed plugin's sandbox.pool_size; 0 keeps the default
}

// throughputSettingsFromEnv reads E2E_THROUGHPUT_CLIENTS (default 16),
// E2E_THROUGHPUT_DURATION (3s), E2E_THROUGHPUT_WARMUP (500ms),
// E2E_THROUGHPUT_ROUNDS (3) and E2E_THROUGHPUT_POOL (unset: the
// sandbox's default pool of one instance).
func throughputSettingsFromEnv(b *testing.B) throughputSettings {
	b.Helper()
	s := throughputSettings{clients: 16, duration: 3 * time.Second, warmUp: 500 * time.Millisecond, rounds: 3}
	for name, n := range map[string]*int{"E2E_THROUGHPUT_CLIENTS": &s.clients, "E2E_THROUGHPUT_ROUNDS": &s.rounds, "E2E_THROUGHPUT_POOL": &s.pool} {
		if v := os.Getenv(name); v != "" {
			i, err := strconv.Atoi(v)
			if err != nil || i < 0 || (i == 0 && name != "E2E_THROUGHPUT_POOL") {
				b.Fatalf("%s=%q: want a positive whole number", name, v)
			}
			*n = i
		}
	}
	for name, d := range map[string]*time.Duration{"E2E_THROUGHPUT_DURATION": &s.duration, "E2E_THROUGHPUT_WARMUP": &s.warmUp} {
		if v := os.Getenv(name); v != "" {
			t, err := time.ParseDuration(v)
			if err != nil || t < 0 {
				b.Fatalf("%s=%q: want a duration such as 3s", name, v)
			}
			*d = t
		}
	}
	return s
}

// BenchmarkThroughput loads GET /hello over HTTP, with keep-alive clients,
// from three servers: a plain gin server answering with the hello
// example's handler (testdata/plaingin, its own process), and the real
// server with the hello example loaded twice, natively (hello-native) and
// sandboxed (hello-sandboxed). Both server processes share one CPU and
// the load generator has the other. Rounds are interleaved (plain gin,
// native, sandboxed, again), each target measured for the same time after
// a warm-up; any answer but 200 with the expected body fails the run.
// It reports each target's requests per second (median over rounds) and
// the tiers' ratios to plain gin; and the same ratios of requests per
// second of the serving process's CPU time (-per-cpu), which hold better
// when other work on the machine takes the servers' CPU. Each round's log
// line says whether a server was the bottleneck: its CPU time near 1, the
// servers' CPU not idle.
//
// It runs only with -bench (settings: throughputSettingsFromEnv):
//
//	cd test/e2e && go test -trimpath -count=1 -run '^$' -bench BenchmarkThroughput -benchtime 1x .
func BenchmarkThroughput(b *testing.B) {
	set := throughputSettingsFromEnv(b)
	f := setup(b)

	s := startServerArgs(b, f, freeAddr(b), filepath.Join(b.TempDir(), "data"), f.cacheDir, nil)
	for _, tier := range []string{"native", "sandboxed"} {
		dir := copyPlugin(b, filepath.Join(f.root, "plugins/examples/hello"))
		manifest := filepath.Join(dir, "plugin.yaml")
		// Two copies need two ids, in the manifest and in GetMetadata.
		edit(b, manifest, "id: my-plugin", "id: hello-"+tier)
		edit(b, filepath.Join(dir, "main.go"), `ID:          "my-plugin"`, `ID:          "hello-`+tier+`"`)
		if tier == "sandboxed" {
			extra := "\nsecurity:\n  sandboxed: true"
			if set.pool > 0 {
				// More than one instance needs stateless; the hello
				// example keeps nothing between requests.
				extra += fmt.Sprintf("\nsandbox:\n  pool_size: %d\n  stateless: true", set.pool)
			}
			edit(b, manifest, "\nendpoints:", extra+"\nendpoints:")
		}
		r := s.api("POST", "/api/plugins/load", map[string]any{"source": dir})
		want(b, "load hello-"+tier, r, 201, "")
		if r.body["tier"] != tier {
			b.Fatalf("hello-%s loaded in tier %v", tier, r.body["tier"])
		}
		if lim, ok := r.body["sandbox"].(map[string]any); ok {
			b.Logf("hello-%s sandbox: %v", tier, lim)
		}
	}
	plain, plainURL := startPlainGin(b, f)

	// Pinned after the loads, so that the plugins' builds had both cores.
	pinned := true
	for what, p := range map[string]struct{ pid, cpu int }{
		"the server":       {s.cmd.Process.Pid, serverCPU},
		"plain gin":        {plain.Process.Pid, serverCPU},
		"the load clients": {os.Getpid(), loadCPU},
	} {
		if err := pinToCPU(p.pid, p.cpu); err != nil {
			b.Logf("not pinned: %s: %v", what, err)
			pinned = false
		}
	}
	if pinned {
		b.Logf("pinned: both servers to CPU %d, the load clients to CPU %d", serverCPU, loadCPU)
		// Go's runtime notices the narrower mask within about a second
		// and lowers GOMAXPROCS to 1; no round should start before.
		time.Sleep(2 * time.Second)
	}

	targets := []struct {
		name, url string
		pid       int // the process serving url
	}{
		{"plain", plainURL + "/hello", plain.Process.Pid},
		{"native", s.url + "/api/plugin-endpoints/hello-native/hello", s.cmd.Process.Pid},
		{"sandboxed", s.url + "/api/plugin-endpoints/hello-sandboxed/hello", s.cmd.Process.Pid},
	}
	client := &http.Client{Transport: &http.Transport{
		MaxIdleConns:        2 * set.clients * len(targets),
		MaxIdleConnsPerHost: 2 * set.clients,
		IdleConnTimeout:     time.Minute,
	}}
	defer client.CloseIdleConnections()

	// rates are requests per second; perCPU requests per second of the
	// serving process's CPU time, which other work on the machine taking
	// the servers' CPU changes less.
	rates, perCPU := map[string][]float64{}, map[string][]float64{}
	b.ResetTimer()
	for range b.N {
		for round := range set.rounds {
			line := fmt.Sprintf("round %d:", round+1)
			for _, t := range targets {
				if set.warmUp > 0 {
					if _, err := load(b.Context(), client, t.url, set.clients, set.warmUp); err != nil {
						b.Fatalf("%s warm-up: %v", t.name, err)
					}
				}
				// The CPU time each side used tells whether the server
				// was the bottleneck (near 1 CPU) or the clients were.
				// The idle time of the servers' CPU tells the server
				// waiting (idle) from other processes taking the CPU.
				served, clients, idle := cpuTime(b, t.pid), cpuTime(b, os.Getpid()), idleTime(b, serverCPU)
				began := time.Now()
				rate, err := load(b.Context(), client, t.url, set.clients, set.duration)
				if err != nil {
					b.Fatalf("%s: %v", t.name, err)
				}
				wall := time.Since(began).Seconds()
				served, clients, idle = cpuTime(b, t.pid)-served, cpuTime(b, os.Getpid())-clients, idleTime(b, serverCPU)-idle
				rates[t.name] = append(rates[t.name], rate)
				perCPU[t.name] = append(perCPU[t.name], rate*wall/served.Seconds())
				line += fmt.Sprintf(" %s %.0f req/s (server %.2f CPU, clients %.2f, CPU %d idle %.2f);",
					t.name, rate, served.Seconds()/wall, clients.Seconds()/wall, serverCPU, idle.Seconds()/wall)
			}
			b.Log(line)
		}
	}
	b.StopTimer()

	medians, cpuMedians := map[string]float64{}, map[string]float64{}
	for _, t := range targets {
		medians[t.name], cpuMedians[t.name] = median(rates[t.name]), median(perCPU[t.name])
		b.ReportMetric(medians[t.name], t.name+"-req/s")
		b.Logf("%s: median %.0f req/s, range %.0f-%.0f; median %.0f per server CPU-second, range %.0f-%.0f", t.name,
			medians[t.name], slices.Min(rates[t.name]), slices.Max(rates[t.name]),
			cpuMedians[t.name], slices.Min(perCPU[t.name]), slices.Max(perCPU[t.name]))
	}
	b.ReportMetric(medians["native"]/medians["plain"], "native/plain")
	b.ReportMetric(medians["sandboxed"]/medians["plain"], "sandboxed/plain")
	b.ReportMetric(cpuMedians["native"]/cpuMedians["plain"], "native/plain-per-cpu")
	b.ReportMetric(cpuMedians["sandboxed"]/cpuMedians["plain"], "sandboxed/plain-per-cpu")
	b.ReportMetric(0, "ns/op") // a whole run per op says nothing
}

// load has clients goroutines GET url back to back over keep-alive
// connections for d, and answers the requests per second completed. Any
// answer but 200 with helloBody is an error and stops the load.
func load(ctx context.Context, client *http.Client, url string, clients int, d time.Duration) (float64, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		total int
	)
	began := time.Now()
	end := began.Add(d)
	for range clients {
		wg.Go(func() {
			n, err := getUntil(ctx, client, url, end)
			if err != nil {
				cancel(err)
			}
			mu.Lock()
			total += n
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(began)
	if err := context.Cause(ctx); err != nil {
		return 0, err
	}
	return float64(total) / elapsed.Seconds(), nil
}

// getUntil GETs url until end, one request at a time, and answers how
// many were answered as expected.
func getUntil(ctx context.Context, client *http.Client, url string, end time.Time) (int, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return 0, fmt.Errorf("make the request: %w", err)
	}
	want := []byte(helloBody)
	var buf bytes.Buffer
	n := 0
	for time.Now().Before(end) {
		resp, err := client.Do(req)
		if err != nil {
			if ctx.Err() != nil { // another client failed first
				return n, nil
			}
			return n, fmt.Errorf("GET %s: %w", url, err)
		}
		buf.Reset()
		_, err = buf.ReadFrom(resp.Body)
		resp.Body.Close()
		if err != nil {
			return n, fmt.Errorf("read the answer of GET %s: %w", url, err)
		}
		if resp.StatusCode != http.StatusOK || !bytes.Equal(bytes.TrimSpace(buf.Bytes()), want) {
			return n, fmt.Errorf("GET %s after %d good answers: %s %s", url, n, resp.Status, buf.String())
		}
		n++
	}
	return n, nil
}

// userHZ is the unit of the CPU times in /proc/<pid>/stat, fixed at 100
// by Linux's interface to user space whatever the kernel's own tick.
const userHZ = 100

// cpuTime answers the CPU time, user and system, that process pid has
// used so far.
func cpuTime(b *testing.B, pid int) time.Duration {
	b.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatalf("read the CPU time of %d: %v", pid, err)
	}
	// The command name, in parentheses, may hold spaces; utime and stime
	// are the 12th and 13th fields after it.
	fields := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+1:]))
	if len(fields) < 13 {
		b.Fatalf("/proc/%d/stat: %d fields after the name", pid, len(fields))
	}
	return ticksTime(b, fields[11:13], fmt.Sprintf("/proc/%d/stat", pid))
}

// ticksTime is the sum of fields, clock ticks as /proc counts them, as a
// duration; what names where they were read, for errors.
func ticksTime(b *testing.B, fields []string, what string) time.Duration {
	b.Helper()
	var ticks int64
	for _, f := range fields {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			b.Fatalf("%s: %v", what, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / userHZ
}

// idleTime answers the time CPU cpu has been idle (or waiting on I/O)
// since the machine started.
func idleTime(b *testing.B, cpu int) time.Duration {
	b.Helper()
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		b.Fatalf("read /proc/stat: %v", err)
	}
	prefix := fmt.Sprintf("cpu%d ", cpu)
	for line := range strings.Lines(string(data)) {
		if !strings.HasPrefix(line, prefix) {
			continue
		}
		// user nice system idle iowait ...
		fields := strings.Fields(line)
		if len(fields) < 6 {
			break
		}
		return ticksTime(b, fields[4:6], "/proc/stat "+prefix)
	}
	b.Fatalf("/proc/stat has no line for CPU %d", cpu)
	return 0
}

// median answers the middle of xs, or the mean of the middle two.
func median(xs []float64) float64 {
	s := slices.Sorted(slices.Values(xs))
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// startPlainGin builds testdata/plaingin with the server's build flags and
// starts it on a free loopback address, ready to answer; it answers the
// process and the server's URL. The benchmark's cleanup stops it.
func startPlainGin(b *testing.B, f fixture) (*exec.Cmd, string) {
	b.Helper()
	bin := filepath.Join(b.TempDir(), "plaingin")
	build := exec.Command("go", append(append([]string{"build", "-o", bin}, f.flags...), "./testdata/plaingin")...)
	build.Dir = filepath.Join(f.root, "test", "e2e")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("build plain gin: %v\n%s", err, out)
	}
	addr := freeAddr(b)
	cmd := exec.Command(bin, "-addr", addr)
	logs := &syncWriter{w: &bytes.Buffer{}}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		b.Fatalf("start plain gin: %v", err)
	}
	b.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if b.Failed() {
			b.Logf("plain gin's log:\n%s", logs.String())
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/hello")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return cmd, "http://" + addr
			}
			err = errors.New(resp.Status)
		}
		if time.Now().After(deadline) {
			b.Fatalf("plain gin did not answer: %v\n%s", err, logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// pinToCPU confines every thread of process pid to cpu: with taskset when the
// machine has it, else with sched_setaffinity on each thread. Threads the
// process starts later inherit the mask of the thread that starts them.
func pinToCPU(pid, cpu int) error {
	var all unix.CPUSet
	if err := unix.SchedGetaffinity(pid, &all); err != nil {
		return fmt.Errorf("read the CPUs of %d: %w", pid, err)
	}
	if !all.IsSet(cpu) || all.Count() < 2 {
		return fmt.Errorf("process %d may run on %d CPUs, not CPU %d and another", pid, all.Count(), cpu)
	}
	if taskset, err := exec.LookPath("taskset"); err == nil {
		out, err := exec.Command(taskset, "--all-tasks", "--cpu-list", "--pid", strconv.Itoa(cpu), strconv.Itoa(pid)).CombinedOutput()
		if err != nil {
			return fmt.Errorf("taskset %d: %v: %s", pid, err, strings.TrimSpace(string(out)))
		}
		return nil
	}
	var one unix.CPUSet
	one.Set(cpu)
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return fmt.Errorf("list the threads of %d: %w", pid, err)
	}
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		if err := unix.SchedSetaffinity(tid, &one); err != nil && !errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("pin thread %d of %d: %w", tid, pid, err)
		}
	}
	return nil
}
