package catalog

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	apiv1 "github.com/kubestellar/ksplugins/api/v1"
	"github.com/kubestellar/ksplugins/internal/build"
	"github.com/kubestellar/ksplugins/internal/config"
	"github.com/kubestellar/ksplugins/internal/gitserver"
	"github.com/kubestellar/ksplugins/internal/policy"
)

// loaded is a Service holding the test catalog as read.
func loaded(t *testing.T) *Service {
	t.Helper()
	pub, priv := newKey(t)
	data, sig := signed(t, priv)
	f, err := Verify(data, sig, []ed25519.PublicKey{pub})
	if err != nil {
		t.Fatal(err)
	}
	sys := config.DefaultSystem()
	sys.Catalogs = []apiv1.CatalogConfig{{Name: "main", Location: "https://github.com/example/catalog", Keys: []string{policy.EncodePublicKey(pub)}}}
	s := NewService(func() config.System { return sys }, nil)
	s.read["main"] = &state{conf: sys.Catalogs[0], file: f}
	return s
}

func TestList(t *testing.T) {
	s := loaded(t)
	tests := []struct {
		name  string
		q     Query
		want  []string
		total int
	}{
		{name: "all, by name", q: Query{}, want: []string{"netcheck", "primes"}, total: 2},
		{name: "words all match", q: Query{Q: "count PRIMES"}, want: []string{"primes"}, total: 1},
		{name: "a word matches nothing", q: Query{Q: "primes kubernetes"}, want: nil, total: 0},
		{name: "publisher", q: Query{Q: "net folk"}, want: []string{"netcheck"}, total: 1},
		{name: "category", q: Query{Category: "math"}, want: []string{"primes"}, total: 1},
		{name: "tier over versions", q: Query{Tier: apiv1.TierNative}, want: []string{"primes"}, total: 1},
		{name: "sandboxed", q: Query{Tier: apiv1.TierSandboxed}, want: []string{"netcheck", "primes"}, total: 2},
		{name: "page 2 of 1 a page", q: Query{Page: 2, PerPage: 1}, want: []string{"primes"}, total: 2},
		{name: "past the end", q: Query{Page: 3, PerPage: 1}, want: nil, total: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := s.List(tt.q, nil)
			var ids []string
			for _, e := range got.Entries {
				ids = append(ids, e.ID)
				if e.Description != "" {
					t.Errorf("%s: the list carries the description", e.ID)
				}
			}
			if !slices.Equal(ids, tt.want) || got.Total != tt.total {
				t.Fatalf("got %v of %d, want %v of %d", ids, got.Total, tt.want, tt.total)
			}
			if !slices.Equal(got.Categories, []string{"examples", "math", "networking"}) {
				t.Fatalf("categories %v", got.Categories)
			}
		})
	}
}

func TestInstalledAndUpdates(t *testing.T) {
	s := loaded(t)
	repo := apiv1.Source{Kind: apiv1.SourceGit, Location: "https://github.com/example/primes", Path: "."}
	tests := []struct {
		name               string
		plugin             apiv1.Plugin
		installed, updates bool
	}{
		{name: "not installed", plugin: apiv1.Plugin{ID: "other", Version: "1.0.0", Source: repo}},
		{name: "older from the same repository", plugin: apiv1.Plugin{ID: "primes", Version: "1.0.0", Source: repo}, installed: true, updates: true},
		{name: "latest", plugin: apiv1.Plugin{ID: "primes", Version: "1.2.0", Source: repo}, installed: true},
		{name: "newer than the catalog", plugin: apiv1.Plugin{ID: "primes", Version: "2.0.0", Source: repo}, installed: true},
		{name: "older from elsewhere", plugin: apiv1.Plugin{ID: "primes", Version: "1.0.0",
			Source: apiv1.Source{Kind: apiv1.SourceFolder, Location: "/srv/primes"}}, installed: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := s.Get("primes", []apiv1.Plugin{tt.plugin})
			if err != nil {
				t.Fatal(err)
			}
			e := l.Entry
			if e.Installed != tt.installed || e.UpdateAvailable != tt.updates {
				t.Fatalf("installed %v update %v, want %v %v", e.Installed, e.UpdateAvailable, tt.installed, tt.updates)
			}
			if e.Latest != "1.2.0" || e.Versions[0].Version != "1.2.0" || e.Description == "" {
				t.Fatalf("latest %s, versions %v, description %q", e.Latest, e.Versions, e.Description)
			}
		})
	}
	if _, err := s.Get("nothing", nil); err == nil {
		t.Fatal("Get of an unknown id: no error")
	}
}

