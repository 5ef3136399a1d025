package host

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/kubestellar/ksplugins/internal/extension"
)

// TestServeUI: an active plugin's running instance serves its UI files,
// under the extension policy; a plugin with none, a disabled plugin and
// one not loaded serve nothing.
func TestServeUI(t *testing.T) {
	h := newTestHost(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "index.html"), []byte("<p>ui</p>"), 0o644); err != nil {
		t.Fatal(err)
	}
	ui, err := extension.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	add(t, h, &testPlugin{id: "with-ui"}).inst.Load().ui = ui
	add(t, h, &testPlugin{id: "without-ui"})

	get := func(id, path string) (int, string) {
		t.Helper()
		rec := httptest.NewRecorder()
		h.ServeUI(rec, httptest.NewRequest("GET", extension.Prefix+id+"/"+path, nil), id, path)
		if rec.Header().Get("Content-Security-Policy") != extension.ContentSecurityPolicy {
			t.Fatalf("%s/%s: answered without the extension policy: %v", id, path, rec.Header())
		}
		return rec.Code, rec.Body.String()
	}
	if status, body := get("with-ui", "index.html"); status != 200 || body != "<p>ui</p>" {
		t.Fatalf("with-ui/index.html: %d %q", status, body)
	}
	for _, c := range []struct{ id, path string }{{"with-ui", "other.html"}, {"without-ui", "index.html"}, {"absent", "index.html"}} {
		if status, _ := get(c.id, c.path); status != 404 {
			t.Errorf("%s/%s: %d, want 404", c.id, c.path, status)
		}
	}
	if _, err := h.SetEnabled(context.Background(), "with-ui", false); err != nil {
		t.Fatal(err)
	}
	if status, _ := get("with-ui", "index.html"); status != 404 {
		t.Errorf("a disabled plugin's UI file: %d, want 404", status)
	}
}
