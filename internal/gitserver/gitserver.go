// Package gitserver is test support: it serves real git smart-HTTP on
// 127.0.0.1 with "git http-backend" behind net/http/cgi, and builds the
// repositories it serves with the git command line.
//
// It is an ordinary (non-test) package so that the tests of other packages,
// unit and end-to-end alike, can import it. Every function takes a
// testing.TB and fails the test on error.
package gitserver

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Option configures a Server before it starts serving.
type Option func(*Server)

// WithToken makes the server require tok on every request, either as a
// bearer token ("Authorization: Bearer tok") or as HTTP basic auth whose
// password (or, with an empty password, user name) is tok. Requests without
// it are answered 401 Unauthorized.
func WithToken(tok string) Option {
	return func(s *Server) { s.Token = tok }
}

// Server serves the bare repositories under Root over git smart-HTTP.
// A repository owner/name is cloned from URL + "/owner/name.git"
// (or, as git http-backend also accepts it, URL + "/owner/name").
type Server struct {
	// URL is the server's base URL, http://127.0.0.1:PORT, without a
	// trailing slash.
	URL string
	// Root is the folder of bare repositories, laid out owner/name.git.
	Root string
	// Token, when set, is required on every request. Set it with WithToken;
	// it must not change once the server is serving.
	Token string

	base     string // temp folder holding Root, the git HOME and work clones
	home     string // HOME for every git process
	srv      *http.Server
	done     chan struct{} // closed when Serve returns
	requests atomic.Int64
	stopOnce sync.Once

	mu    sync.Mutex
	repos map[string]*Repo
	seen  []Request
}

// Request is what one request to the server carried, kept so that tests can
// check what a client sent, credentials included.
type Request struct {
	Method, URL string
	Header      http.Header
}

// Seen returns every request the server has received, in order.
func (s *Server) Seen() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.seen...)
}

// Credentialed returns how many requests carried an Authorization header,
// whatever its value (a client puts a URL's user info there too).
func (s *Server) Credentialed() int {
	n := 0
	for _, r := range s.Seen() {
		if r.Header.Get("Authorization") != "" {
			n++
		}
	}
	return n
}

// Start serves the bare repositories under a new temporary folder on
// 127.0.0.1 at a free port. The server stops at t.Cleanup, or earlier by
// Stop.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	base := t.TempDir()
	s := &Server{
		Root:  filepath.Join(base, "repos"),
		base:  base,
		home:  filepath.Join(base, "home"),
		done:  make(chan struct{}),
		repos: map[string]*Repo{},
	}
	for _, o := range opts {
		o(s)
	}
	for _, d := range []string{s.Root, s.home} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatalf("gitserver: %v", err)
		}
	}

	execPath := strings.TrimSpace(s.git(t, "", "--exec-path"))
	backend := filepath.Join(execPath, "git-http-backend")
	if _, err := os.Stat(backend); err != nil {
		t.Fatalf("gitserver: git http-backend not found: %v", err)
	}
	cgiHandler := &cgi.Handler{
		Path: backend,
		Dir:  s.Root,
		Env: append(gitEnv(s.home),
			"GIT_PROJECT_ROOT="+s.Root,
			"GIT_HTTP_EXPORT_ALL=1",
		),
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("gitserver: listen: %v", err)
	}
	s.URL = "http://" + ln.Addr().String()
	s.srv = &http.Server{
		Handler:           s.handler(cgiHandler),
		ReadHeaderTimeout: 10 * time.Second,
	}
	go func() {
		defer close(s.done)
		_ = s.srv.Serve(ln) // always returns an error; ErrServerClosed after Stop
	}()
	t.Cleanup(s.Stop)
	return s
}

// handler counts and records requests and enforces the token, if any,
// before handing the request to git http-backend.
func (s *Server) handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		s.mu.Lock()
		s.seen = append(s.seen, Request{Method: r.Method, URL: r.URL.String(), Header: r.Header.Clone()})
		s.mu.Unlock()
		if s.Token != "" && !s.authorized(r) {
			w.Header().Set("WWW-Authenticate", `Basic realm="gitserver"`)
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// authorized reports whether r carries s.Token.
func (s *Server) authorized(r *http.Request) bool {
	var got string
	if user, pass, ok := r.BasicAuth(); ok {
		got = pass
		if got == "" {
			got = user
		}
	} else if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		got = tok
	}
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(s.Token)) == 1
}

