package e2e

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/kubestellar/ksplugins/internal/gitserver"
)

// catalogWorld is a publisher's world on loopback servers: the hello
// example in a plugin repository, at 1.0.0 and then 1.1.0 (which answers
// differently), an archive on a web server, and a catalog repository
// listing them, signed with the publisher's tool.
type catalogWorld struct {
	f       fixture
	git     *gitserver.Server
	plugin  *gitserver.Repo
	catalog *gitserver.Repo
	archive string // the archive's URL
	// served is what the archive's URL answers: the hello example zipped,
	// until a test changes it.
	served atomic.Pointer[[]byte]
	dir    string // the publisher's folder: key and catalog.yaml
	key    string // the private key's file
	pub    string // the public key, ed25519:<base64>
	v1, v2 string // the plugin's commits at 1.0.0 and 1.1.0
	// description is the hello entry's README, and samples how many
	// entries like netcheck's the catalog lists besides, for a test that
	// needs more (the page's, with a hostile README and two pages).
	description string
	samples     int
}

const (
	pluginRepoURL  = "https://github.com/kubestellar/hello-plugin"
	catalogRepoURL = "https://github.com/kubestellar/plugin-catalog"
)

func newCatalogWorld(t *testing.T, f fixture) *catalogWorld {
	t.Helper()
	w := &catalogWorld{f: f, git: gitserver.Start(t), dir: t.TempDir(), description: "# Hello\nAnswers a greeting."}
	w.plugin = w.git.Repo(t, "kubestellar", "hello-plugin")
	hello := filepath.Join(f.root, "plugins/examples/hello")
	w.v1 = w.plugin.CopyDir(t, hello, "", "hello 1.0.0")
	manifest := readFile(t, filepath.Join(hello, "plugin.yaml"))
	main := readFile(t, filepath.Join(hello, "main.go"))
	w.v2 = w.plugin.Commit(t, map[string][]byte{
		"plugin.yaml": bytes.Replace(manifest, []byte("version: 1.0.0"), []byte("version: 1.1.0"), 1),
		"main.go": bytes.Replace(bytes.Replace(main, []byte("Hello from plugin!"), []byte("Hello from 1.1!"), 1),
			[]byte(`Version:     "1.0.0"`), []byte(`Version:     "1.1.0"`), 1),
	}, "hello 1.1.0")
	w.catalog = w.git.Repo(t, "kubestellar", "plugin-catalog")
	zipped := makeZip(t, pluginFiles(t, f, "hello/"))
	w.served.Store(&zipped)
	web := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) { rw.Write(*w.served.Load()) }))
	t.Cleanup(web.Close)
	w.archive = web.URL + "/hello-1.0.0.zip"
	w.key = filepath.Join(w.dir, "publisher.key")
	if out, err := exec.Command(f.bin, "catalog", "keygen", "--out", w.key).CombinedOutput(); err != nil {
		t.Fatalf("catalog keygen: %v\n%s", err, out)
	}
	w.pub = strings.TrimSpace(string(readFile(t, w.key+".pub")))
	return w
}

// draft is a catalog.yaml before signing: the hello plugin at each
// version (version -> commit, or "archive" for the archive, in order),
// another entry and w.samples more like it.
func (w *catalogWorld) draft(versions ...[2]string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "entries:\n- id: %s\n  name: Hello\n  summary: Says hello\n  description: %s\n", helloID, strconv.Quote(w.description))
	b.WriteString("  categories: [examples]\n  publisher: KubeStellar\n  homepage: https://example.com/hello\n  versions:\n")
	for _, v := range versions {
		if v[1] == "archive" {
			fmt.Fprintf(&b, "  - version: %s\n    tier: native\n    source: {archive: %q}\n", v[0], w.archive)
			continue
		}
		fmt.Fprintf(&b, "  - version: %s\n    tier: native\n    source: {repository: %q, commit: %s}\n", v[0], pluginRepoURL, v[1])
	}
	b.WriteString("- id: netcheck\n  name: Network check\n  summary: Checks cluster endpoints\n  categories: [networking]\n  publisher: Net Folk\n")
	fmt.Fprintf(&b, "  versions:\n  - version: 0.3.0\n    tier: sandboxed\n    source: {archive: %q}\n", w.archive)
	for i := 1; i <= w.samples; i++ {
		fmt.Fprintf(&b, "- id: sample-%02d\n  name: Sample %02d\n  categories: [samples]\n", i, i)
		fmt.Fprintf(&b, "  versions:\n  - version: 1.0.0\n    tier: sandboxed\n    source: {archive: %q}\n", w.archive)
	}
	return b.String()
}

