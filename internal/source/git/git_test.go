package git

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/kubestellar/ksplugins/internal/gitserver"
)

// history is a repository with three commits: c1 tagged v1.0.0, c2 on
// branch feature, and c3 on main.
type history struct {
	srv        *gitserver.Server
	repo       *gitserver.Repo
	c1, c2, c3 string
}

// c1Files, c2Files and c3Files are the trees of the three commits.
func c1Files() map[string]string {
	return map[string]string{"plugin.yaml": "version: 1\n", "bin/run.sh": "#!/bin/sh\necho 1\n"}
}

func c2Files() map[string]string {
	return map[string]string{"plugin.yaml": "version: 2\n", "bin/run.sh": "#!/bin/sh\necho 1\n", "docs/README.md": "feature\n"}
}

func c3Files() map[string]string {
	return map[string]string{"plugin.yaml": "version: 3\n", "docs/README.md": "main\n"}
}

func newHistory(t *testing.T, opts ...gitserver.Option) *history {
	t.Helper()
	h := &history{srv: gitserver.Start(t, opts...)}
	h.repo = h.srv.Repo(t, "owner", "plugin")
	h.c1 = h.repo.Commit(t, bytesOf(c1Files()), "c1")
	h.repo.Tag(t, "v1.0.0")
	h.c2 = h.repo.Commit(t, map[string][]byte{"plugin.yaml": []byte("version: 2\n"), "docs/README.md": []byte("feature\n")}, "c2")
	h.repo.Branch(t, "feature")
	h.c3 = h.repo.Commit(t, map[string][]byte{"plugin.yaml": []byte("version: 3\n"), "docs/README.md": []byte("main\n"), "bin/run.sh": nil}, "c3")
	return h
}

func bytesOf(m map[string]string) map[string][]byte {
	out := make(map[string][]byte, len(m))
	for k, v := range m {
		out[k] = []byte(v)
	}
	return out
}

// readTree returns the files under dir (slash-separated path -> content).
func readTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	got := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if !d.Type().IsRegular() {
			t.Errorf("%s is not a regular file", p)
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		got[filepath.ToSlash(rel)] = string(data)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func assertTree(t *testing.T, dir string, want map[string]string) {
	t.Helper()
	got := readTree(t, dir)
	if len(got) != len(want) {
		t.Errorf("files = %v, want %v", keys(got), keys(want))
	}
	for p, w := range want {
		if g, ok := got[p]; !ok || g != w {
			t.Errorf("%s = %q (present %v), want %q", p, g, ok, w)
		}
	}
}

func keys(m map[string]string) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

// assertAbsent fails unless dest and any temporary sibling are gone.
func assertAbsent(t *testing.T, dest string) {
	t.Helper()
	if _, err := os.Lstat(dest); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("dest %s exists after a failed fetch (err %v)", dest, err)
	}
	entries, err := os.ReadDir(filepath.Dir(dest))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary folder %s left behind", e.Name())
		}
	}
}

