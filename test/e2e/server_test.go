package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/kubestellar/ksplugins/internal/toolchain"
)

// fixture is shared by every test of the package: the server binary is built
// once and the build cache is shared, so each plugin builds once per run.
type fixture struct {
	bin      string
	cacheDir string
	flags    []string // the host's build flags, for plugins built by hand
	root     string   // the repository root
}

// shared is set by TestMain before any test runs and read-only after.
var shared fixture

func TestMain(m *testing.M) {
	// The kube-apiserver's test environment logs through controller-runtime,
	// which prints a stack trace into the tests' output when no logger was
	// ever set; its start and stop errors reach the tests as errors anyway.
	ctrllog.SetLogger(logr.Discard())
	dir, err := os.MkdirTemp("", "ksplugins-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := 1
	if shared, err = newFixture(dir); err != nil {
		fmt.Fprintln(os.Stderr, "e2e setup:", err)
	} else {
		code = m.Run()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// newFixture builds the server with the test binary's flags, but without
// the race detector unless E2E_SERVER_RACE=1: under it, compiling one
// sandboxed plugin takes minutes instead of seconds. The race detector
// covers the host's code in the in-process tests of internal/...; these
// tests cover the real process, its plugins and its builds.
func newFixture(dir string) (fixture, error) {
	target, err := toolchain.Host()
	if err != nil {
		return fixture{}, err
	}
	if os.Getenv("E2E_SERVER_RACE") != "1" {
		delete(target.Settings, "-race")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		return fixture{}, err
	}
	f := fixture{bin: filepath.Join(dir, "ksplugins"), cacheDir: filepath.Join(dir, "cache"), flags: target.BuildFlags(), root: root}
	args := append([]string{"build", "-o", f.bin}, f.flags...)
	cmd := exec.Command("go", append(args, "./cmd/ksplugins")...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fixture{}, fmt.Errorf("build server: %v\n%s", err, out)
	}
	return f, nil
}

// setup returns the shared fixture.
func setup(t testing.TB) fixture {
	t.Helper()
	return shared
}

// server is one running ksplugins process.
type server struct {
	t     testing.TB
	url   string
	token string
	data  string
	cmd   *exec.Cmd
	// logs is what the server writes to stdout and stderr, both: plugins
	// print to the one and the server logs to the other.
	logs *syncWriter
}

// startServer starts a server on a fresh data folder.
func startServer(t *testing.T, f fixture) *server {
	t.Helper()
	return startServerAt(t, f, t.TempDir())
}

// startServerAt starts a server on the data folder data, with extra
// environment variables.
func startServerAt(t *testing.T, f fixture, data string, env ...string) *server {
	t.Helper()
	return startServerWith(t, f, data, f.cacheDir, env...)
}

// freeAddr returns a loopback address nothing listens on, for now.
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startServerWith starts a server on its own data and cache folders.
func startServerWith(t *testing.T, f fixture, data, cacheDir string, env ...string) *server {
	t.Helper()
	addr := freeAddr(t)
	return startServerOn(t, f, addr, data, cacheDir, env...)
}

// startServerOn starts a server listening on addr, such as a restarted
// server on its predecessor's address.
func startServerOn(t *testing.T, f fixture, addr, data, cacheDir string, env ...string) *server {
	t.Helper()
	return startServerArgs(t, f, addr, data, cacheDir, nil, env...)
}

// startServerArgs is startServerOn with more arguments for serve.
func startServerArgs(t testing.TB, f fixture, addr, data, cacheDir string, args []string, env ...string) *server {
	t.Helper()
	const token = "e2e-token"
	cmd := exec.Command(f.bin, append([]string{"serve", "--addr", addr, "--data-dir", data,
		"--cache-dir", cacheDir, "--plugin-dir", filepath.Join(data, "plugins")}, args...)...)
	// No warm-up build beside each test's own unless it asks (a later
	// value in env wins).
	cmd.Env = append(append(os.Environ(), "KSPLUGINS_TOKEN="+token, "KSPLUGINS_WARM_UP=false"), env...)
	cmd.Dir = f.root
	logs := &syncWriter{w: &bytes.Buffer{}}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &server{t: t, url: "http://" + addr, token: token, data: data, cmd: cmd, logs: logs}
	t.Cleanup(func() {
		s.kill()
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})
	// Ready: the plugins stored before the start are back or failed, as
	// the tests that restart a server expect.
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(s.url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
			err = fmt.Errorf("readyz: %s", resp.Status)
		}
		if time.Now().After(deadline) {
			t.Fatalf("server did not start: %v\n%s", err, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// kill stops the server with SIGKILL: no shutdown code runs.
func (s *server) kill() {
	if s.cmd.ProcessState == nil {
		_ = s.cmd.Process.Kill()
		_ = s.cmd.Wait()
	}
}

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// String returns what was written, when the writer is a buffer.
func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b, ok := s.w.(fmt.Stringer); ok {
		return b.String()
	}
	return ""
}

// Len returns how many bytes were written and not read, when the writer is
// a buffer.
func (s *syncWriter) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b, ok := s.w.(interface{ Len() int }); ok {
		return b.Len()
	}
	return 0
}

// reply is a decoded response.
type reply struct {
	status int
	body   map[string]any
	raw    string
}

// errorCode returns the code of an error reply.
func (r reply) errorCode() string {
	e, _ := r.body["error"].(map[string]any)
	code, _ := e["code"].(string)
	return code
}

func (r reply) String() string { return fmt.Sprintf("%d %s", r.status, r.raw) }

// call sends a request; auth adds the admin token.
func (s *server) call(method, path string, body any, auth bool) reply {
	s.t.Helper()
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			s.t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, s.url+path, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	if auth {
		req.Header.Set("Authorization", "Bearer "+s.token)
	}
	return s.send(req)
}

// send sends a request and decodes the reply.
func (s *server) send(req *http.Request) reply {
	s.t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	r := reply{status: resp.StatusCode, raw: strings.TrimSpace(string(data))}
	_ = json.Unmarshal(data, &r.body)
	return r
}

// api calls a management route with the token.
func (s *server) api(method, path string, body any) reply {
	s.t.Helper()
	return s.call(method, path, body, true)
}

// endpoint calls a plugin endpoint.
func (s *server) endpoint(method, id, path string) reply {
	s.t.Helper()
	return s.call(method, "/api/plugin-endpoints/"+id+path, nil, false)
}

// want fails the test unless r has the status (and, if given, the error code).
func want(t testing.TB, what string, r reply, status int, code string) {
	t.Helper()
	if r.status != status || (code != "" && r.errorCode() != code) {
		t.Fatalf("%s: got %s; want %d %s", what, r, status, code)
	}
}

// copyPlugin copies a plugin folder into a fresh temporary folder.
func copyPlugin(t testing.TB, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), filepath.Base(src))
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	return dst
}

// edit replaces old with new in a file, failing if old is not there.
func edit(t testing.TB, path, old, new string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(data, []byte(old)) {
		t.Fatalf("%s does not contain %q", path, old)
	}
	if err := os.WriteFile(path, bytes.Replace(data, []byte(old), []byte(new), 1), 0o644); err != nil {
		t.Fatal(err)
	}
}

// endpointWithHeader calls a plugin endpoint with one extra header.
func (s *server) endpointWithHeader(method, id, path, key, value string) reply {
	s.t.Helper()
	req, err := http.NewRequest(method, s.url+"/api/plugin-endpoints/"+id+path, nil)
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set(key, value)
	return s.send(req)
}
