package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubestellar/ksplugins/internal/catalog"
	"github.com/kubestellar/ksplugins/internal/gitserver"
)

func TestCatalogRef(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	if err := os.Mkdir("localplugin", 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		arg, id, version string
		ok               bool
	}{
		{arg: "primes", id: "primes", ok: true},
		{arg: "primes@1.2.0", id: "primes", version: "1.2.0", ok: true},
		{arg: "localplugin"}, // a folder here
		{arg: "./primes"},
		{arg: "https://github.com/example/primes"},
		{arg: "github.com/example/primes"},
		{arg: "primes.zip"},
		{arg: "primes.tar.gz"},
		{arg: "primes.so"},
		{arg: "/srv/primes"},
		{arg: "Bad Id"},
	}
	for _, tt := range tests {
		id, version, ok := catalogRef(tt.arg)
		if id != tt.id || version != tt.version || ok != tt.ok {
			t.Errorf("catalogRef(%q) = %q, %q, %v; want %q, %q, %v", tt.arg, id, version, ok, tt.id, tt.version, tt.ok)
		}
	}
}

// TestCatalogSignVerify makes a key, signs a catalog whose version is a
// repository's plugin folder, verifies it, then finds a tampered catalog
// and a moved source refused.
func TestCatalogSignVerify(t *testing.T) {
	srv := gitserver.Start(t)
	repo := srv.Repo(t, "example", "primes")
	commit := repo.Commit(t, map[string][]byte{"plugin.yaml": []byte("id: primes\n"), "main.go": []byte("package main\n")}, "v1")
	dir := t.TempDir()
	key := filepath.Join(dir, "publisher.key")
	cat := filepath.Join(dir, "catalog.yaml")
	draft := "entries:\n- id: primes\n  name: Primes\n  versions:\n  - version: 1.0.0\n    tier: native\n    source:\n      repository: https://github.com/example/primes\n      commit: " + commit + "\n"
	if err := os.WriteFile(cat, []byte(draft), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _, err := runRoot(t, "catalog", "keygen", "--out", key)
	if err != nil {
		t.Fatalf("keygen: %v", err)
	}
	if fi, err := os.Stat(key); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("private key: %v, mode %v", err, fi.Mode())
	}
	if !strings.Contains(out, "ed25519:") {
		t.Fatalf("keygen printed %q", out)
	}
	if out, _, err = runRoot(t, "catalog", "sign", "--key", key, "--repository-base-url", srv.URL, cat); err != nil {
		t.Fatalf("sign: %v", err)
	}
	if !strings.Contains(out, "primes 1.0.0 sha256:") || !strings.Contains(out, "(new)") {
		t.Fatalf("sign printed %q", out)
	}
	if out, _, err = runRoot(t, "catalog", "verify", "--key", key+".pub", "--sources", "--repository-base-url", srv.URL, cat); err != nil {
		t.Fatalf("verify: %v", err)
	}
	if !strings.Contains(out, "1 entries, 1 versions") {
		t.Fatalf("verify printed %q", out)
	}

	signed, _ := os.ReadFile(cat)
	tampered := strings.Replace(string(signed), "name: Primes", "name: Primez", 1)
	if err := os.WriteFile(cat, []byte(tampered), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err = runRoot(t, "catalog", "verify", "--key", key+".pub", cat); err == nil || !strings.Contains(err.Error(), "does not verify") {
		t.Fatalf("verify of a tampered catalog: %v", err)
	}

	// The catalog names another commit than the one whose digest was
	// signed: the signatures hold, the source does not match.
	next := repo.Commit(t, map[string][]byte{"main.go": []byte("package main\n\n// changed\n")}, "v2")
	moved := strings.Replace(string(signed), commit, next, 1)
	if err := os.WriteFile(cat, []byte(moved), 0o644); err != nil {
		t.Fatal(err)
	}
	priv, err := readPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := writeFile(cat+".sig", catalog.Sign(priv, []byte(moved)), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err = runRoot(t, "catalog", "verify", "--key", key+".pub", "--sources", "--repository-base-url", srv.URL, cat)
	if err == nil || !strings.Contains(err.Error(), "sources changed after signing") {
		t.Fatalf("verify of a moved source: %v", err)
	}
}
