package web

import (
	"io/fs"
	"net/http"
	"net/http/httptest"
	"path"
	"regexp"
	"strings"
	"testing"
)

func serve(t *testing.T, h http.Handler, method, target string, header map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestHandler(t *testing.T) {
	h, err := Handler()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		method, path string
		status       int
		contentType  string
	}{
		{"GET", "/", 200, "text/html"},
		{"HEAD", "/", 200, "text/html"},
		{"GET", "/main.js", 200, "text/javascript"},
		{"GET", "/style.css", 200, "text/css"},
		{"GET", "/index.html", 301, ""}, // the file server's canonical "/"
		{"GET", "/missing.js", 404, ""},
		{"GET", "/../web.go", 404, ""},
		{"POST", "/", 405, ""},
	}
	for _, c := range cases {
		t.Run(c.method+" "+c.path, func(t *testing.T) {
			rec := serve(t, h, c.method, c.path, nil)
			if rec.Code != c.status || !strings.HasPrefix(rec.Header().Get("Content-Type"), c.contentType) {
				t.Fatalf("got %d %q; want %d %q", rec.Code, rec.Header().Get("Content-Type"), c.status, c.contentType)
			}
			if got := rec.Header().Get("Content-Security-Policy"); got != contentSecurityPolicy {
				t.Fatalf("content security policy %q", got)
			}
			if c.status == 200 && (rec.Header().Get("ETag") == "" || rec.Header().Get("Cache-Control") != "no-cache") {
				t.Fatalf("caching headers: %v", rec.Header())
			}
		})
	}
	// A browser holding the current version revalidates for nothing.
	etag := serve(t, h, "GET", "/main.js", nil).Header().Get("ETag")
	if rec := serve(t, h, "GET", "/main.js", map[string]string{"If-None-Match": etag}); rec.Code != 304 {
		t.Fatalf("revalidation: %d", rec.Code)
	}
	if rec := serve(t, h, "GET", "/main.js", map[string]string{"If-None-Match": `"stale"`}); rec.Code != 200 {
		t.Fatalf("stale copy: %d", rec.Code)
	}
}

// References between the page's files, which a browser would fetch.
var (
	htmlRef   = regexp.MustCompile(`(?:src|href)="([^"]+)"`)
	importRef = regexp.MustCompile(`(?m)^\s*(?:import|export)\b[^'"]*?from\s+['"]([^'"]+)['"]|^\s*import\s+['"]([^'"]+)['"]`)
	cssRef    = regexp.MustCompile(`url\(\s*['"]?([^'")]+)`)
)

// TestReferencesResolve checks that every file the page refers to is
// embedded, and that it refers to nothing elsewhere: a renamed module or a
// stray CDN link fails here rather than in a browser.
func TestReferencesResolve(t *testing.T) {
	files := Files()
	var checked int
	err := fs.WalkDir(files, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(files, name)
		if err != nil {
			return err
		}
		text := string(data)
		var refs []string
		switch path.Ext(name) {
		case ".html":
			for _, m := range htmlRef.FindAllStringSubmatch(text, -1) {
				refs = append(refs, m[1])
			}
		case ".js":
			for _, m := range importRef.FindAllStringSubmatch(text, -1) {
				refs = append(refs, m[1]+m[2])
			}
		case ".css":
			for _, m := range cssRef.FindAllStringSubmatch(text, -1) {
				refs = append(refs, m[1])
			}
		}
		for _, ref := range refs {
			if strings.HasPrefix(ref, "#") || strings.HasPrefix(ref, "data:") {
				continue
			}
			if strings.Contains(ref, "//") {
				t.Errorf("%s refers to another site: %s", name, ref)
				continue
			}
			target := path.Join(path.Dir(name), ref)
			if _, err := fs.Stat(files, target); err != nil {
				t.Errorf("%s refers to %s, which is not embedded", name, ref)
			}
			checked++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 3 {
		t.Fatalf("checked %d references; the page has more", checked)
	}
}
