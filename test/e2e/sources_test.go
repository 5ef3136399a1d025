package e2e

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kubestellar/ksplugins/internal/gitserver"
	"github.com/kubestellar/ksplugins/internal/policy"
)

// configure changes the server's live configuration.
func (s *server) configure(fields map[string]any) {
	s.t.Helper()
	if r := s.api("PUT", "/api/plugins/system/configuration", fields); r.status != 200 {
		s.t.Fatalf("configure %v: %s", fields, r)
	}
}

// buildStats returns the build cache counters.
func (s *server) buildStats() map[string]any {
	s.t.Helper()
	r := s.api("GET", "/api/plugins/cache/info", nil)
	cache, _ := r.body["cache"].(map[string]any)
	stats, _ := cache["stats"].(map[string]any)
	if stats == nil {
		s.t.Fatalf("cache info: %s", r)
	}
	return stats
}

func pin(r reply) string {
	src, _ := r.body["source"].(map[string]any)
	p, _ := src["pin"].(string)
	return p
}

// helloRepository is the hello example in a repository on a real git
// server on 127.0.0.1, github.com/kubestellar/hello-plugin to the host once
// pointed at it: tag v1.0.0 is the example as it is, branch feature the next
// commit, which answers "Hello from the branch!".
type helloRepository struct {
	git          *gitserver.Server
	repo         *gitserver.Repo
	main         []byte // the example's main.go
	tag, feature string // their commits
}

func newHelloRepository(t *testing.T, f fixture) helloRepository {
	t.Helper()
	r := helloRepository{git: gitserver.Start(t)}
	r.repo = r.git.Repo(t, "kubestellar", "hello-plugin")
	hello := filepath.Join(f.root, "plugins/examples/hello")
	r.tag = r.repo.CopyDir(t, hello, "", "hello 1.0.0")
	r.repo.Tag(t, "v1.0.0")
	r.main = readFile(t, filepath.Join(hello, "main.go"))
	r.feature = r.repo.Commit(t, map[string][]byte{"main.go": bytes.Replace(r.main, []byte("Hello from plugin!"), []byte("Hello from the branch!"), 1)}, "branch reply")
	r.repo.Branch(t, "feature")
	return r
}

// TestRepositoryInstall installs from a real git server on 127.0.0.1 by
// tag, branch and commit, updates, restarts with the git server stopped,
// and counts builds.
func TestRepositoryInstall(t *testing.T) {
	f := setup(t)
	hr := newHelloRepository(t, f)
	git, c1, c2 := hr.git, hr.tag, hr.feature
	c3 := hr.repo.Commit(t, map[string][]byte{"main.go": bytes.Replace(hr.main, []byte("Hello from plugin!"), []byte("Hello from main!"), 1)}, "main reply")

	data := t.TempDir()
	s := startServerAt(t, f, data)
	s.configure(map[string]any{"repository_base_url": git.URL})
	const url = "https://github.com/kubestellar/hello-plugin"

	r := s.api("POST", "/api/plugins/load", map[string]any{"source": url, "version": "v1.0.0"})
	want(t, "install by tag", r, 201, "")
	if pin(r) != c1 {
		t.Fatalf("pinned %q; want the tag's commit %s", pin(r), c1)
	}
	if r := s.endpoint("GET", helloID, "/hello"); r.body["message"] != "Hello from plugin!" {
		t.Fatalf("v1.0.0: %s", r)
	}

	r = s.api("POST", "/api/plugins/"+helloID+"/update", map[string]any{"version": "feature"})
	want(t, "update to branch", r, 200, "")
	if pin(r) != c2 {
		t.Fatalf("pinned %q; want the branch's commit %s", pin(r), c2)
	}
	if r := s.endpoint("GET", helloID, "/hello"); r.body["message"] != "Hello from the branch!" {
		t.Fatalf("after update: %s", r)
	}
	r = s.api("POST", "/api/plugins/"+helloID+"/update", map[string]any{"version": "no-such-version"})
	want(t, "update to a missing version", r, 400, "version_not_found")
	if r := s.endpoint("GET", helloID, "/hello"); r.body["message"] != "Hello from the branch!" {
		t.Fatalf("a failed update must keep the running version: %s", r)
	}

	want(t, "unload", s.api("DELETE", "/api/plugins/"+helloID, nil), 200, "")
	r = s.api("POST", "/api/plugins/load", map[string]any{"source": url + "/tree/feature"})
	want(t, "install by branch", r, 201, "")
	if pin(r) != c2 {
		t.Fatalf("pinned %q; want the branch's commit %s", pin(r), c2)
	}
	want(t, "unload", s.api("DELETE", "/api/plugins/"+helloID, nil), 200, "")
	r = s.api("POST", "/api/plugins/load", map[string]any{"source": url, "version": c3[:10]})
	want(t, "install by commit", r, 201, "")
	if pin(r) != c3 {
		t.Fatalf("pinned %q; want %s", pin(r), c3)
	}

	// The same commit again: fetched and built already, so no build.
	want(t, "unload", s.api("DELETE", "/api/plugins/"+helloID, nil), 200, "")
	before := s.buildStats()
	want(t, "install again", s.api("POST", "/api/plugins/load", map[string]any{"source": url, "version": "main"}), 201, "")
	after := s.buildStats()
	if after["builds"] != before["builds"] || after["hits"].(float64) != before["hits"].(float64)+1 {
		t.Fatalf("second install of one commit: builds %v -> %v, hits %v -> %v; want no build and one hit", before["builds"], after["builds"], before["hits"], after["hits"])
	}

	// Restart with the git server gone: the plugin comes back from the cache.
	git.Stop()
	s.kill()
	s2 := startServerAt(t, f, data)
	r = s2.api("GET", "/api/plugins/"+helloID, nil)
	if r.status != 200 || r.body["state"] != "active" || pin(r) != c3 {
		t.Fatalf("after restart without the git server: %s", r)
	}
	if r := s2.endpoint("GET", helloID, "/hello"); r.body["message"] != "Hello from main!" {
		t.Fatalf("after restart: %s", r)
	}
}

