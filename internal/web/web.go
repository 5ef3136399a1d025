// Package web is the plugin manager page: HTML, CSS and JavaScript modules,
// written by hand with no build step, embedded in the binary and served
// under Prefix. Building or running the server needs no Node.js, and what
// is served is exactly what is in static/.
//
// The page talks only to this server's own API; every response carries a
// Content-Security-Policy that forbids anything else (scripts, styles or
// connections from other origins, inline scripts, framing).
package web

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"strings"
)

// Prefix is where the page is served; the server redirects / here.
const Prefix = "/ui/"

// contentSecurityPolicy allows the page its own files and API and nothing
// else. It may frame this server's pages: plugins' UI components, which
// their own policy sandboxes. Styles are set from scripts through the CSSOM only, which the
// policy does not restrict; style attributes in markup would be refused.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; frame-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// assets holds static/. go:embed needs a package-level variable; nothing
// writes it.
//
//go:embed static
var assets embed.FS

// Files returns the page's files, rooted at static/, for tests and tools.
func Files() fs.FS {
	sub, err := fs.Sub(assets, "static")
	if err != nil {
		panic(fmt.Sprintf("web: embedded files: %v", err)) // a fixed path: cannot fail
	}
	return sub
}

// Handler serves the page's files, with Prefix already stripped from the
// request path. Each file has a strong ETag (its content's hash), so a
// browser revalidates cheaply and never runs a stale module after an
// upgrade.
func Handler() (http.Handler, error) {
	files := Files()
	etags := map[string]string{}
	err := fs.WalkDir(files, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(files, path)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		etags["/"+path] = `"` + hex.EncodeToString(sum[:16]) + `"`
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("web: hash embedded files: %w", err)
	}
	etags["/"] = etags["/index.html"]
	server := http.FileServerFS(files)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		etag, ok := etags[r.URL.Path]
		if !ok || (strings.HasSuffix(r.URL.Path, "/") && r.URL.Path != "/") {
			// Not a file of the page: no directory listings, no guessing.
			http.NotFound(w, r)
			return
		}
		h.Set("Cache-Control", "no-cache")
		h.Set("ETag", etag)
		server.ServeHTTP(w, r)
	}), nil
}
