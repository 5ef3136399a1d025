package e2e

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kubestellar/ksplugins/internal/httpwasmtest"
)

// TestHTTPWasmGuests installs two http-wasm guests that were not written
// with the SDK, built here from source (AssemblyScript, and WebAssembly
// text), each from a folder of its plugin.yaml and module, and holds the
// tier to what the issue asks:
//
//   - both answer through /api/plugin-endpoints/..., with the method,
//     URI, headers, body and status round-tripping;
//   - a guest in an endless loop gets a 504 within its timeout, the
//     server stays up and the guest's next request is served;
//   - a reload and a restart bring them back, a lone module whose file
//     is gone from the server's copy of it;
//   - an uploaded archive of the two files installs too;
//   - a module loaded as a file alone carries its manifest in a custom
//     section;
//   - a module that exports neither interface is refused with a 400 that
//     lists what it exports and what was expected, from a folder and as a
//     file alone.
func TestHTTPWasmGuests(t *testing.T) {
	f := setup(t)
	as := guestFolder(t, f, "http-wasm-hello-as", httpwasmtest.HelloAS(t))
	wat := guestFolder(t, f, "http-wasm-wat", httpwasmtest.EchoWAT(t))
	addr, data := freeAddr(t), t.TempDir()
	s := startServerOn(t, f, addr, data, f.cacheDir)

	want(t, "load the AssemblyScript guest", s.api("POST", "/api/plugins/load", map[string]any{"source": as}), 201, "")
	want(t, "load the WAT guest", s.api("POST", "/api/plugins/load", map[string]any{"source": wat}), 201, "")
	for _, id := range []string{"http-wasm-hello-as", "http-wasm-wat"} {
		if r := s.api("GET", "/api/plugins/"+id, nil); r.body["tier"] != "http-wasm" {
			t.Errorf("%s: %s; want tier http-wasm", id, r)
		}
	}

	tests := []struct {
		name         string
		method, path string
		body         string
		header       http.Header
		status       int
		wantBody     string
		wantHeader   map[string]string
	}{
		{name: "as hello", method: "GET", path: "/http-wasm-hello-as/hello?name=e2e", status: 200, wantBody: "hello, e2e",
			wantHeader: map[string]string{"X-Guest": "assemblyscript", "Content-Type": "text/plain"}},
		{name: "as reverse", method: "POST", path: "/http-wasm-hello-as/reverse", body: "drawer", status: 201, wantBody: "reward"},
		{name: "as configuration", method: "GET", path: "/http-wasm-hello-as/config", status: 200, wantBody: `{"greeting":"hi"}`},
		{name: "as next", method: "GET", path: "/http-wasm-hello-as/next", status: 202, wantBody: "after next, ctx 7"},
		{name: "wat get with a header", method: "GET", path: "/http-wasm-wat/echo?q=1", header: http.Header{"X-Echo": {"marco"}},
			status: 200, wantBody: "wat GET /echo?q=1\n", wantHeader: map[string]string{"X-Echo": "marco"}},
		{name: "wat post", method: "POST", path: "/http-wasm-wat/echo", body: "polo", status: 201, wantBody: "wat POST /echo\npolo"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, header, body := s.raw(t, tt.method, "/api/plugin-endpoints"+tt.path, tt.body, tt.header)
			if status != tt.status || body != tt.wantBody {
				t.Fatalf("%s %s: %d %q; want %d %q", tt.method, tt.path, status, body, tt.status, tt.wantBody)
			}
			for k, v := range tt.wantHeader {
				if got := header.Get(k); got != v {
					t.Errorf("header %s: %q; want %q", k, got, v)
				}
			}
		})
	}

	t.Run("spinning guest", func(t *testing.T) {
		// The WAT guest's manifest sets timeout_ms: 1000.
		start := time.Now()
		r := s.endpoint("GET", "http-wasm-wat", "/spin")
		took := time.Since(start)
		want(t, "spin", r, http.StatusGatewayTimeout, "plugin_timeout")
		if took < time.Second || took > 5*time.Second {
			t.Errorf("the spinning guest was answered after %s; its timeout is 1s", took)
		}
		want(t, "the server is up", s.api("GET", "/api/plugins/http-wasm-wat", nil), 200, "")
		deadline := time.Now().Add(10 * time.Second)
		for {
			status, _, body := s.raw(t, "GET", "/api/plugin-endpoints/http-wasm-wat/echo", "", nil)
			if status == 200 && body == "wat GET /echo\n" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the guest did not come back after the spin: %d %q", status, body)
			}
			time.Sleep(50 * time.Millisecond)
		}
	})

	t.Run("uploaded archive", func(t *testing.T) {
		yaml := readFile(t, filepath.Join(as, "plugin.yaml"))
		yaml = bytes.Replace(yaml, []byte("id: http-wasm-hello-as"), []byte("id: uploaded-as"), 1)
		archive := makeZip(t, []archiveEntry{
			{name: "guest/plugin.yaml", body: yaml},
			{name: "guest/guest.wasm", body: readFile(t, filepath.Join(as, "guest.wasm"))},
		})
		want(t, "upload", s.upload(archive, "guest.zip", "", nil), 201, "")
		if status, _, body := s.raw(t, "GET", "/api/plugin-endpoints/uploaded-as/hello?name=zip", "", nil); status != 200 || body != "hello, zip" {
			t.Errorf("GET /hello: %d %q", status, body)
		}
	})

	t.Run("manifest in the module", func(t *testing.T) {
		b, err := os.ReadFile(httpwasmtest.EchoWAT(t))
		if err != nil {
			t.Fatal(err)
		}
		yaml := "id: embedded-echo\nname: Embedded\nversion: 1.0.0\ndescription: d\nauthor: e2e\n" +
			"endpoints:\n  - {path: /echo, method: GET, handler: guest}\n"
		// Removed with the subtest: the restart below finds the server's
		// own copy.
		lone := filepath.Join(t.TempDir(), "echo.wasm")
		if err := os.WriteFile(lone, withCustomSection(b, "ksplugins.manifest", yaml), 0o644); err != nil {
			t.Fatal(err)
		}
		want(t, "load a lone module", s.api("POST", "/api/plugins/load", map[string]any{"source": lone}), 201, "")
		if status, _, body := s.raw(t, "GET", "/api/plugin-endpoints/embedded-echo/echo", "", nil); status != 200 || body != "wat GET /echo\n" {
			t.Errorf("GET /echo: %d %q", status, body)
		}
	})

	t.Run("wrong exports", func(t *testing.T) {
		// A module that exports its memory and a _start function: a WASI
		// command, which neither tier runs.
		module := []byte{0x00, 'a', 's', 'm', 0x01, 0x00, 0x00, 0x00,
			0x01, 0x04, 0x01, 0x60, 0x00, 0x00, // type: () -> ()
			0x03, 0x02, 0x01, 0x00, // one function of that type
			0x05, 0x03, 0x01, 0x00, 0x01, // one page of memory
			0x07, 0x13, 0x02, 0x06, 'm', 'e', 'm', 'o', 'r', 'y', 0x02, 0x00, 0x06, '_', 's', 't', 'a', 'r', 't', 0x00, 0x00,
			0x0a, 0x04, 0x01, 0x02, 0x00, 0x0b, // its body: end
		}
		dir := copyPlugin(t, filepath.Join(f.root, "plugins/examples/http-wasm-wat"))
		edit(t, filepath.Join(dir, "plugin.yaml"), "id: http-wasm-wat", "id: wrong-exports")
		if err := os.WriteFile(filepath.Join(dir, "command.wasm"), module, 0o644); err != nil {
			t.Fatal(err)
		}
		lone := filepath.Join(t.TempDir(), "command.wasm")
		if err := os.WriteFile(lone, module, 0o644); err != nil {
			t.Fatal(err)
		}
		for name, src := range map[string]string{"folder": dir, "file": lone} {
			r := s.api("POST", "/api/plugins/load", map[string]any{"source": src})
			want(t, name, r, http.StatusBadRequest, "unsupported_module")
			for _, w := range []string{"_start (func)", "memory (memory)", "handle_request (func)", "ksp_call (func)"} {
				if !strings.Contains(r.raw, w) {
					t.Errorf("%s: %s; the refusal does not name %s", name, r, w)
				}
			}
			details, _ := r.body["error"].(map[string]any)["details"].(map[string]any)
			if found, _ := details["found"].([]any); len(found) != 2 {
				t.Errorf("%s: details %v; want the two exports found", name, details)
			}
			if expected, _ := details["expected"].(map[string]any); expected["http-wasm"] == nil || expected["sandboxed"] == nil {
				t.Errorf("%s: details %v; want both interfaces expected", name, details)
			}
		}
		want(t, "nothing was loaded", s.api("GET", "/api/plugins/wrong-exports", nil), 404, "")
	})
	// The plugins come back after a reload and a restart, from their
	// folders or, the lone module's file gone, from the server's own copy
	// (a restart of the test's server, not a subtest's, so that it
	// outlives one).
	want(t, "reload", s.api("POST", "/api/plugins/http-wasm-hello-as/reload", nil), 200, "")
	s.kill()
	s = startServerOn(t, f, addr, data, f.cacheDir)
	for _, id := range []string{"http-wasm-hello-as", "http-wasm-wat", "embedded-echo", "uploaded-as"} {
		if state := s.pluginState(id); state != "active" {
			t.Fatalf("after the restart %s is %q; want active", id, state)
		}
	}
	if status, _, body := s.raw(t, "GET", "/api/plugin-endpoints/http-wasm-hello-as/hello", "", nil); status != 200 || body != "hello, world" {
		t.Errorf("after the restart: %d %q", status, body)
	}
	if status, _, body := s.raw(t, "GET", "/api/plugin-endpoints/embedded-echo/echo", "", nil); status != 200 || body != "wat GET /echo\n" {
		t.Errorf("after the restart, its file gone: %d %q", status, body)
	}
}

// guestFolder copies an example guest's folder, whose module is built
// from source and not kept in the repository, and adds the module built.
func guestFolder(t *testing.T, f fixture, example, module string) string {
	t.Helper()
	dir := copyPlugin(t, filepath.Join(f.root, "plugins/examples", example))
	b, err := os.ReadFile(module)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "guest.wasm"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// raw sends a request and returns the status, header and body as they
// are.
func (s *server) raw(t *testing.T, method, path, body string, header http.Header) (int, http.Header, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, s.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(data)
}

// withCustomSection appends a custom section to a module.
func withCustomSection(module []byte, name, content string) []byte {
	leb := func(v uint32) []byte {
		var b []byte
		for {
			c := byte(v & 0x7f)
			if v >>= 7; v == 0 {
				return append(b, c)
			}
			b = append(b, c|0x80)
		}
	}
	body := append(leb(uint32(len(name))), name...)
	body = append(body, content...)
	out := append(append([]byte(nil), module...), 0)
	out = append(out, leb(uint32(len(body)))...)
	return append(out, body...)
}