func TestFetch(t *testing.T) {
	h := newHistory(t)
	tests := []struct {
		name    string
		ref     string
		commit  string
		via     string
		files   map[string]string
		wantErr any // pointer to an error type for errors.As, or nil
	}{
		{name: "tag", ref: "v1.0.0", commit: h.c1, via: "refs/tags/v1.0.0", files: c1Files()},
		{name: "branch", ref: "feature", commit: h.c2, via: "refs/heads/feature", files: c2Files()},
		{name: "default branch", ref: "", commit: h.c3, via: "refs/heads/main", files: c3Files()},
		{name: "full ref name", ref: "refs/heads/feature", commit: h.c2, via: "refs/heads/feature", files: c2Files()},
		{name: "full SHA", ref: h.c1, commit: h.c1, via: "commit", files: c1Files()},
		{name: "upper-case SHA", ref: strings.ToUpper(h.c1), commit: h.c1, via: "commit", files: c1Files()},
		{name: "abbreviated SHA", ref: h.c2[:7], commit: h.c2, via: "commit", files: c2Files()},
		{name: "SHA of a tip", ref: h.c3, commit: h.c3, via: "commit", files: c3Files()},
		{name: "unknown ref", ref: "v9", wantErr: new(*NotFoundError)},
		{name: "unknown SHA", ref: strings.Repeat("0", 40), wantErr: new(*NotFoundError)},
		{name: "unknown abbreviated SHA", ref: "0000000", wantErr: new(*NotFoundError)},
		{name: "too short SHA", ref: h.c1[:6], wantErr: new(*NotFoundError)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dest := filepath.Join(t.TempDir(), "out", "plugin")
			res, err := Fetch(context.Background(), dest, FetchOptions{URL: h.repo.URL, Ref: tt.ref})
			if tt.wantErr != nil {
				if !errors.As(err, tt.wantErr) {
					t.Fatalf("Fetch(%q) error = %v, want %T", tt.ref, err, tt.wantErr)
				}
				assertAbsent(t, dest)
				return
			}
			if err != nil {
				t.Fatalf("Fetch(%q): %v", tt.ref, err)
			}
			if want := (Result{Commit: tt.commit, Ref: tt.via}); res != want {
				t.Errorf("Fetch(%q) = %+v, want %+v", tt.ref, res, want)
			}
			assertTree(t, dest, tt.files)
			if _, err := os.Stat(filepath.Join(dest, ".git")); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf(".git in dest: %v", err)
			}
		})
	}
}

func TestFetchNotFoundMessage(t *testing.T) {
	h := newHistory(t)
	dest := filepath.Join(t.TempDir(), "plugin")
	_, err := Fetch(context.Background(), dest, FetchOptions{URL: h.repo.URL, Ref: "v9"})
	var nf *NotFoundError
	if !errors.As(err, &nf) || nf.Ref != "v9" {
		t.Fatalf("error = %v, want NotFoundError{v9}", err)
	}
	if want := "version v9 not found: no tag, branch or commit by that name"; err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}
}

func TestFetchExecutableAndNested(t *testing.T) {
	src := t.TempDir()
	if err := os.MkdirAll(filepath.Join(src, "a", "b"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "run.sh"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "a", "b", "deep.txt"), []byte("deep"), 0o644); err != nil {
		t.Fatal(err)
	}
	srv := gitserver.Start(t)
	repo := srv.Repo(t, "o", "r")
	sha := repo.CopyDir(t, src, "", "copy")

	dest := filepath.Join(t.TempDir(), "plugin")
	res, err := Fetch(context.Background(), dest, FetchOptions{URL: repo.URL})
	if err != nil {
		t.Fatal(err)
	}
	if res.Commit != sha {
		t.Errorf("Commit = %s, want %s", res.Commit, sha)
	}
	assertTree(t, dest, map[string]string{"run.sh": "#!/bin/sh\n", "a/b/deep.txt": "deep"})
	info, err := os.Stat(filepath.Join(dest, "run.sh"))
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode()&0o100 == 0 {
		t.Errorf("run.sh mode %v, want executable", info.Mode())
	}
	info, err = os.Stat(dest)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm()&0o055 != 0o055 {
		t.Errorf("dest mode %v, want readable by all like a normal folder", info.Mode())
	}
}

