// Package extension serves what plugins add to the manager page: the files
// of each plugin's ui/ folder, which the page frames in a sandbox, and the
// bridge script through which a framed component asks the page for what it
// may have (see docs/web.md).
//
// A component's files share the server's origin, so their answers carry a
// policy that takes that origin away: the browser runs them in an opaque
// origin (CSP sandbox, without allow-same-origin), lets them load only
// files from this server, and lets them connect nowhere. Their only way out
// is postMessage to the page, which checks every message.
package extension

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/kubestellar/ksplugins/internal/manifest"
)

// Prefix is where plugins' UI files are served: Prefix, the plugin's id,
// and the file's path in its ui/ folder.
const Prefix = "/plugins-ui/"

// BridgePath is where the bridge script of version 1 is served.
const BridgePath = Prefix + "bridge-v1.js"

// Folder is the folder beside plugin.yaml that holds a plugin's UI files.
const Folder = "ui"

// Limits of a ui/ folder: its files are held in memory while the plugin
// runs.
const (
	MaxFiles     = 256
	MaxFileBytes = 2 << 20
	MaxBytes     = 8 << 20
)

// ContentSecurityPolicy is sent with every UI file. sandbox allow-scripts
// gives the document an opaque origin even when it is opened on its own
// rather than framed; connect-src 'none' leaves it no request of its own
// to make; frame-ancestors 'self' lets only the manager page frame it.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; " +
	"connect-src 'none'; form-action 'none'; base-uri 'none'; frame-ancestors 'self'; sandbox allow-scripts"

// Files are one plugin's UI files, read once from its ui/ folder.
type Files struct {
	files map[string]file
	// Digest is "sha256:" and the digest of the files (their paths, sizes
	// and contents, in path order).
	Digest string
}

type file struct {
	data        []byte
	etag        string
	contentType string
}

// ErrTooLarge is a ui/ folder over one of the limits.
var ErrTooLarge = errors.New("ui folder over its limits")

// Load reads the ui/ folder dir. A folder that does not exist, or holds no
// file, is no UI: nil and no error. Hidden names and anything but regular
// files (links, devices) are left out, as the build leaves them out.
func Load(dir string) (*Files, error) {
	info, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read UI files: %w", err)
	}
	if !info.IsDir() {
		return nil, fmt.Errorf("read UI files: %s is not a folder", dir)
	}
	f, err := load(os.DirFS(dir))
	if err != nil {
		return nil, fmt.Errorf("read UI files in %s: %w", dir, err)
	}
	return f, nil
}

func load(fsys fs.FS) (*Files, error) {
	f := &Files{files: map[string]file{}}
	total := 0
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != "." && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() || !d.Type().IsRegular() {
			return nil
		}
		if !manifest.IsUIPath(p) {
			return nil // a name the server would never serve
		}
		if len(f.files) == MaxFiles {
			return fmt.Errorf("%w: more than %d files", ErrTooLarge, MaxFiles)
		}
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		if len(data) > MaxFileBytes {
			return fmt.Errorf("%w: %s is %d bytes, over %d", ErrTooLarge, p, len(data), MaxFileBytes)
		}
		if total += len(data); total > MaxBytes {
			return fmt.Errorf("%w: more than %d bytes", ErrTooLarge, MaxBytes)
		}
		sum := sha256.Sum256(data)
		f.files[p] = file{data: data, etag: `"` + hex.EncodeToString(sum[:16]) + `"`, contentType: contentType(p)}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(f.files) == 0 {
		return nil, nil
	}
	f.Digest = f.digest()
	return f, nil
}

func (f *Files) digest() string {
	paths := f.Paths()
	h := sha256.New()
	for _, p := range paths {
		data := f.files[p].data
		fmt.Fprintf(h, "%s\x00%d\x00", p, len(data))
		h.Write(data)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// Paths are the files' paths, in order.
func (f *Files) Paths() []string {
	paths := make([]string, 0, len(f.files))
	for p := range f.files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	return paths
}

// Has reports whether there is a file at p.
func (f *Files) Has(p string) bool {
	_, ok := f.files[p]
	return ok
}

// WriteTo writes the files under dir, which must not exist yet.
func (f *Files) WriteTo(dir string) error {
	for p, fl := range f.files {
		dst := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(dst, fl.data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// types are the content types of the files a front end is made of; with
// nosniff, a browser runs a script only with a script's type.
var types = map[string]string{
	".html": "text/html; charset=utf-8", ".htm": "text/html; charset=utf-8",
	".js": "text/javascript; charset=utf-8", ".mjs": "text/javascript; charset=utf-8",
	".css": "text/css; charset=utf-8", ".json": "application/json",
	".svg": "image/svg+xml", ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
	".gif": "image/gif", ".webp": "image/webp", ".ico": "image/x-icon",
	".woff": "font/woff", ".woff2": "font/woff2", ".txt": "text/plain; charset=utf-8",
}

func contentType(p string) string {
	if t, ok := types[strings.ToLower(path.Ext(p))]; ok {
		return t
	}
	return "application/octet-stream"
}

// setHeaders sets what every answer under Prefix carries.
func setHeaders(h http.Header) {
	h.Set("Content-Security-Policy", ContentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-cache")
}

// Serve answers a request for the file at p (a path inside the ui/
// folder, without a leading "/"). A path that is not one of the files,
// including any that climbs out of the folder, is not found.
func (f *Files) Serve(w http.ResponseWriter, r *http.Request, p string) {
	setHeaders(w.Header())
	if !allowed(w, r) {
		return
	}
	fl, ok := f.files[p]
	if !ok || !manifest.IsUIPath(p) {
		http.NotFound(w, r)
		return
	}
	serve(w, r, p, fl)
}

// NotFound answers, with the policy of every answer under Prefix, that
// there is no such file: for a plugin that is not loaded, not running, or
// has no UI files.
func NotFound(w http.ResponseWriter, r *http.Request) {
	setHeaders(w.Header())
	http.NotFound(w, r)
}

func allowed(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return true
	}
	w.Header().Set("Allow", "GET, HEAD")
	http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	return false
}

func serve(w http.ResponseWriter, r *http.Request, name string, fl file) {
	w.Header().Set("Content-Type", fl.contentType)
	w.Header().Set("ETag", fl.etag)
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(fl.data))
}

//go:embed bridge-v1.js
var bridge []byte

// ServeBridge answers a request for the bridge script.
func ServeBridge(w http.ResponseWriter, r *http.Request) {
	setHeaders(w.Header())
	if allowed(w, r) {
		sum := sha256.Sum256(bridge)
		serve(w, r, "bridge-v1.js", file{data: bridge, etag: `"` + hex.EncodeToString(sum[:16]) + `"`, contentType: types[".js"]})
	}
}
