package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/kubestellar/ksplugins/internal/pgtest"
)

// postgresURL starts a throwaway PostgreSQL server for the test and returns
// the URL of a fresh database on it. Without the server binaries the test
// is skipped, or fails when they are required (make test requires them).
func postgresURL(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pg, err := pgtest.Start(ctx)
	if errors.Is(err, pgtest.ErrNoBinaries) && os.Getenv(pgtest.RequireEnv) != "1" {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := pg.Stop(); err != nil {
			t.Error(err)
		}
	})
	return pg.Database(t)
}

// within polls cond every 10 ms until it holds and returns how long that
// took, or fails the test after limit, saying what did not happen.
func within(t testing.TB, limit time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	began := time.Now()
	for !cond() {
		if time.Since(began) > limit {
			t.Fatalf("%s: not within %v", what, limit)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(began)
}

// replica is one of several servers on one database, which a test can
// stop and start again on the same address and folders.
type replica struct {
	*server
	f                 fixture
	addr, data, cache string
	env               []string
}

// startReplicas starts n servers on one fresh PostgreSQL database, each
// with its own data and cache folders; the first uses the fixture's warm
// build cache, the others an empty one, so that they have built nothing.
func startReplicas(t testing.TB, f fixture, n int) []*replica {
	t.Helper()
	env := []string{"KSPLUGINS_DATABASE_URL=" + postgresURL(t), "KSPLUGINS_SHUTDOWN_DELAY=300ms"}
	var rs []*replica
	for i := range n {
		dir := t.TempDir()
		r := &replica{f: f, addr: freeAddr(t), data: filepath.Join(dir, "data"), cache: filepath.Join(dir, "cache"), env: env}
		if i == 0 {
			r.cache = f.cacheDir
		}
		r.start(t)
		rs = append(rs, r)
	}
	return rs
}

// start starts the replica's server and waits until it is ready.
func (r *replica) start(t testing.TB) {
	t.Helper()
	r.server = startServerArgs(t, r.f, r.addr, r.data, r.cache, nil, r.env...)
}

// stop sends the replica's server SIGTERM, as Kubernetes does, and waits
// for it to end.
func (r *replica) stop(t testing.TB) {
	t.Helper()
	if err := r.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := r.cmd.Wait(); err != nil {
		t.Fatalf("%s did not stop cleanly on SIGTERM: %v\n%s", r.url, err, r.logs.String())
	}
}

// TestReplicas runs three servers on one PostgreSQL database, each with
// its own data and cache folders, as replicas behind a Service would: a
// change made through any one of them reaches the other two within a
// second, without their building anything (the artifact comes through the
// database, checked against its digest).
func TestReplicas(t *testing.T) {
	f := setup(t)
	rs := startReplicas(t, f, 3)
	replicas := []*server{rs[0].server, rs[1].server, rs[2].server}
	a, b, c := replicas[0], replicas[1], replicas[2]
	greet := func(s *server) reply { return s.endpoint("GET", helloID, "/greet/ada") }

	want(t, "load through A", a.api("POST", "/api/plugins/load", map[string]any{"source": copyPlugin(t, filepath.Join(f.root, "plugins/examples/hello"))}), 201, "")
	for _, s := range []*server{b, c} {
		d := within(t, time.Second, "the plugin loaded through A serves on "+s.url, func() bool { return greet(s).status == 200 })
		t.Logf("loaded through A, serving on %s after %v", s.url, d)
	}
	if r := b.api("GET", "/api/plugins/"+helloID, nil); r.status != 200 || r.body["state"] != "active" {
		t.Fatalf("B's view of the plugin: %s", r)
	}
	// B's event stream carries what happened on A, named for A.
	within(t, time.Second, "B's events include A's install", func() bool {
		list, _ := b.api("GET", "/api/plugins/events?since=0", nil).body["events"].([]any)
		for _, e := range list {
			if m := e.(map[string]any); m["type"] == "loaded" && m["actor"] == "admin" && m["replica"] != nil && m["replica"] != "" {
				return true
			}
		}
		return false
	})
	// Any replica shows where the plugin runs, at which digest.
	digest := a.api("GET", "/api/plugins/"+helloID, nil).body["artifact"].(map[string]any)["digest"]
	within(t, 2*time.Second, "C shows the plugin active at A's digest on all three replicas", func() bool {
		got, _ := c.api("GET", "/api/plugins/"+helloID, nil).body["replicas"].([]any)
		if len(got) != 3 {
			return false
		}
		for _, r := range got {
			if m := r.(map[string]any); m["state"] != "active" || m["digest"] != digest {
				return false
			}
		}
		return true
	})
	// B and C fetched the artifact A built, and built nothing.
	if n, _ := filepath.Glob(filepath.Join(rs[1].cache, "fetched", "*", "*", "plugin.so")); len(n) != 1 {
		t.Fatalf("B's fetched artifacts: %v; want the one A built", n)
	}

	want(t, "disable through B", b.api("POST", "/api/plugins/"+helloID+"/disable", nil), 200, "")
	for _, s := range []*server{a, c} {
		d := within(t, time.Second, "the plugin disabled through B stops on "+s.url, func() bool { return greet(s).status == 503 })
		t.Logf("disabled through B, stopped on %s after %v", s.url, d)
	}
	want(t, "enable through A", a.api("POST", "/api/plugins/"+helloID+"/enable", nil), 200, "")
	want(t, "configure through C", c.api("PUT", "/api/plugins/"+helloID+"/configuration", map[string]any{"greeting": "Hej"}), 200, "")
	for _, s := range []*server{a, b} {
		d := within(t, time.Second, "the configuration set through C reaches "+s.url, func() bool {
			r := greet(s)
			return r.status == 200 && r.body["message"] == "Hej, ada!"
		})
		t.Logf("configured through C, in force on %s after %v", s.url, d)
	}

	want(t, "unload through C", c.api("DELETE", "/api/plugins/"+helloID, nil), 200, "")
	for _, s := range []*server{a, b} {
		within(t, time.Second, "the plugin unloaded through C leaves "+s.url, func() bool { return greet(s).status == 404 })
	}

	// The same plugin installed through B and C at once: one install
	// wins, the other is refused with 409 and leaves nothing, and all
	// three serve the winner's.
	src := copyPlugin(t, filepath.Join(f.root, "plugins/examples/hello"))
	replies := make(chan reply, 2)
	for _, s := range []*server{b, c} {
		go func() { replies <- s.call("POST", "/api/plugins/load", map[string]any{"source": src}, true) }()
	}
	first, second := <-replies, <-replies
	if first.status+second.status != 201+409 || (first.status == 409 && first.errorCode() != "plugin_exists") || (second.status == 409 && second.errorCode() != "plugin_exists") {
		t.Fatalf("two installs of one plugin at once: %s and %s; want one 201 and one 409 plugin_exists", first, second)
	}
	for _, s := range replicas {
		within(t, time.Second, "the winning install serves on "+s.url, func() bool { return greet(s).status == 200 })
	}

	// kill -9 of A in the middle of an install: B and C go on serving,
	// and A, started again, comes to the state the other two have.
	other := copyPlugin(t, filepath.Join(f.root, "plugins/examples/hello"))
	edit(t, filepath.Join(other, "plugin.yaml"), "id: my-plugin", "id: other")
	edit(t, filepath.Join(other, "main.go"), `ID:          "my-plugin"`, `ID:          "other"`)
	go func() {
		body, _ := json.Marshal(map[string]any{"source": other})
		req, _ := http.NewRequest("POST", a.url+"/api/plugins/load", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+a.token)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close() // the install may or may not have got that far
		}
	}()
	time.Sleep(300 * time.Millisecond) // building
	rs[0].kill()
	for range 20 {
		for _, s := range []*server{b, c} {
			if r := greet(s); r.status != 200 {
				t.Fatalf("%s while A was down: %s", s.url, r)
			}
		}
	}
	rs[0].start(t)
	a = rs[0].server
	within(t, 2*time.Second, "A, started again, has what B and C have", func() bool {
		la, lb, lc := installed(a), installed(b), installed(c)
		return la != "" && la == lb && lb == lc
	})
	t.Logf("after A was killed mid-install, all three have %s", installed(a))

	// A rolling restart of the three, with SIGTERM as Kubernetes sends
	// it, behind a balancer that follows readiness as a Service does:
	// no request fails.
	lb := newBalancer(t, rs)
	var served, failed atomic.Int64
	var failures sync.Map
	stop := make(chan struct{})
	var clients sync.WaitGroup
	for range 4 {
		clients.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := http.Get(lb.URL + "/api/plugin-endpoints/" + helloID + "/greet/ada")
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				if err != nil || resp.StatusCode != 200 {
					failed.Add(1)
					failures.Store(fmt.Sprint(err, resp), true)
					continue
				}
				served.Add(1)
			}
		})
	}
	for _, r := range rs {
		time.Sleep(200 * time.Millisecond)
		r.stop(t)
		r.start(t)
	}
	time.Sleep(200 * time.Millisecond)
	close(stop)
	clients.Wait()
	if failed.Load() != 0 || served.Load() == 0 {
		var seen []string
		failures.Range(func(k, _ any) bool { seen = append(seen, k.(string)); return len(seen) < 5 })
		t.Fatalf("rolling restart: %d requests failed, %d served; failures: %v", failed.Load(), served.Load(), seen)
	}
	t.Logf("rolling restart of three replicas: %d requests served, none failed", served.Load())
}

