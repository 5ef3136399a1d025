package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// secretFile writes a file only the server's machine has, with content no
// answer may carry, and returns its path and content.
func secretFile(t *testing.T) (path, content string) {
	t.Helper()
	content = "host_secret_" + strings.ReplaceAll(t.Name(), "/", "_") + " leaked;"
	path = filepath.Join(t.TempDir(), "secret.h")
	if err := os.WriteFile(path, []byte(content+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, content
}

// errorMessage is the message of an error reply.
func errorMessage(r reply) string {
	e, _ := r.body["error"].(map[string]any)
	msg, _ := e["message"].(string)
	return msg
}

// withFiles is the hello example as archive entries, with extra files.
func withFiles(t *testing.T, f fixture, extra map[string]string) []archiveEntry {
	t.Helper()
	entries := pluginFiles(t, f, "")
	for name, body := range extra {
		entries = append(entries, archiveEntry{name: name, body: []byte(body)})
	}
	return entries
}

// TestUploadCannotReadHostFiles uploads plugins whose build would read a
// file of the server's machine, through cgo or through an assembly
// #include: each is refused before compiling, naming its own file, and the
// file's content is never in the answer. In permissive mode, where cgo is
// allowed, the compiler's quote of the file is withheld from the answer.
func TestUploadCannotReadHostFiles(t *testing.T) {
	f := setup(t)
	secret, content := secretFile(t)
	cgo := map[string]string{"leak.go": "package main\n\n/*\n#include \"" + secret + "\"\n*/\nimport \"C\"\n"}
	asm := map[string]string{
		"leak.go":       "package main\n\nfunc leak()\n",
		"leak_amd64.s":  "#include \"" + secret + "\"\nTEXT ·leak(SB),0,$0\n\tRET\n",
		"leak_arm64.s":  "#include \"" + secret + "\"\nTEXT ·leak(SB),0,$0\n\tRET\n",
		"leak_other.go": "//go:build !amd64 && !arm64\n\npackage main\n\nfunc leak() {}\n",
	}
	normal := startServer(t, f)
	for _, c := range []struct {
		name   string
		s      *server
		files  map[string]string
		status int
		code   string
		names  string // what the answer must name
	}{
		{"cgo", normal, cgo, 403, "policy_refused", "leak.go imports \"C\""},
		{"assembly include", normal, asm, 403, "policy_refused", ".s includes \"" + secret},
		{"cgo in permissive mode", startServerAt(t, f, t.TempDir(), "PLUGIN_SECURITY_MODE=permissive"), cgo, 422, "build_failed", "withheld"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := c.s.upload(makeZip(t, withFiles(t, f, c.files)), "leak.zip", "", nil)
			if strings.Contains(r.raw, content) || strings.Contains(r.raw, "host_secret_") {
				t.Fatalf("the answer carries the host file's content: %s", r)
			}
			want(t, "upload reading a host file", r, c.status, c.code)
			if !strings.Contains(errorMessage(r)+r.raw, c.names) {
				t.Fatalf("the answer does not say %q: %s", c.names, r)
			}
		})
	}
}

// TestUploadReplaceOutsideRefused uploads a plugin whose go.mod replaces a
// module with a folder of the server's machine: refused, naming the line.
func TestUploadReplaceOutsideRefused(t *testing.T) {
	f := setup(t)
	s := startServer(t, f)
	entries := pluginFiles(t, f, "")
	for i, e := range entries {
		if e.name == "go.mod" {
			entries[i].body = append(append([]byte(nil), e.body...), "\nrequire example.com/keys v0.0.0\n\nreplace example.com/keys => ../../../../root/.ssh\n"...)
		}
	}
	r := s.upload(makeZip(t, entries), "replace.zip", "", nil)
	want(t, "upload replacing outside its tree", r, 403, "policy_refused")
	if !strings.Contains(errorMessage(r), "go.mod: replace example.com/keys => ../../../../root/.ssh") {
		t.Fatalf("the refusal does not name the replace line: %s", r)
	}
}

// TestUploadBuildScriptNotRun uploads a plugin with a build.sh that would
// leave a marker: the plugin is built with go build, and the script never
// runs.
func TestUploadBuildScriptNotRun(t *testing.T) {
	f := setup(t)
	s := startServer(t, f)
	marker := filepath.Join(t.TempDir(), "ran")
	script := "#!/usr/bin/env bash\ntouch " + marker + "\ngo build -buildmode=plugin $KSPLUGINS_BUILD_FLAGS -o \"$PLUGIN_OUTPUT\" .\n"
	r := s.upload(makeZip(t, withFiles(t, f, map[string]string{"build.sh": script})), "script.zip", "", nil)
	want(t, "upload with build.sh", r, 201, "")
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("the uploaded build.sh ran on the server")
	}
	if !strings.Contains(r.raw, "build.sh was not run") {
		t.Fatalf("the install does not warn that build.sh was ignored: %s", r)
	}
}