// sign signs draft with the publisher's tool and returns the signed
// catalog.yaml and its signature.
func (w *catalogWorld) sign(t *testing.T, draft string) (data, sig []byte) {
	t.Helper()
	path := filepath.Join(w.dir, "catalog.yaml")
	if err := os.WriteFile(path, []byte(draft), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(w.f.bin, "catalog", "sign", "--key", w.key, "--repository-base-url", w.git.URL, path).CombinedOutput()
	if err != nil {
		t.Fatalf("catalog sign: %v\n%s", err, out)
	}
	return readFile(t, path), readFile(t, path+".sig")
}

// publish commits a catalog and its signature to the catalog repository.
func (w *catalogWorld) publish(t *testing.T, data, sig []byte) {
	t.Helper()
	w.catalog.Commit(t, map[string][]byte{"catalog.yaml": data, "catalog.yaml.sig": sig}, "catalog")
}

// release signs a catalog of the hello plugin at versions, as draft
// takes them, and publishes it.
func (w *catalogWorld) release(t *testing.T, versions ...[2]string) {
	t.Helper()
	data, sig := w.sign(t, w.draft(versions...))
	w.publish(t, data, sig)
}

// resign signs data with the publisher's key, as catalog sign would
// have, without computing digests again.
func (w *catalogWorld) resign(t *testing.T, data []byte) []byte {
	t.Helper()
	seed, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(readFile(t, w.key))))
	if err != nil {
		t.Fatal(err)
	}
	return []byte(base64.StdEncoding.EncodeToString(ed25519.Sign(ed25519.NewKeyFromSeed(seed), data)) + "\n")
}

// configure points s at the git server and the catalog.
func (w *catalogWorld) configure(s *server) {
	s.configure(map[string]any{"repository_base_url": w.git.URL,
		"catalogs": []map[string]any{{"name": "main", "location": catalogRepoURL, "ref": "main", "keys": []string{w.pub}}}})
}

// refresh reads the catalogs again and returns the one's status.
func refreshCatalogs(t *testing.T, s *server) map[string]any {
	t.Helper()
	r := s.api("POST", "/api/plugins/catalog/refresh", nil)
	want(t, "refresh", r, 200, "")
	cs, _ := r.body["catalogs"].([]any)
	if len(cs) != 1 {
		t.Fatalf("refresh: %s", r)
	}
	return cs[0].(map[string]any)
}

// entryIDs are the ids of a catalog list's entries.
func entryIDs(r reply) []string {
	var ids []string
	es, _ := r.body["entries"].([]any)
	for _, e := range es {
		ids = append(ids, e.(map[string]any)["id"].(string))
	}
	return ids
}