// TestConcurrentInstallsBuildOnce sends two installs of one new commit at
// once: one build, one plugin.
func TestConcurrentInstallsBuildOnce(t *testing.T) {
	f := setup(t)
	git := gitserver.Start(t)
	repo := git.Repo(t, "kubestellar", "twice")
	hello := filepath.Join(f.root, "plugins/examples/hello")
	repo.CopyDir(t, hello, "", "hello")
	repo.Commit(t, map[string][]byte{"main.go": bytes.Replace(readFile(t, filepath.Join(hello, "main.go")), []byte("Hello from plugin!"), []byte("Hello, concurrently!"), 1)}, "unique reply")
	s := startServer(t, f)
	s.configure(map[string]any{"repository_base_url": git.URL})

	before := s.buildStats()
	var wg sync.WaitGroup
	statuses := make([]int, 2)
	for i := range statuses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i] = s.api("POST", "/api/plugins/load", map[string]any{"source": "https://github.com/kubestellar/twice"}).status
		}()
	}
	wg.Wait()
	sort.Ints(statuses)
	if statuses[0] != 201 || statuses[1] != 409 {
		t.Fatalf("statuses %v; want one 201 and one 409", statuses)
	}
	if after := s.buildStats(); after["builds"].(float64) != before["builds"].(float64)+1 {
		t.Fatalf("builds %v -> %v; want exactly one", before["builds"], after["builds"])
	}
}

// TestRepositoryPolicy refuses look-alike repositories before any fetch.
func TestRepositoryPolicy(t *testing.T) {
	f := setup(t)
	git := gitserver.Start(t)
	git.Repo(t, "kubestellar-evil", "x").Commit(t, map[string][]byte{"plugin.yaml": []byte("id: x\n")}, "x")
	s := startServer(t, f)
	s.configure(map[string]any{"repository_base_url": git.URL, "allowed_repos": []string{"github.com/kubestellar/*"}})
	requests := git.Requests()
	for _, src := range []string{
		"https://github.com/kubestellar-evil/x",
		"https://github.com.evil.io/kubestellar/x",
		"https://evil.com/github.com/kubestellar/x",
		git.URL + "/kubestellar/x.git",
	} {
		r := s.api("POST", "/api/plugins/load", map[string]any{"source": src})
		if r.status != 403 || r.errorCode() != "policy_refused" || !strings.Contains(r.raw, "allowed_repos") {
			if r.status != 400 { // malformed look-alikes are refused as bad URLs
				t.Errorf("%s: got %s; want 403 refused by allowed_repos", src, r)
			}
		}
	}
	if git.Requests() != requests {
		t.Fatalf("a refused repository was fetched: %d requests", git.Requests()-requests)
	}
	r := s.api("POST", "/api/plugins/load", map[string]any{"source": "https://user:secret@github.com/kubestellar/x"})
	want(t, "credentials in the URL", r, 400, "invalid_source")
	if strings.Contains(r.raw, "secret") {
		t.Fatalf("the error repeats the credentials: %s", r)
	}
}

