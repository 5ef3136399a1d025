package extension

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for p, data := range files {
		dst := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestServe(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"index.html": "<!doctype html><title>x</title>", "js/app.js": "1", "style.css": "a{}",
		".secret": "no", ".git/config": "no", "data.bin": "?",
	})
	outside := filepath.Join(filepath.Dir(dir), "outside.html")
	if err := os.WriteFile(outside, []byte("outside"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "link.html")); err != nil {
		t.Fatal(err)
	}
	f, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(f.Paths(), " "); got != "data.bin index.html js/app.js style.css" {
		t.Fatalf("files %q: hidden files and links must be left out", got)
	}
	tests := []struct {
		method, path string
		status       int
		contentType  string
	}{
		{"GET", "index.html", 200, "text/html; charset=utf-8"},
		{"HEAD", "js/app.js", 200, "text/javascript; charset=utf-8"},
		{"GET", "style.css", 200, "text/css; charset=utf-8"},
		{"GET", "data.bin", 200, "application/octet-stream"},
		{"GET", "../outside.html", 404, ""},
		{"GET", "js/../index.html", 404, ""},
		{"GET", "./index.html", 404, ""},
		{"GET", "/index.html", 404, ""},
		{"GET", "js\\app.js", 404, ""},
		{"GET", ".secret", 404, ""},
		{"GET", "link.html", 404, ""},
		{"GET", "", 404, ""},
		{"POST", "index.html", 405, ""},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			rec := httptest.NewRecorder()
			f.Serve(rec, httptest.NewRequest(tc.method, "/x", nil), tc.path)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d", rec.Code, tc.status)
			}
			h := rec.Header()
			if h.Get("Content-Security-Policy") != ContentSecurityPolicy || h.Get("X-Content-Type-Options") != "nosniff" {
				t.Fatalf("policy headers missing: %v", h)
			}
			if tc.contentType != "" && h.Get("Content-Type") != tc.contentType {
				t.Fatalf("Content-Type %q, want %q", h.Get("Content-Type"), tc.contentType)
			}
			if h.Get("Set-Cookie") != "" {
				t.Fatal("a cookie was set")
			}
		})
	}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/x", nil)
	req.Header.Set("If-None-Match", f.files["index.html"].etag)
	f.Serve(rec, req, "index.html")
	if rec.Code != http.StatusNotModified {
		t.Fatalf("revalidation: %d, want 304", rec.Code)
	}
}

// TestPolicy: the policy keeps a UI file out of the page's origin and off
// the network, whatever else it allows.
func TestPolicy(t *testing.T) {
	for _, d := range []string{"sandbox allow-scripts", "connect-src 'none'", "default-src 'none'", "frame-ancestors 'self'", "script-src 'self'"} {
		if !strings.Contains(ContentSecurityPolicy, d) {
			t.Errorf("policy lacks %q", d)
		}
	}
	if strings.Contains(ContentSecurityPolicy, "allow-same-origin") || strings.Contains(ContentSecurityPolicy, "unsafe-") {
		t.Errorf("policy weakens the sandbox: %s", ContentSecurityPolicy)
	}
}

func TestLoad(t *testing.T) {
	if f, err := Load(filepath.Join(t.TempDir(), "absent")); f != nil || err != nil {
		t.Fatalf("no folder: %v, %v; want no UI and no error", f, err)
	}
	if f, err := Load(writeFiles(t, map[string]string{".only-hidden": "x"})); f != nil || err != nil {
		t.Fatalf("no file: %v, %v; want no UI and no error", f, err)
	}
	a, _ := Load(writeFiles(t, map[string]string{"a.html": "1", "b/c.js": "2"}))
	b, _ := Load(writeFiles(t, map[string]string{"a.html": "1", "b/c.js": "2"}))
	c, _ := Load(writeFiles(t, map[string]string{"a.html": "1", "b/c.js": "3"}))
	if a.Digest != b.Digest || a.Digest == c.Digest || !strings.HasPrefix(a.Digest, "sha256:") {
		t.Fatalf("digests %s %s %s: same files must give the same digest, other files another", a.Digest, b.Digest, c.Digest)
	}
	big := strings.Repeat("x", MaxFileBytes+1)
	if _, err := Load(writeFiles(t, map[string]string{"big.js": big})); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("a file over the limit: %v, want ErrTooLarge", err)
	}
	out := t.TempDir() + "/copy"
	if err := a.WriteTo(out); err != nil {
		t.Fatal(err)
	}
	if again, err := Load(out); err != nil || again.Digest != a.Digest {
		t.Fatalf("written and read again: %v, %v; want digest %s", again, err, a.Digest)
	}
}

func TestServeBridge(t *testing.T) {
	rec := httptest.NewRecorder()
	ServeBridge(rec, httptest.NewRequest("GET", BridgePath, nil))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "window.ksplugins") || rec.Header().Get("Content-Type") != "text/javascript; charset=utf-8" {
		t.Fatalf("bridge: %d %v", rec.Code, rec.Header())
	}
}