// TestBuildEnvironmentHasNoSecrets builds a local folder whose build.sh
// records its environment: none of the server's secrets are in it.
func TestBuildEnvironmentHasNoSecrets(t *testing.T) {
	f := setup(t)
	s := startServerAt(t, f, t.TempDir(), "KSPLUGINS_E2E_SECRET=e2e-secret-value", "GITHUB_TOKEN=e2e-github-token")
	dir := copyPlugin(t, filepath.Join(f.root, "test/e2e/testdata/plugins/seedstyle"))
	envFile := filepath.Join(t.TempDir(), "env")
	edit(t, filepath.Join(dir, "build.sh"), "set -euo pipefail\n", "set -euo pipefail\nenv > "+envFile+"\n")
	want(t, "load", s.api("POST", "/api/plugins/load", map[string]any{"source": dir}), 201, "")
	env := string(readFile(t, envFile))
	for _, secret := range []string{"e2e-secret-value", "e2e-github-token", s.token, "KSPLUGINS_TOKEN"} {
		if strings.Contains(env, secret) {
			t.Errorf("the build's environment has %q:\n%s", secret, env)
		}
	}
	if !strings.Contains(env, "PATH=") || !strings.Contains(env, "PLUGIN_OUTPUT=") {
		t.Errorf("the build's environment lacks what it needs:\n%s", env)
	}
}

// initPanicPlugin is the initpanic fixture, told to panic while the file
// trigger exists.
func initPanicPlugin(t *testing.T, f fixture, trigger string) string {
	t.Helper()
	dir := copyPlugin(t, filepath.Join(f.root, "test/e2e/testdata/plugins/initpanic"))
	edit(t, filepath.Join(dir, "main.go"), `"TRIGGER_PATH"`, `"`+trigger+`"`)
	return dir
}