// archiveEntry is one file of a crafted archive.
type archiveEntry struct {
	name     string
	body     []byte
	typeflag byte        // tar only; 0 is a regular file
	mode     fs.FileMode // zip only: symlink bits
	link     string
}

func makeZip(t *testing.T, entries []archiveEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		h := &zip.FileHeader{Name: e.name, Method: zip.Deflate}
		if e.mode != 0 {
			h.SetMode(e.mode)
		}
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(e.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func makeTarGz(t *testing.T, entries []archiveEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.body)), Typeflag: tar.TypeReg, Linkname: e.link}
		if e.typeflag != 0 {
			h.Typeflag, h.Size = e.typeflag, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			if _, err := tw.Write(e.body); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// pluginFiles is the hello example as archive entries under prefix.
func pluginFiles(t *testing.T, f fixture, prefix string) []archiveEntry {
	t.Helper()
	dir := filepath.Join(f.root, "plugins/examples/hello")
	var out []archiveEntry
	for _, name := range []string{"main.go", "plugin.yaml", "go.mod", "go.sum"} {
		out = append(out, archiveEntry{name: prefix + name, body: readFile(t, filepath.Join(dir, name))})
	}
	return out
}

// upload sends an archive to /api/plugins/upload.
func (s *server) upload(archive []byte, name, query string, fields map[string]string) reply {
	s.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for k, v := range fields {
		_ = mw.WriteField(k, v)
	}
	w, _ := mw.CreateFormFile("plugin", name)
	_, _ = w.Write(archive)
	_ = mw.Close()
	req, _ := http.NewRequest("POST", s.url+"/api/plugins/upload"+query, &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+s.token)
	return s.send(req)
}

// tree lists every path under dir, to compare before and after.
func tree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil {
			out = append(out, strings.TrimPrefix(p, dir))
		}
		return nil
	})
	return out
}

