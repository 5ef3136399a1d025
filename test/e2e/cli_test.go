package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// cli runs the ksplugins client against s.
func (s *server) cli(f fixture, args ...string) (string, error) {
	s.t.Helper()
	cmd := exec.Command(f.bin, append(args, "--server", s.url, "--token", s.token)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestCLI installs, lists and unloads through the command line, as an
// operator would: a folder, then an archive.
func TestCLI(t *testing.T) {
	f := setup(t)
	s := startServer(t, f)
	dir := copyPlugin(t, filepath.Join(f.root, "plugins/examples/hello"))

	out, err := s.cli(f, "install", dir)
	if err != nil || !strings.Contains(out, "building") || !strings.Contains(out, "installed my-plugin 1.0.0") {
		t.Fatalf("install folder: %v\n%s", err, out)
	}
	out, err = s.cli(f, "list")
	if err != nil || !strings.Contains(out, "my-plugin") || !strings.Contains(out, "active") {
		t.Fatalf("list: %v\n%s", err, out)
	}
	if out, err = s.cli(f, "unload", helloID); err != nil {
		t.Fatalf("unload: %v\n%s", err, out)
	}

	archive := filepath.Join(t.TempDir(), "hello.zip")
	if err := os.WriteFile(archive, makeZip(t, pluginFiles(t, f, "hello/")), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err = s.cli(f, "install", archive); err != nil || !strings.Contains(out, "installed my-plugin") {
		t.Fatalf("install archive: %v\n%s", err, out)
	}
	want(t, "hello", s.endpoint("GET", helloID, "/hello"), 200, "")

	if out, err = s.cli(f, "unload", helloID); err != nil {
		t.Fatalf("unload: %v\n%s", err, out)
	}
	out, err = s.cli(f, "token", "create", "reader", "viewer")
	if err != nil || !strings.Contains(out, "ksp_") {
		t.Fatalf("token create: %v\n%s", err, out)
	}
	secret := strings.Fields(out[strings.Index(out, "ksp_"):])[0]
	cmd := exec.Command(f.bin, "list", "--server", s.url, "--token", secret)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("list as a viewer: %v\n%s", err, b)
	}
	cmd = exec.Command(f.bin, "unload", helloID, "--server", s.url, "--token", secret)
	if b, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(b), "needs the admin role") {
		t.Fatalf("unload as a viewer must be refused by role: %v\n%s", err, b)
	}
	if out, err = s.cli(f, "audit"); err != nil || !strings.Contains(out, `"denied"`) {
		t.Fatalf("audit: %v\n%s", err, out)
	}
	edit(t, filepath.Join(dir, "main.go"), `c.JSON(http.StatusOK, gin.H{"message": "Hello from plugin!"})`, `c.JSON(http.StatusOK, undefinedThing)`)
	if out, err = s.cli(f, "install", dir); err == nil || !strings.Contains(out, "main.go:") {
		t.Fatalf("a broken plugin must fail with its compiler errors: %v\n%s", err, out)
	}
}