func TestFetchURLWithoutGitSuffix(t *testing.T) {
	h := newHistory(t)
	dest := filepath.Join(t.TempDir(), "plugin")
	res, err := Fetch(context.Background(), dest, FetchOptions{URL: strings.TrimSuffix(h.repo.URL, ".git"), Ref: "v1.0.0"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Commit != h.c1 {
		t.Errorf("Commit = %s, want %s", res.Commit, h.c1)
	}
}

func TestFetchMaxBytes(t *testing.T) {
	h := newHistory(t)
	var total int64
	for _, c := range c1Files() {
		total += int64(len(c))
	}
	tests := []struct {
		name    string
		max     int64
		refused bool
	}{
		{"no limit", 0, false},
		{"exact", total, false},
		{"one byte over", total - 1, true},
		{"tiny", 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dest := filepath.Join(t.TempDir(), "plugin")
			_, err := Fetch(context.Background(), dest, FetchOptions{URL: h.repo.URL, Ref: "v1.0.0", MaxBytes: tt.max})
			var refused *RefusedError
			if got := errors.As(err, &refused); got != tt.refused {
				t.Fatalf("error = %v, want refused %v", err, tt.refused)
			}
			if tt.refused {
				assertAbsent(t, dest)
				return
			}
			assertTree(t, dest, c1Files())
		})
	}
}

func TestFetchRefusesSymlinkAndSubmodule(t *testing.T) {
	srv := gitserver.Start(t)

	src := t.TempDir()
	if err := os.MkdirAll(filepath.Join(src, "conf"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "conf", "real.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/passwd", filepath.Join(src, "conf", "link")); err != nil {
		t.Fatal(err)
	}
	withLink := srv.Repo(t, "o", "symlink")
	withLink.CopyDir(t, src, "", "symlink")

	tests := []struct {
		name string
		url  string
		path string
	}{
		{"symlink", withLink.URL, "conf/link"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dest := filepath.Join(t.TempDir(), "plugin")
			_, err := Fetch(context.Background(), dest, FetchOptions{URL: tt.url})
			var refused *RefusedError
			if !errors.As(err, &refused) {
				t.Fatalf("error = %v, want RefusedError", err)
			}
			if refused.Path != tt.path || !strings.Contains(err.Error(), tt.path) {
				t.Errorf("error %q names %q, want %q", err, refused.Path, tt.path)
			}
			assertAbsent(t, dest)
		})
	}
}

func TestFetchDestExists(t *testing.T) {
	h := newHistory(t)
	dest := t.TempDir()
	n := h.srv.Requests()
	_, err := Fetch(context.Background(), dest, FetchOptions{URL: h.repo.URL})
	if !errors.Is(err, fs.ErrExist) {
		t.Fatalf("error = %v, want fs.ErrExist", err)
	}
	if got := h.srv.Requests(); got != n {
		t.Errorf("Fetch made %d requests before refusing an existing dest", got-n)
	}
}

func TestFetchAuth(t *testing.T) {
	const token = "ghp_s3cretTOKENvalue"
	h := newHistory(t, gitserver.WithToken(token))
	tests := []struct {
		name     string
		token    string
		wantAuth bool
	}{
		{"no token", "", true},
		{"wrong token", "ghp_wrongTOKENvalue", true},
		{"token", token, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dest := filepath.Join(t.TempDir(), "plugin")
			res, err := Fetch(context.Background(), dest, FetchOptions{URL: h.repo.URL, Ref: "v1.0.0", Token: tt.token, TokenBase: h.srv.URL})
			if !tt.wantAuth {
				if err != nil {
					t.Fatal(err)
				}
				if res.Commit != h.c1 {
					t.Errorf("Commit = %s, want %s", res.Commit, h.c1)
				}
				assertTree(t, dest, c1Files())
				return
			}
			var auth *AuthError
			if !errors.As(err, &auth) {
				t.Fatalf("error = %v, want AuthError", err)
			}
			if auth.TokenSet != (tt.token != "") {
				t.Errorf("TokenSet = %v with token %q", auth.TokenSet, tt.token)
			}
			if tt.token != "" && strings.Contains(err.Error(), tt.token) {
				t.Errorf("error %q contains the token", err)
			}
			if tt.token == "" {
				if want := "repository needs credentials: set a token in configuration"; err.Error() != want {
					t.Errorf("error = %q, want %q", err, want)
				}
			}
			assertAbsent(t, dest)
		})
	}
	t.Run("resolve", func(t *testing.T) {
		_, err := Resolve(context.Background(), FetchOptions{URL: h.repo.URL, Ref: "v1.0.0"})
		var auth *AuthError
		if !errors.As(err, &auth) {
			t.Fatalf("Resolve without token: %v, want AuthError", err)
		}
		res, err := Resolve(context.Background(), FetchOptions{URL: h.repo.URL, Ref: "v1.0.0", Token: token, TokenBase: h.srv.URL})
		if err != nil || res.Commit != h.c1 {
			t.Fatalf("Resolve with token = %+v, %v; want %s", res, err, h.c1)
		}
	})
}