func TestPick(t *testing.T) {
	l, err := loaded(t).Get("primes", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ ask, want string }{{"", "1.2.0"}, {"1.0.0", "1.0.0"}, {"v1.0.0", "1.0.0"}, {"1.1.0", ""}} {
		v, err := Pick(l.Entry, tt.ask)
		if got := v.Version; got != tt.want || (tt.want == "") != (err != nil) {
			t.Errorf("Pick(%q) = %q, %v; want %q", tt.ask, got, err, tt.want)
		}
	}
}

// TestRefreshFromRepository reads a catalog from a repository, then a
// commit that changes its bytes without signing them again: the catalog
// is refused whole, with the reason.
func TestRefreshFromRepository(t *testing.T) {
	srv := gitserver.Start(t)
	pub, priv := newKey(t)
	data, sig := signed(t, priv)
	repo := srv.Repo(t, "example", "catalog")
	repo.Commit(t, map[string][]byte{"catalog.yaml": data, "catalog.yaml.sig": sig}, "catalog")

	sys := config.DefaultSystem()
	sys.RepositoryBaseURL = srv.URL
	sys.Catalogs = []apiv1.CatalogConfig{{Name: "main", Location: "https://github.com/example/catalog", Ref: "main", Keys: []string{policy.EncodePublicKey(pub)}}}
	s := NewService(func() config.System { return sys }, nil)
	st := s.Refresh(context.Background())
	if len(st) != 1 || st[0].Error != "" || st[0].Entries != 2 || st[0].RefreshedAt == nil {
		t.Fatalf("statuses %+v", st)
	}
	if got := s.List(Query{}, nil).Total; got != 2 {
		t.Fatalf("%d entries listed, want 2", got)
	}

	repo.Commit(t, map[string][]byte{"catalog.yaml": bytes.Replace(data, []byte("1.2.0"), []byte("9.2.0"), 1)}, "tamper")
	st = s.Refresh(context.Background())
	if st[0].Entries != 0 || !strings.Contains(st[0].Error, "does not verify") {
		t.Fatalf("tampered catalog: status %+v", st[0])
	}
	if got := s.List(Query{}, nil).Total; got != 0 {
		t.Fatalf("a refused catalog lists %d entries", got)
	}
}

func TestDigest(t *testing.T) {
	srv := gitserver.Start(t)
	repo := srv.Repo(t, "example", "primes")
	files := map[string][]byte{"plugins/primes/plugin.yaml": []byte("id: primes\n"), "plugins/primes/main.go": []byte("package main\n"), "README.md": []byte("hi")}
	commit := repo.Commit(t, files, "primes")
	local := t.TempDir()
	for _, name := range []string{"plugin.yaml", "main.go"} {
		if err := os.WriteFile(filepath.Join(local, name), files["plugins/primes/"+name], 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := build.TreeDigest(local)
	if err != nil {
		t.Fatal(err)
	}
	archive := []byte("an archive's bytes")
	sum := sha256.Sum256(archive)
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(archive) }))
	defer web.Close()

	f := Fetch{BaseURL: srv.URL, MaxBytes: 1 << 20}
	tests := []struct {
		name string
		src  apiv1.CatalogSource
		want string // "" for an error
	}{
		{name: "plugin folder at a commit", src: apiv1.CatalogSource{Repository: "https://github.com/example/primes", Commit: commit, Path: "plugins/primes"}, want: want},
		{name: "no plugin.yaml at the root", src: apiv1.CatalogSource{Repository: "https://github.com/example/primes", Commit: commit}},
		{name: "unknown commit", src: apiv1.CatalogSource{Repository: "https://github.com/example/primes", Commit: strings.Repeat("ab", 20), Path: "plugins/primes"}},
		{name: "archive bytes", src: apiv1.CatalogSource{Archive: web.URL + "/primes.tar.gz"}, want: "sha256:" + hex.EncodeToString(sum[:])},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := f.Digest(context.Background(), tt.src)
			if tt.want == "" {
				if err == nil {
					t.Fatalf("Digest = %s, want an error", got)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Digest = %s, %v; want %s", got, err, tt.want)
			}
		})
	}
}

// TestRunRefreshesUntilCanceled: Run reads at once, again when kicked,
// and returns when its context ends.
func TestRunRefreshesUntilCanceled(t *testing.T) {
	var reads atomic.Int64
	s := NewService(func() config.System { reads.Add(1); return config.DefaultSystem() }, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx, time.Hour); close(done) }()
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !ok(); time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s did not happen", what)
			}
		}
	}
	// A refresh asks for the configuration twice: to read, and for the
	// statuses it answers.
	waitFor("the first read", func() bool { return reads.Load() >= 2 })
	first := reads.Load()
	s.Kick()
	waitFor("a read after Kick", func() bool { return reads.Load() > first })
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return once its context ended")
	}
}