// installed lists the plugins s has, with the digest each runs and its
// state, sorted, as one string to compare.
func installed(s *server) string {
	r := s.api("GET", "/api/plugins", nil)
	list, _ := r.body["plugins"].([]any)
	var out []string
	for _, p := range list {
		m, _ := p.(map[string]any)
		artifact, _ := m["artifact"].(map[string]any)
		out = append(out, fmt.Sprintf("%v@%v:%v", m["id"], artifact["digest"], m["state"]))
	}
	slices.Sort(out)
	return strings.Join(out, ",")
}

// newBalancer is a round-robin reverse proxy over the replicas that sends
// a request only to those it takes for ready, as a Service's endpoints
// follow a readiness probe: each replica's /readyz is looked at every
// 20 ms; an answer other than 200, or a refused connection, takes it out
// at once, and a probe that times out does after three in a row (a busy
// machine is not a stopping server), like Kubernetes' failureThreshold.
func newBalancer(t *testing.T, rs []*replica) *httptest.Server {
	t.Helper()
	ready := make([]atomic.Bool, len(rs))
	ctx, cancel := context.WithCancel(context.Background())
	var probes sync.WaitGroup
	probes.Go(func() {
		client := &http.Client{Timeout: 500 * time.Millisecond}
		timeouts := make([]int, len(rs))
		for ctx.Err() == nil {
			for i, r := range rs {
				resp, err := client.Get("http://" + r.addr + "/readyz")
				var timeout interface{ Timeout() bool }
				switch {
				case err == nil:
					resp.Body.Close()
					timeouts[i] = 0
					ready[i].Store(resp.StatusCode == 200)
				case errors.As(err, &timeout) && timeout.Timeout():
					if timeouts[i]++; timeouts[i] >= 3 {
						ready[i].Store(false)
					}
				default:
					ready[i].Store(false)
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
	var next atomic.Uint64
	proxy := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		for range len(rs) {
			i := int(next.Add(1) % uint64(len(rs)))
			if ready[i].Load() {
				pr.SetURL(&url.URL{Scheme: "http", Host: rs[i].addr})
				return
			}
		}
		pr.SetURL(&url.URL{Scheme: "http", Host: "127.0.0.1:1"}) // none ready: the request fails
	}}
	lb := httptest.NewServer(proxy)
	t.Cleanup(func() {
		lb.Close()
		cancel()
		probes.Wait()
	})
	within(t, 5*time.Second, "the balancer sees every replica ready", func() bool {
		for i := range ready {
			if !ready[i].Load() {
				return false
			}
		}
		return true
	})
	return lb
}