// TestTokenOnlyToBase fetches with a token configured for one server from
// it and from others: only the requests to its origin carry it.
func TestTokenOnlyToBase(t *testing.T) {
	const token = "ghp_s3cretTOKENvalue"
	base := newHistory(t, gitserver.WithToken(token))
	other := newHistory(t)
	private := newHistory(t, gitserver.WithToken(token))
	// The base's host under another name (the same listener): a different
	// origin all the same.
	alias := strings.Replace(base.repo.URL, "127.0.0.1", "localhost", 1)
	tests := []struct {
		name      string
		url       string
		tokenBase string
		srv       *gitserver.Server
		wantCreds bool
		wantErr   string // "" for success; "withheld", "needs" or "refused" for an AuthError
	}{
		{name: "the base", url: base.repo.URL, tokenBase: base.srv.URL, srv: base.srv, wantCreds: true},
		{name: "the base, written with its path", url: base.repo.URL, tokenBase: base.srv.URL + "/some/path/", srv: base.srv, wantCreds: true},
		{name: "another host, public", url: other.repo.URL, tokenBase: base.srv.URL, srv: other.srv},
		{name: "another host, private", url: private.repo.URL, tokenBase: base.srv.URL, srv: private.srv, wantErr: "withheld"},
		{name: "the base's address by another name", url: alias, tokenBase: base.srv.URL, srv: base.srv, wantErr: "withheld"},
		{name: "no base", url: base.repo.URL, srv: base.srv, wantErr: "withheld"},
		{name: "a base on another scheme", url: base.repo.URL, tokenBase: strings.Replace(base.srv.URL, "http://", "https://", 1), srv: base.srv, wantErr: "withheld"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(tt.srv.Seen())
			_, err := Resolve(context.Background(), FetchOptions{URL: tt.url, Ref: "v1.0.0", Token: token, TokenBase: tt.tokenBase})
			seen := tt.srv.Seen()[before:]
			if len(seen) == 0 {
				t.Fatal("the server saw no request")
			}
			for _, r := range seen {
				got := r.Header.Get("Authorization")
				if (got != "") != tt.wantCreds {
					t.Errorf("%s %s: Authorization %q; want credentials %v", r.Method, r.URL, got, tt.wantCreds)
				}
				if strings.Contains(r.URL, token) {
					t.Errorf("the URL %s carries the token", r.URL)
				}
				for k, vs := range r.Header {
					if k != "Authorization" && strings.Contains(strings.Join(vs, " "), token) {
						t.Errorf("header %s carries the token", k)
					}
				}
			}
			var auth *AuthError
			switch {
			case tt.wantErr == "":
				if err != nil {
					t.Fatal(err)
				}
			case !errors.As(err, &auth):
				t.Fatalf("error = %v; want an AuthError", err)
			case auth.Withheld != (tt.wantErr == "withheld") || auth.TokenSet:
				t.Fatalf("AuthError %+v (%v); want %s", auth, err, tt.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), token) {
				t.Errorf("error %q contains the token", err)
			}
		})
	}
}