// TestCatalog searches a signed catalog served from a repository, installs
// from it by id, sees an update once the catalog lists a new version and
// installs it, then refuses a version whose source does not match its
// signed digest (a repository commit, an archive) and a catalog changed
// after signing.
func TestCatalog(t *testing.T) {
	f := setup(t)
	w := newCatalogWorld(t, f)
	data, sig := w.sign(t, w.draft([2]string{"1.0.0", w.v1}))
	w.publish(t, data, sig)
	s := startServer(t, f)
	w.configure(s)

	if st := refreshCatalogs(t, s); st["error"] != "" || st["entries"] != 2.0 || st["refreshed_at"] == nil {
		t.Fatalf("catalog status: %v", st)
	}
	for _, q := range []struct {
		query string
		ids   string
		total float64
	}{
		{"", "[my-plugin netcheck]", 2}, // by name: Hello, Network check
		{"?q=hello", "[my-plugin]", 1},
		{"?category=networking", "[netcheck]", 1},
		{"?tier=native", "[my-plugin]", 1},
		{"?q=nothing+like+it", "[]", 0},
		{"?page=2&per_page=1", "[netcheck]", 2},
	} {
		r := s.api("GET", "/api/plugins/catalog"+q.query, nil)
		want(t, "search "+q.query, r, 200, "")
		if got := fmt.Sprint(entryIDs(r)); got != q.ids || r.body["total"] != q.total {
			t.Fatalf("search %q: %s of %v; want %s of %v", q.query, got, r.body["total"], q.ids, q.total)
		}
	}
	want(t, "an unknown entry", s.api("GET", "/api/plugins/catalog/nothing", nil), 404, "not_found")

	r := s.api("POST", "/api/plugins/catalog/"+helloID+"/install", map[string]any{})
	want(t, "install by catalog id", r, 201, "")
	if pin(r) != w.v1 {
		t.Fatalf("installed commit %q; want %s", pin(r), w.v1)
	}
	if r := s.endpoint("GET", helloID, "/hello"); r.body["message"] != "Hello from plugin!" {
		t.Fatalf("1.0.0: %s", r)
	}
	want(t, "install again", s.api("POST", "/api/plugins/catalog/"+helloID+"/install", nil), 409, "plugin_exists")
	entry := s.api("GET", "/api/plugins/catalog/"+helloID, nil)
	if entry.body["installed"] != true || entry.body["installed_version"] != "1.0.0" || entry.body["update_available"] != false ||
		!strings.Contains(fmt.Sprint(entry.body["description"]), "Answers a greeting") {
		t.Fatalf("entry after install: %s", entry)
	}

	// The publisher adds 1.1.0: an update appears once the catalog is read.
	data, sig = w.sign(t, w.draft([2]string{"1.0.0", w.v1}, [2]string{"1.1.0", w.v2}))
	w.publish(t, data, sig)
	refreshCatalogs(t, s)
	entry = s.api("GET", "/api/plugins/catalog/"+helloID, nil)
	if entry.body["update_available"] != true || entry.body["latest"] != "1.1.0" {
		t.Fatalf("entry after the catalog added 1.1.0: %s", entry)
	}
	r = s.api("POST", "/api/plugins/catalog/"+helloID+"/update?async=true", map[string]any{})
	want(t, "update by catalog id", r, 202, "")
	op := waitOperation(t, s, r.body["id"].(string))
	if op.body["state"] != "succeeded" {
		t.Fatalf("update: %s", op)
	}
	if r := s.endpoint("GET", helloID, "/hello"); r.body["message"] != "Hello from 1.1!" {
		t.Fatalf("after the update: %s", r)
	}
	if e := s.api("GET", "/api/plugins/catalog/"+helloID, nil); e.body["update_available"] != false || e.body["installed_version"] != "1.1.0" {
		t.Fatalf("entry after the update: %s", e)
	}

	// 1.2.0 names a commit whose files are not the ones whose digest was
	// signed (the signed digest is 1.1.0's): refused, on update and on
	// install, and the running version keeps serving.
	v3 := w.plugin.Commit(t, map[string][]byte{"README.md": []byte("changed after signing\n")}, "after signing")
	signed, _ := w.sign(t, w.draft([2]string{"1.0.0", w.v1}, [2]string{"1.1.0", w.v2}, [2]string{"1.2.0", w.v2}))
	at := bytes.LastIndex(signed, []byte(w.v2))
	moved := append(append(append([]byte{}, signed[:at]...), v3...), signed[at+len(w.v2):]...)
	w.publish(t, moved, w.resign(t, moved))
	if st := refreshCatalogs(t, s); st["error"] != "" {
		t.Fatalf("the catalog naming a moved source must verify: %v", st)
	}
	r = s.api("POST", "/api/plugins/catalog/"+helloID+"/update", map[string]any{"version": "1.2.0"})
	want(t, "update to a source changed after signing", r, 422, "catalog_digest_mismatch")
	if r := s.endpoint("GET", helloID, "/hello"); r.body["message"] != "Hello from 1.1!" {
		t.Fatalf("a refused update must keep the running version: %s", r)
	}
	want(t, "unload", s.api("DELETE", "/api/plugins/"+helloID, nil), 200, "")
	r = s.api("POST", "/api/plugins/catalog/"+helloID+"/install", map[string]any{"version": "1.2.0"})
	want(t, "install of a source changed after signing", r, 422, "catalog_digest_mismatch")
	if list := s.api("GET", "/api/plugins", nil); list.body["count"] != 0.0 {
		t.Fatalf("a refused install left a plugin: %s", list)
	}
	if left := findDir(t, s.data, v3); left != "" {
		t.Fatalf("a refused install left its checkout at %s", left)
	}

	// An archive version installs as an upload, and is refused once the
	// archive at its URL is not the one signed, leaving no upload behind.
	data, sig = w.sign(t, w.draft([2]string{"1.0.0", "archive"}))
	w.publish(t, data, sig)
	refreshCatalogs(t, s)
	r = s.api("POST", "/api/plugins/catalog/"+helloID+"/install?async=true", nil)
	want(t, "install an archive version", r, 202, "")
	if op := waitOperation(t, s, r.body["id"].(string)); op.body["state"] != "succeeded" {
		t.Fatalf("install an archive version: %s", op)
	}
	if r := s.endpoint("GET", helloID, "/hello"); r.body["message"] != "Hello from plugin!" {
		t.Fatalf("the archive's plugin: %s", r)
	}
	want(t, "unload", s.api("DELETE", "/api/plugins/"+helloID, nil), 200, "")
	changed := makeZip(t, append(pluginFiles(t, f, "hello/"), archiveEntry{name: "hello/NOTES.md", body: []byte("added after signing")}))
	w.served.Store(&changed)
	uploads := func() int { entries, _ := os.ReadDir(filepath.Join(s.data, "plugins", "uploads")); return len(entries) }
	before := uploads()
	r = s.api("POST", "/api/plugins/catalog/"+helloID+"/install", nil)
	want(t, "install of an archive changed after signing", r, 422, "catalog_digest_mismatch")
	if list := s.api("GET", "/api/plugins", nil); list.body["count"] != 0.0 {
		t.Fatalf("a refused install left a plugin: %s", list)
	}
	if after := uploads(); after != before {
		t.Fatalf("a refused install left an upload: %d uploads, %d before", after, before)
	}

	// The catalog's bytes change after signing: refused whole, with the
	// reason, and nothing of it is listed or installable.
	data, sig = w.sign(t, w.draft([2]string{"1.0.0", w.v1}))
	w.publish(t, bytes.Replace(data, []byte("Says hello"), []byte("Says hallo"), 1), sig)
	st := refreshCatalogs(t, s)
	if st["entries"] != 0.0 || !strings.Contains(fmt.Sprint(st["error"]), "does not verify") {
		t.Fatalf("tampered catalog status: %v", st)
	}
	r = s.api("GET", "/api/plugins/catalog", nil)
	if r.body["total"] != 0.0 || !strings.Contains(r.raw, "does not verify") {
		t.Fatalf("list of a refused catalog: %s", r)
	}
	want(t, "install from a refused catalog", s.api("POST", "/api/plugins/catalog/"+helloID+"/install", nil), 404, "not_found")
}