// TestHostileArchives uploads archives built to attack the extractor: each
// gets a precise error and the plugin folder is unchanged afterwards.
func TestHostileArchives(t *testing.T) {
	f := setup(t)
	data := t.TempDir()
	s := startServerAt(t, f, data)
	good := pluginFiles(t, f, "")
	with := func(extra ...archiveEntry) []archiveEntry { return append(append([]archiveEntry{}, good...), extra...) }
	zeros := bytes.Repeat([]byte{0}, 3<<19) // 1.5 MiB: within the size limit, far beyond the ratio
	random := make([]byte, 3<<20)
	_, _ = rand.Read(random)
	many := make([]archiveEntry, 1001)
	for i := range many {
		many[i] = archiveEntry{name: fmt.Sprintf("f%04d.txt", i), body: []byte("x")}
	}
	invalidManifest := []archiveEntry{{name: "plugin.yaml", body: []byte("id: Not_Valid\nname: x\nversion: latest\nendpoints:\n  - path: hello\n    method: FETCH\n")}, {name: "main.go", body: []byte("package main\n")}}
	nested := makeZip(t, good)

	cases := []struct {
		name    string
		archive []byte
		status  int
		code    string
		detail  string // the rule, or a field path for manifests
	}{
		{"traversal", makeZip(t, with(archiveEntry{name: "../../evil.go", body: []byte("x")})), 400, "invalid_archive", "path_traversal"},
		{"absolute path", makeTarGz(t, with(archiveEntry{name: "/etc/evil", body: []byte("x")})), 400, "invalid_archive", "absolute_path"},
		{"symlink", makeZip(t, with(archiveEntry{name: "link", body: []byte("/etc/passwd"), mode: fs.ModeSymlink | 0o777})), 400, "invalid_archive", "symlink"},
		{"hard link", makeTarGz(t, with(archiveEntry{name: "hard", typeflag: tar.TypeLink, link: "main.go"})), 400, "invalid_archive", "hard_link"},
		{"device", makeTarGz(t, with(archiveEntry{name: "dev", typeflag: tar.TypeChar})), 400, "invalid_archive", "special_file"},
		{"duplicate names", makeTarGz(t, with(archiveEntry{name: "main.go", body: []byte("package main // again\n")})), 400, "invalid_archive", "duplicate_entry"},
		{"bomb by ratio", makeZip(t, with(archiveEntry{name: "zeros.bin", body: zeros})), 400, "invalid_archive", "compression_ratio"},
		{"too many entries", makeZip(t, append(with(), many...)), 400, "invalid_archive", "too_many_entries"},
		{"too large", makeZip(t, with(archiveEntry{name: "random.bin", body: random})), 413, "policy_refused", "max_plugin_size"},
		{"nested archive", makeZip(t, with(archiveEntry{name: "inner.zip", body: nested})), 400, "invalid_archive", "nested_archive"},
		{"no manifest", makeZip(t, []archiveEntry{{name: "main.go", body: []byte("package main\n")}}), 400, "invalid_archive", "no_manifest"},
		{"invalid manifest", makeZip(t, invalidManifest), 422, "invalid_manifest", "endpoints[0].method"},
		{"not an archive", []byte("this is not a zip file at all"), 400, "invalid_archive", "corrupt"},
	}
	s.configure(map[string]any{"max_plugin_size": 2 << 20})
	plugins := filepath.Join(data, "plugins")
	before := tree(t, plugins)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := s.upload(c.archive, "plugin.zip", "", nil)
			if r.status != c.status || r.errorCode() != c.code || !strings.Contains(r.raw, c.detail) {
				t.Fatalf("got %s; want %d %s naming %s", r, c.status, c.code, c.detail)
			}
			if after := tree(t, plugins); strings.Join(after, "\n") != strings.Join(before, "\n") {
				t.Fatalf("the plugin folder changed:\nbefore %v\nafter  %v", before, after)
			}
		})
	}
	if r := s.api("GET", "/api/plugins", nil); r.body["count"] != float64(0) {
		t.Fatalf("a hostile archive was installed: %s", r)
	}
}

// TestUploadInstall installs a zip in one call and a tar.gz in two, and
// reloads from the stored upload.
func TestUploadInstall(t *testing.T) {
	f := setup(t)
	s := startServer(t, f)
	zipped := makeZip(t, pluginFiles(t, f, "hello-1.0.0/"))
	r := s.upload(zipped, "hello.zip", "", nil)
	want(t, "upload and install", r, 201, "")
	if src, _ := r.body["source"].(map[string]any); src["kind"] != "upload" {
		t.Fatalf("source: %s", r)
	}
	want(t, "hello", s.endpoint("GET", helloID, "/hello"), 200, "")
	want(t, "reload from the stored upload", s.api("POST", "/api/plugins/"+helloID+"/reload", nil), 200, "")
	want(t, "unload", s.api("DELETE", "/api/plugins/"+helloID, nil), 200, "")

	r = s.upload(makeTarGz(t, pluginFiles(t, f, "")), "hello.tar.gz", "?install=false", nil)
	want(t, "upload only", r, 201, "")
	id, _ := r.body["id"].(string)
	if m, _ := r.body["manifest"].(map[string]any); m["id"] != helloID || id == "" {
		t.Fatalf("upload preview: %s", r)
	}
	r = s.api("POST", "/api/plugins/load?async=true", map[string]any{"upload_id": id})
	want(t, "install the upload", r, 202, "")
	op := waitOperation(t, s, r.body["id"].(string))
	if op.body["state"] != "succeeded" {
		t.Fatalf("operation: %s", op)
	}
	var steps []string
	for _, st := range op.body["steps"].([]any) {
		m := st.(map[string]any)
		steps = append(steps, m["name"].(string)+":"+m["state"].(string))
	}
	if strings.Join(steps, ",") != "fetching:done,validating:done,building:done,loading:done" {
		t.Fatalf("steps: %v", steps)
	}
	want(t, "hello", s.endpoint("GET", helloID, "/hello"), 200, "")
}