func TestFetchServerStopped(t *testing.T) {
	const token = "ghp_s3cretTOKENvalue"
	h := newHistory(t)
	h.srv.Stop()
	tests := []struct {
		name string
		url  string
	}{
		{"plain", h.repo.URL},
		{"credentials in URL", strings.Replace(h.repo.URL, "http://", "http://x-access-token:"+token+"@", 1)},
		{"token as URL user", strings.Replace(h.repo.URL, "http://", "http://"+token+"@", 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dest := filepath.Join(t.TempDir(), "plugin")
			_, err := Fetch(context.Background(), dest, FetchOptions{URL: tt.url, Ref: "v1.0.0", Token: token, TokenBase: h.srv.URL})
			if err == nil {
				t.Fatal("Fetch from a stopped server succeeded")
			}
			if !strings.Contains(err.Error(), "connection refused") {
				t.Errorf("error = %q, want connection refused", err)
			}
			if strings.Contains(err.Error(), token) {
				t.Errorf("error %q contains the token", err)
			}
			assertAbsent(t, dest)
			if _, err := Resolve(context.Background(), FetchOptions{URL: tt.url, Token: token, TokenBase: h.srv.URL}); err == nil || strings.Contains(err.Error(), token) {
				t.Errorf("Resolve error = %v, want an error without the token", err)
			}
		})
	}
}

func TestFetchContextCanceled(t *testing.T) {
	h := newHistory(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	dest := filepath.Join(t.TempDir(), "plugin")
	_, err := Fetch(ctx, dest, FetchOptions{URL: h.repo.URL})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error = %v, want context.Canceled", err)
	}
	assertAbsent(t, dest)
}

func TestFetchProgress(t *testing.T) {
	h := newHistory(t)
	var progress bytes.Buffer
	dest := filepath.Join(t.TempDir(), "plugin")
	if _, err := Fetch(context.Background(), dest, FetchOptions{URL: h.repo.URL, Ref: h.c1[:10], Progress: &progress}); err != nil {
		t.Fatal(err)
	}
	if progress.Len() == 0 {
		t.Error("no progress written")
	}
}

func TestFetchEmptyRepository(t *testing.T) {
	srv := gitserver.Start(t)
	repo := srv.Repo(t, "o", "empty")
	for _, ref := range []string{"", "main", strings.Repeat("a", 40)} {
		dest := filepath.Join(t.TempDir(), "plugin")
		_, err := Fetch(context.Background(), dest, FetchOptions{URL: repo.URL, Ref: ref})
		var nf *NotFoundError
		if !errors.As(err, &nf) {
			t.Errorf("Fetch(%q) from an empty repository: %v, want NotFoundError", ref, err)
		}
		assertAbsent(t, dest)
	}
}

func TestBadURL(t *testing.T) {
	for _, u := range []string{"", "file:///tmp/repo", "ssh://git@127.0.0.1/o/r", "http://", "http://a b/%zz"} {
		dest := filepath.Join(t.TempDir(), "plugin")
		if _, err := Fetch(context.Background(), dest, FetchOptions{URL: u}); err == nil {
			t.Errorf("Fetch(%q) succeeded", u)
		}
		if _, err := Resolve(context.Background(), FetchOptions{URL: u}); err == nil {
			t.Errorf("Resolve(%q) succeeded", u)
		}
		assertAbsent(t, dest)
	}
}

func TestResolve(t *testing.T) {
	h := newHistory(t)
	notCommit := "0123456789abcdef0123456789abcdef01234567"
	tests := []struct {
		name     string
		ref      string
		want     Result
		notFound bool
	}{
		{name: "tag", ref: "v1.0.0", want: Result{Commit: h.c1, Ref: "refs/tags/v1.0.0"}},
		{name: "branch", ref: "feature", want: Result{Commit: h.c2, Ref: "refs/heads/feature"}},
		{name: "default", ref: "", want: Result{Commit: h.c3, Ref: "refs/heads/main"}},
		{name: "main", ref: "main", want: Result{Commit: h.c3, Ref: "refs/heads/main"}},
		{name: "full SHA not a tip", ref: h.c1, want: Result{Commit: h.c1, Ref: "commit"}},
		{name: "full SHA unknown", ref: notCommit, want: Result{Commit: notCommit, Ref: "commit"}},
		{name: "abbreviated tip", ref: h.c2[:7], want: Result{Commit: h.c2, Ref: "commit"}},
		{name: "abbreviated tag tip", ref: h.c1[:8], want: Result{Commit: h.c1, Ref: "commit"}},
		{name: "abbreviated unknown", ref: "0000000", notFound: true},
		{name: "unknown", ref: "v9", notFound: true},
	}
	before := h.srv.Requests()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Resolve(context.Background(), FetchOptions{URL: h.repo.URL, Ref: tt.ref})
			if tt.notFound {
				var nf *NotFoundError
				if !errors.As(err, &nf) {
					t.Fatalf("Resolve(%q) error = %v, want NotFoundError", tt.ref, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Resolve(%q): %v", tt.ref, err)
			}
			if got != tt.want {
				t.Errorf("Resolve(%q) = %+v, want %+v", tt.ref, got, tt.want)
			}
		})
	}
	// Each Resolve is a single ref advertisement request.
	if got, want := h.srv.Requests()-before, int64(len(tests)); got != want {
		t.Errorf("Resolve made %d requests, want %d", got, want)
	}
}