// findDir returns a folder named name under root, or "".
func findDir(t *testing.T, root, name string) string {
	t.Helper()
	var found string
	_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() && d.Name() == name {
			found = p
			return filepath.SkipAll
		}
		return nil
	})
	return found
}

// TestCatalogCLI publishes a catalog with the publisher's tool, verifies
// it, then searches it, installs from it by id and finds the plugin
// outdated once the catalog lists a newer version, all from the command
// line.
func TestCatalogCLI(t *testing.T) {
	f := setup(t)
	w := newCatalogWorld(t, f)
	data, sig := w.sign(t, w.draft([2]string{"1.0.0", w.v1}))
	w.publish(t, data, sig)
	path := filepath.Join(w.dir, "catalog.yaml")
	out, err := exec.Command(f.bin, "catalog", "verify", "--key", w.key+".pub", "--sources", "--repository-base-url", w.git.URL, path).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "2 entries, 2 versions") {
		t.Fatalf("catalog verify: %v\n%s", err, out)
	}
	s := startServer(t, f)
	w.configure(s)
	refreshCatalogs(t, s)

	got, err := s.cli(f, "search", "--category", "networking")
	if err != nil || !strings.Contains(got, "netcheck") || strings.Contains(got, helloID) {
		t.Fatalf("search --category networking: %v\n%s", err, got)
	}
	if got, err = s.cli(f, "search", "hello", "--tier", "native"); err != nil || !strings.Contains(got, helloID) || strings.Contains(got, "netcheck") {
		t.Fatalf("search hello: %v\n%s", err, got)
	}
	got, err = s.cli(f, "install", helloID+"@1.0.0")
	if err != nil || !strings.Contains(got, "building") || !strings.Contains(got, "installed my-plugin 1.0.0") {
		t.Fatalf("install by catalog id: %v\n%s", err, got)
	}
	if got, err = s.cli(f, "outdated"); err != nil || !strings.Contains(got, "at its latest version") {
		t.Fatalf("outdated with nothing to update: %v\n%s", err, got)
	}
	data, sig = w.sign(t, w.draft([2]string{"1.0.0", w.v1}, [2]string{"1.1.0", w.v2}))
	w.publish(t, data, sig)
	refreshCatalogs(t, s)
	got, err = s.cli(f, "outdated")
	if err != nil || !regexp.MustCompile(`my-plugin\s+1\.0\.0\s+1\.1\.0\s+main`).MatchString(got) {
		t.Fatalf("outdated: %v\n%s", err, got)
	}
	if got, err = s.cli(f, "search"); err != nil || !strings.Contains(got, "1.0.0 (update)") {
		t.Fatalf("search shows the update: %v\n%s", err, got)
	}
	if got, err = s.cli(f, "update", helloID, "--catalog"); err != nil || !strings.Contains(got, "updated my-plugin 1.1.0") {
		t.Fatalf("update --catalog: %v\n%s", err, got)
	}
	if r := s.endpoint("GET", helloID, "/hello"); r.body["message"] != "Hello from 1.1!" {
		t.Fatalf("after update --catalog: %s", r)
	}
	if got, err = s.cli(f, "install", "no-such-plugin"); err == nil || !strings.Contains(got, "no-such-plugin") {
		t.Fatalf("install of an id no catalog lists: %v\n%s", err, got)
	}
}