func waitOperation(t *testing.T, s *server, id string) reply {
	t.Helper()
	for range 600 {
		r := s.api("GET", "/api/plugins/operations/"+id, nil)
		if r.body["state"] != "running" {
			return r
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("operation %s did not finish", id)
	return reply{}
}

// TestStrictModeSignatures: strict mode refuses an unsigned archive and
// installs a signed one.
func TestStrictModeSignatures(t *testing.T) {
	f := setup(t)
	s := startServer(t, f)
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s.configure(map[string]any{"security_mode": "strict", "trusted_keys": []string{policy.EncodePublicKey(pub)}})
	archive := makeZip(t, pluginFiles(t, f, ""))
	sum := sha256.Sum256(archive)
	digest := "sha256:" + hex.EncodeToString(sum[:])

	r := s.upload(archive, "hello.zip", "", nil)
	if r.status != 403 || !strings.Contains(r.raw, "signature_required") {
		t.Fatalf("unsigned in strict mode: %s", r)
	}
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	r = s.upload(archive, "hello.zip", "", map[string]string{"signature": policy.Sign(other, digest)})
	if r.status != 403 || !strings.Contains(r.raw, "signature") {
		t.Fatalf("signed by an untrusted key: %s", r)
	}
	r = s.upload(archive, "hello.zip", "", map[string]string{"signature": policy.Sign(priv, digest), "checksum": digest})
	want(t, "signed", r, 201, "")
	want(t, "hello", s.endpoint("GET", helloID, "/hello"), 200, "")
}

// TestTamperedCache corrupts a cached build: a reload notices and rebuilds;
// a restart with every copy corrupted builds it again from its source and
// runs it only at the recorded digest.
func TestTamperedCache(t *testing.T) {
	f := setup(t)
	cache := t.TempDir()
	data := t.TempDir()
	s := startServerWith(t, f, data, cache)
	dir := copyPlugin(t, filepath.Join(f.root, "plugins/examples/hello"))
	r := s.api("POST", "/api/plugins/load", map[string]any{"source": dir})
	want(t, "load", r, 201, "")
	art := r.body["artifact"].(map[string]any)["path"].(string)
	if !strings.HasPrefix(art, cache) {
		t.Fatalf("artifact %s is not in the cache %s", art, cache)
	}
	corrupt := func(path string) {
		t.Helper()
		if err := os.WriteFile(path, []byte("not a plugin any more"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	corrupt(art)
	want(t, "reload over a tampered cache", s.api("POST", "/api/plugins/"+helloID+"/reload", nil), 200, "")
	if st := s.buildStats(); st["tampered"] != float64(1) {
		t.Fatalf("tampering not counted: %v", st)
	}
	want(t, "hello", s.endpoint("GET", helloID, "/hello"), 200, "")

	digest := r.body["artifact"].(map[string]any)["digest"]
	corruptAll := func(s *server) {
		t.Helper()
		s.kill()
		arts, _ := filepath.Glob(filepath.Join(cache, "artifacts", "*", "*", "plugin.so"))
		pinned, _ := filepath.Glob(filepath.Join(cache, "loaded", "*.so"))
		for _, p := range append(arts, pinned...) {
			corrupt(p)
		}
	}
	// Every copy tampered with: the server builds the plugin again from
	// its folder, and runs it because the build has the recorded digest.
	corruptAll(s)
	s2 := startServerWith(t, f, data, cache)
	r = s2.api("GET", "/api/plugins/"+helloID, nil)
	if r.body["state"] != "active" || r.body["artifact"].(map[string]any)["digest"] != digest {
		t.Fatalf("restart with every copy tampered: %s; want it built again, at the recorded digest %v", r, digest)
	}
	want(t, "hello built again", s2.endpoint("GET", helloID, "/hello"), 200, "")

	// Tampered with again, and the source changed too: nothing with the
	// recorded digest can be had, and nothing else runs.
	corruptAll(s2)
	edit(t, filepath.Join(dir, "main.go"), "Hello from plugin!", "Changed since it was installed")
	s3 := startServerWith(t, f, data, cache)
	r = s3.api("GET", "/api/plugins/"+helloID, nil)
	if r.body["state"] != "failed" || !strings.Contains(r.raw, "not in the local cache") || !strings.Contains(r.raw, "not the recorded") {
		t.Fatalf("restart with every copy tampered and the source changed: %s", r)
	}
	want(t, "hello refused", s3.endpoint("GET", helloID, "/hello"), 503, "plugin_unavailable")
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