func TestRequestsCount(t *testing.T) {
	h := newHistory(t)
	before := h.srv.Requests()
	dest := filepath.Join(t.TempDir(), "plugin")
	if _, err := Fetch(context.Background(), dest, FetchOptions{URL: h.repo.URL, Ref: "v1.0.0"}); err != nil {
		t.Fatal(err)
	}
	after := h.srv.Requests()
	if after <= before {
		t.Fatalf("Requests() = %d after a fetch, want more than %d", after, before)
	}
	// Reusing the checkout without fetching makes no requests.
	assertTree(t, dest, c1Files())
	if got := h.srv.Requests(); got != after {
		t.Errorf("Requests() = %d, want %d", got, after)
	}
}

func TestResolveTarget(t *testing.T) {
	// resolve without symref capability: HEAD is a hash.
	const a, b = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	refs := refsOf(map[string]string{
		"HEAD":              a,
		"refs/heads/zeta":   a,
		"refs/heads/master": a,
		"refs/heads/other":  b,
		"refs/tags/dup":     b,
		"refs/heads/dup":    a,
	})
	tests := []struct {
		ref      string
		want     Result
		fetchRef string
	}{
		{"", Result{Commit: a, Ref: "refs/heads/master"}, "refs/heads/master"},
		{"dup", Result{Commit: b, Ref: "refs/tags/dup"}, "refs/tags/dup"}, // tags win
		{"bbbbbbb", Result{Commit: b, Ref: "commit"}, "refs/heads/other"},
		{"aaaaaaa", Result{Commit: a, Ref: "commit"}, "refs/heads/dup"},
	}
	for _, tt := range tests {
		got, err := resolve(refs, tt.ref)
		if err != nil {
			t.Fatalf("resolve(%q): %v", tt.ref, err)
		}
		if got.Result != tt.want || string(got.fetchRef) != tt.fetchRef {
			t.Errorf("resolve(%q) = %+v via %s, want %+v via %s", tt.ref, got.Result, got.fetchRef, tt.want, tt.fetchRef)
		}
	}
}

// refsOf builds advertised refs from name -> hash; "HEAD" is a hash ref.
func refsOf(m map[string]string) []*plumbing.Reference {
	var refs []*plumbing.Reference
	for name, h := range m {
		refs = append(refs, plumbing.NewReferenceFromStrings(name, h))
	}
	return refs
}

func TestTagAndBranchFetchesAreShallow(t *testing.T) {
	h := newHistory(t)
	c, err := newClient(FetchOptions{URL: h.repo.URL})
	if err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{"refs/heads/main", "refs/tags/v1.0.0"} {
		repo, err := c.fetch(context.Background(), []config.RefSpec{refSpec(plumbing.ReferenceName(ref))}, 1)
		if err != nil {
			t.Fatalf("fetch %s: %v", ref, err)
		}
		commits, err := repo.CommitObjects()
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		if err := commits.ForEach(func(*object.Commit) error { n++; return nil }); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Errorf("fetch %s got %d commits, want 1", ref, n)
		}
	}
}