// TestNativeInitPanicContained loads a native plugin whose package init
// panics: the load answers the panic and the server keeps serving. A
// plugin that loaded once and panics at the next start is marked failed,
// and the server comes up.
func TestNativeInitPanicContained(t *testing.T) {
	f := setup(t)
	trigger := filepath.Join(t.TempDir(), "panic-now")
	dir := initPanicPlugin(t, f, trigger)
	if err := os.WriteFile(trigger, nil, 0o644); err != nil {
		t.Fatal(err)
	}

	t.Run("load", func(t *testing.T) {
		s := startServer(t, f)
		r := s.api("POST", "/api/plugins/load", map[string]any{"source": dir})
		want(t, "load a plugin whose init panics", r, 422, "")
		if !strings.Contains(r.raw, "initpanic: told to panic") {
			t.Fatalf("the answer does not carry the panic: %s", r)
		}
		want(t, "the server after the panic", s.api("GET", "/api/plugins", nil), 200, "")
		if got := s.pluginState("initpanic"); got != "" {
			t.Fatalf("the failed install left a plugin in state %q", got)
		}
	})

	t.Run("restart", func(t *testing.T) {
		if err := os.Remove(trigger); err != nil {
			t.Fatal(err)
		}
		data, addr := t.TempDir(), freeAddr(t)
		s := startServerOn(t, f, addr, data, f.cacheDir)
		want(t, "load while init succeeds", s.api("POST", "/api/plugins/load", map[string]any{"source": dir}), 201, "")
		s.kill()
		if err := os.WriteFile(trigger, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		s = startServerOn(t, f, addr, data, f.cacheDir)
		r := s.api("GET", "/api/plugins/initpanic", nil)
		want(t, "the plugin after the restart", r, 200, "")
		if state, _ := r.body["state"].(string); state != "failed" && state != "crash_loop" {
			t.Fatalf("state = %q; want failed: %s", state, r)
		}
		if msg, _ := r.body["last_error"].(string); !strings.Contains(msg, "initpanic: told to panic") {
			t.Fatalf("last_error does not carry the panic: %s", r)
		}
		want(t, "the server after the restart", s.api("GET", "/api/plugins", nil), 200, "")
	})
}

// TestNativeInitHangContained loads a native plugin whose package init
// never returns, in the background: meanwhile a loaded plugin keeps
// serving, the API answers and another plugin loads; the hanging load
// fails once the loader stops waiting.
func TestNativeInitHangContained(t *testing.T) {
	f := setup(t)
	trigger := filepath.Join(t.TempDir(), "hang")
	if err := os.WriteFile(trigger, []byte("hang"), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := initPanicPlugin(t, f, trigger)
	s := startServer(t, f)
	want(t, "load hello", s.api("POST", "/api/plugins/load", map[string]any{"source": copyPlugin(t, filepath.Join(f.root, "plugins/examples/hello"))}), 201, "")

	r := s.api("POST", "/api/plugins/load?async=true", map[string]any{"source": dir})
	want(t, "load the hanging plugin", r, 202, "")
	op, _ := r.body["id"].(string)
	for {
		r := s.api("GET", "/api/plugins/operations/"+op, nil)
		if r.body["state"] != "running" {
			t.Fatalf("the hanging load ended early: %s", r)
		}
		if strings.Contains(r.raw, `"loading"`) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(time.Second) // well inside the plugin's init
	want(t, "hello while another plugin's init hangs", s.endpoint("GET", "my-plugin", "/hello"), 200, "")
	want(t, "the API while another plugin's init hangs", s.api("GET", "/api/plugins", nil), 200, "")
	flaky := copyPlugin(t, filepath.Join(f.root, "test/e2e/testdata/plugins/flaky"))
	loaded := make(chan reply, 1)
	go func() { loaded <- s.api("POST", "/api/plugins/load", map[string]any{"source": flaky}) }()
	select {
	case r := <-loaded:
		want(t, "load another plugin while one's init hangs", r, 201, "")
	case <-time.After(25 * time.Second):
		t.Fatal("loading another plugin waits for the hanging init")
	}

	done := waitOperation(t, s, op)
	if done.body["state"] != "failed" || !strings.Contains(done.raw, "did not return within") {
		t.Fatalf("the hanging load: %s", done)
	}
	want(t, "the API after the hanging load failed", s.api("GET", "/api/plugins/my-plugin", nil), 200, "")
}

// TestLeftoverBuildFoldersRemoved starts a server on a cache holding the
// work folder of a build killed mid-way: it is gone once the server is up.
func TestLeftoverBuildFoldersRemoved(t *testing.T) {
	f := setup(t)
	cache := t.TempDir()
	leftovers := []string{filepath.Join(cache, "work", "my-plugin-123456"), filepath.Join(cache, "sdk", ".tmp-sdk-123456")}
	for _, dir := range leftovers {
		if err := os.MkdirAll(filepath.Join(dir, "host"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "host", "main.go"), []byte("package main\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		// Killed an hour ago: older than a build that is just starting.
		past := time.Now().Add(-time.Hour)
		if err := os.Chtimes(dir, past, past); err != nil {
			t.Fatal(err)
		}
	}
	startServerWith(t, f, t.TempDir(), cache)
	for _, dir := range leftovers {
		if _, err := os.Stat(dir); err == nil {
			t.Errorf("%s is still there after the server started", dir)
		}
	}
}