// Stop shuts the server down, waiting briefly for requests in flight. It
// may be called more than once; later calls do nothing.
func (s *Server) Stop() {
	s.stopOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.srv.Shutdown(ctx); err != nil {
			_ = s.srv.Close()
		}
		<-s.done
	})
}

// Requests returns how many HTTP requests the server has received,
// including those refused for want of a token.
func (s *Server) Requests() int64 {
	return s.requests.Load()
}

// Repo creates the bare repository owner/name.git under Root, with a
// working clone to commit from, or returns the one made before.
func (s *Server) Repo(t testing.TB, owner, name string) *Repo {
	t.Helper()
	for _, p := range []string{owner, name} {
		if p == "" || p == "." || p == ".." || strings.ContainsAny(p, `/\`) {
			t.Fatalf("gitserver: invalid repository name %q/%q", owner, name)
		}
	}
	key := owner + "/" + name
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.repos[key]; ok {
		return r
	}
	r := &Repo{
		Owner: owner,
		Name:  name,
		Bare:  filepath.Join(s.Root, owner, name+".git"),
		Work:  filepath.Join(s.base, "work", owner, name),
		URL:   s.URL + "/" + key + ".git",
		s:     s,
	}
	s.git(t, "", "init", "--quiet", "--bare", r.Bare)
	s.git(t, "", "init", "--quiet", r.Work)
	s.git(t, r.Work, "remote", "add", "origin", r.Bare)
	s.repos[key] = r
	return r
}

// Repo is a bare repository served by a Server, together with a working
// clone that commits are made in and pushed from.
type Repo struct {
	// Owner and Name identify the repository: URL ends in /Owner/Name.git.
	Owner, Name string
	// Bare is the served bare repository's folder.
	Bare string
	// Work is the working clone's folder.
	Work string
	// URL is the clone URL.
	URL string

	s     *Server
	ticks int // commits and tags made, to space out their fixed dates
}

// Commit writes files (slash-separated path relative to the repository
// root -> content; nil content deletes the file) in the working clone,
// commits them on the current branch (main unless moved) with a fixed
// author, committer and date, pushes the branch, and returns the commit SHA.
func (r *Repo) Commit(t testing.TB, files map[string][]byte, msg string) string {
	t.Helper()
	for name, data := range files {
		p, err := r.workPath(name)
		if err != nil {
			t.Fatalf("gitserver: %v", err)
		}
		if data == nil {
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("gitserver: %v", err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatalf("gitserver: %v", err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatalf("gitserver: %v", err)
		}
	}
	return r.commitAll(t, msg)
}

// CopyDir replaces everything under prefix (slash-separated, relative to
// the repository root; "" for the whole repository) with the files of the
// local folder src, keeping file modes and symbolic links, then commits and
// pushes as Commit does and returns the commit SHA. Folders named .git in
// src are skipped.
func (r *Repo) CopyDir(t testing.TB, src, prefix, msg string) string {
	t.Helper()
	dst := r.Work
	if prefix != "" {
		var err error
		if dst, err = r.workPath(prefix); err != nil {
			t.Fatalf("gitserver: %v", err)
		}
	}
	if err := clearDir(dst); err != nil {
		t.Fatalf("gitserver: %v", err)
	}
	if err := copyTree(src, dst); err != nil {
		t.Fatalf("gitserver: copy %s: %v", src, err)
	}
	return r.commitAll(t, msg)
}

// Branch creates or moves branch name to the working clone's HEAD and
// pushes it.
func (r *Repo) Branch(t testing.TB, name string) {
	t.Helper()
	r.s.git(t, r.Work, "branch", "--force", name, "HEAD")
	r.s.git(t, r.Work, "push", "--quiet", "--force", "origin", "refs/heads/"+name+":refs/heads/"+name)
}

// Tag creates (or moves) the annotated tag name at the working clone's HEAD
// and pushes it.
func (r *Repo) Tag(t testing.TB, name string) {
	t.Helper()
	r.s.gitDated(t, r.Work, r.tick(), "tag", "--force", "--annotate", "--message", name, name, "HEAD")
	r.s.git(t, r.Work, "push", "--quiet", "--force", "origin", "refs/tags/"+name+":refs/tags/"+name)
}

// commitAll commits every change in the working clone (even none), pushes
// the current branch and returns the new commit's SHA.
func (r *Repo) commitAll(t testing.TB, msg string) string {
	t.Helper()
	r.s.git(t, r.Work, "add", "--all")
	r.s.gitDated(t, r.Work, r.tick(), "commit", "--quiet", "--allow-empty", "--message", msg)
	r.s.git(t, r.Work, "push", "--quiet", "--force", "origin", "HEAD")
	return strings.TrimSpace(r.s.git(t, r.Work, "rev-parse", "HEAD"))
}

// tick returns the next fixed date for a commit or tag: one minute apart
// from 2024-01-01T00:00:00Z, so SHAs are reproducible.
func (r *Repo) tick() string {
	r.ticks++
	return fmt.Sprintf("%d +0000", 1704067200+60*r.ticks)
}

// workPath maps a slash-separated repository path into the working clone,
// refusing paths that leave it or touch .git.
func (r *Repo) workPath(name string) (string, error) {
	if !fs.ValidPath(name) || name == "." {
		return "", fmt.Errorf("invalid repository path %q", name)
	}
	for _, part := range strings.Split(name, "/") {
		if strings.EqualFold(part, ".git") {
			return "", fmt.Errorf("invalid repository path %q", name)
		}
	}
	return filepath.Join(r.Work, filepath.FromSlash(name)), nil
}

// git runs git in dir ("" for none) and returns its standard output,
// failing t with the combined output on error.
func (s *Server) git(t testing.TB, dir string, args ...string) string {
	t.Helper()
	return s.gitDated(t, dir, "", args...)
}

// gitDated is git with the author, committer and tagger dates fixed to
// date when it is not empty.
func (s *Server) gitDated(t testing.TB, dir, date string, args ...string) string {
	t.Helper()
	full := append([]string{
		"-c", "user.name=Gitserver Test",
		"-c", "user.email=gitserver@example.invalid",
		"-c", "init.defaultBranch=main",
		"-c", "commit.gpgSign=false",
		"-c", "tag.gpgSign=false",
		"-c", "core.autocrlf=false",
		"-c", "core.symlinks=true",
		"-c", "protocol.file.allow=always",
	}, args...)
	cmd := exec.Command("git", full...)
	cmd.Dir = dir
	cmd.Env = gitEnv(s.home)
	if date != "" {
		cmd.Env = append(cmd.Env, "GIT_AUTHOR_DATE="+date, "GIT_COMMITTER_DATE="+date)
	}
	var stdout, stderr strings.Builder
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("gitserver: git %s: %v\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// gitEnv is the clean environment every git process runs with: no system or
// user configuration, no prompts, and only PATH kept from the caller.
func gitEnv(home string) []string {
	return []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + home,
		"XDG_CONFIG_HOME=" + filepath.Join(home, ".config"),
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_TERMINAL_PROMPT=0",
		"LC_ALL=C",
	}
}

// clearDir empties dir (creating it if needed), keeping a top-level .git.
func clearDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return os.MkdirAll(dir, 0o755)
	}
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.Name() == ".git" {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// copyTree copies the files, folders and symbolic links under src into dst,
// keeping the executable bit and skipping .git folders.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir() && d.Name() == ".git" && rel != ".":
			return filepath.SkipDir
		case d.IsDir():
			return os.MkdirAll(target, 0o755)
		case d.Type()&fs.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(link, target)
		case d.Type().IsRegular():
			info, err := d.Info()
			if err != nil {
				return err
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			mode := fs.FileMode(0o644)
			if info.Mode()&0o111 != 0 {
				mode = 0o755
			}
			return os.WriteFile(target, data, mode)
		default:
			return fmt.Errorf("%s: unsupported file type %v", p, d.Type())
		}
	})
}
