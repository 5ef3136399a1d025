package e2e

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kubestellar/ksplugins/internal/pgtest"
)

// postgresURL starts a throwaway PostgreSQL server for the test and returns
// the URL of a fresh database on it. Without the server binaries the test
// is skipped, or fails when they are required (make test requires them).
func postgresURL(t *testing.T) string {
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
func within(t *testing.T, limit time.Duration, what string, cond func() bool) time.Duration {
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

// TestReplicas runs three servers on one PostgreSQL database, each with
// its own data and cache folders, as replicas behind a Service would: a
// change made through any one of them reaches the other two within a
// second, without their building anything (the artifact comes through the
// database, checked against its digest).
func TestReplicas(t *testing.T) {
	f := setup(t)
	db := postgresURL(t)
	env := []string{"KSPLUGINS_DATABASE_URL=" + db}
	var replicas []*server
	for i := range 3 {
		dir := t.TempDir()
		cache := filepath.Join(dir, "cache")
		if i == 0 {
			cache = f.cacheDir // A builds, from the warm build cache
		}
		replicas = append(replicas, startServerArgs(t, f, freeAddr(t), filepath.Join(dir, "data"), cache, nil, env...))
	}
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
	// B and C fetched the artifact A built, and built nothing.
	if n, _ := filepath.Glob(filepath.Join(filepath.Dir(b.data), "cache", "fetched", "*", "*", "plugin.so")); len(n) != 1 {
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
}
