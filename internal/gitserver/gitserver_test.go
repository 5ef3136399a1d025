package gitserver

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// lsRemote runs "git ls-remote url" with a clean environment and returns
// its output, or the error and output when it fails.
func lsRemote(t *testing.T, url string, extra ...string) (string, error) {
	t.Helper()
	home := t.TempDir()
	args := append([]string{"ls-remote"}, extra...)
	cmd := exec.Command("git", append(args, url)...)
	cmd.Env = gitEnv(home)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestServeRepository(t *testing.T) {
	s := Start(t)
	if !strings.HasPrefix(s.URL, "http://127.0.0.1:") {
		t.Fatalf("URL = %q, want http://127.0.0.1:PORT", s.URL)
	}
	r := s.Repo(t, "owner", "repo")
	if again := s.Repo(t, "owner", "repo"); again != r {
		t.Fatal("Repo did not return the existing repository")
	}
	if want := s.URL + "/owner/repo.git"; r.URL != want {
		t.Fatalf("Repo URL = %q, want %q", r.URL, want)
	}

	c1 := r.Commit(t, map[string][]byte{"a.txt": []byte("one"), "dir/b.txt": []byte("two")}, "first")
	r.Tag(t, "v1.0.0")
	c2 := r.Commit(t, map[string][]byte{"a.txt": nil}, "second")
	r.Branch(t, "feature")
	c3 := r.Commit(t, map[string][]byte{"c.txt": []byte("three")}, "third")
	for _, c := range []string{c1, c2, c3} {
		if len(c) != 40 {
			t.Fatalf("commit SHA %q is not 40 hex digits", c)
		}
	}

	before := s.Requests()
	for _, url := range []string{r.URL, s.URL + "/owner/repo"} {
		out, err := lsRemote(t, url)
		if err != nil {
			t.Fatalf("ls-remote %s: %v\n%s", url, err, out)
		}
		for _, want := range []string{
			c3 + "\tHEAD",
			c3 + "\trefs/heads/main",
			c2 + "\trefs/heads/feature",
			c1 + "\trefs/tags/v1.0.0^{}",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("ls-remote %s lacks %q:\n%s", url, want, out)
			}
		}
	}
	if got := s.Requests(); got <= before {
		t.Errorf("Requests() = %d after ls-remote, want more than %d", got, before)
	}

	// The deletion in c2 reached the bare repository.
	cmd := exec.Command("git", "--git-dir", r.Bare, "ls-tree", "-r", "--name-only", "main")
	cmd.Env = gitEnv(t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("ls-tree: %v\n%s", err, out)
	}
	if got, want := strings.Fields(string(out)), []string{"c.txt", "dir/b.txt"}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("main holds %v, want %v", got, want)
	}
}

func TestDeterministicCommits(t *testing.T) {
	shas := make([]string, 2)
	for i := range shas {
		r := Start(t).Repo(t, "o", "r")
		shas[i] = r.Commit(t, map[string][]byte{"f": []byte("x")}, "msg")
	}
	if shas[0] != shas[1] {
		t.Errorf("same commit on two servers got SHAs %s and %s", shas[0], shas[1])
	}
}

func TestCopyDir(t *testing.T) {
	src := t.TempDir()
	must(t, os.MkdirAll(filepath.Join(src, "sub"), 0o755))
	must(t, os.WriteFile(filepath.Join(src, "run.sh"), []byte("#!/bin/sh\n"), 0o755))
	must(t, os.WriteFile(filepath.Join(src, "sub", "f.txt"), []byte("f"), 0o644))
	must(t, os.Symlink("sub/f.txt", filepath.Join(src, "link")))

	s := Start(t)
	r := s.Repo(t, "o", "r")
	r.Commit(t, map[string][]byte{"keep.txt": []byte("k"), "plugin/old.txt": []byte("old")}, "base")
	sha := r.CopyDir(t, src, "plugin", "copy")

	cmd := exec.Command("git", "--git-dir", r.Bare, "ls-tree", "-r", sha)
	cmd.Env = gitEnv(t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("ls-tree: %v\n%s", err, out)
	}
	modes := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		meta, path, _ := strings.Cut(line, "\t")
		modes[path] = strings.Fields(meta)[0]
	}
	want := map[string]string{
		"keep.txt":         "100644",
		"plugin/run.sh":    "100755",
		"plugin/sub/f.txt": "100644",
		"plugin/link":      "120000",
	}
	if len(modes) != len(want) {
		t.Errorf("tree = %v, want %v", modes, want)
	}
	for p, m := range want {
		if modes[p] != m {
			t.Errorf("%s: mode %q, want %q (tree %v)", p, modes[p], m, modes)
		}
	}
}

func TestToken(t *testing.T) {
	const token = "s3cret-token"
	s := Start(t, WithToken(token))
	if s.Token != token {
		t.Fatalf("Token = %q, want %q", s.Token, token)
	}
	r := s.Repo(t, "o", "r")
	r.Commit(t, map[string][]byte{"f": []byte("x")}, "msg")
	infoRefs := r.URL + "/info/refs?service=git-upload-pack"

	tests := []struct {
		name string
		set  func(*http.Request)
		want int
	}{
		{"none", func(*http.Request) {}, http.StatusUnauthorized},
		{"wrong basic", func(q *http.Request) { q.SetBasicAuth("x-access-token", "nope") }, http.StatusUnauthorized},
		{"wrong bearer", func(q *http.Request) { q.Header.Set("Authorization", "Bearer nope") }, http.StatusUnauthorized},
		{"basic password", func(q *http.Request) { q.SetBasicAuth("x-access-token", token) }, http.StatusOK},
		{"basic user", func(q *http.Request) { q.SetBasicAuth(token, "") }, http.StatusOK},
		{"bearer", func(q *http.Request) { q.Header.Set("Authorization", "Bearer "+token) }, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, infoRefs, nil)
			must(t, err)
			tt.set(req)
			resp, err := http.DefaultClient.Do(req)
			must(t, err)
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("status = %d, want %d", resp.StatusCode, tt.want)
			}
			if tt.want == http.StatusUnauthorized && resp.Header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
		})
	}
}

func TestStop(t *testing.T) {
	s := Start(t)
	r := s.Repo(t, "o", "r")
	r.Commit(t, map[string][]byte{"f": []byte("x")}, "msg")
	s.Stop()
	s.Stop() // idempotent
	n := s.Requests()
	if out, err := lsRemote(t, r.URL); err == nil {
		t.Fatalf("ls-remote after Stop succeeded:\n%s", out)
	}
	if got := s.Requests(); got != n {
		t.Errorf("Requests() = %d after Stop, want %d", got, n)
	}
	// The repository can still be built after Stop.
	r.Commit(t, map[string][]byte{"g": []byte("y")}, "offline")
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
