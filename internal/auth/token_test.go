package auth

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestAdminToken(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	tok, created, err := AdminToken(dir, "")
	if err != nil || !created || !strings.HasPrefix(tok, "ksp_") || len(tok) < 40 {
		t.Fatalf("first start: %q %v %v", tok, created, err)
	}
	fi, err := os.Stat(filepath.Join(dir, TokenFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v %v", fi.Mode(), err)
	}
	again, created, err := AdminToken(dir, "")
	if err != nil || created || again != tok {
		t.Fatalf("second start: %q %v %v; want the stored token", again, created, err)
	}
	given, created, err := AdminToken(dir, "from-env")
	if err != nil || created || given != "from-env" {
		t.Fatalf("given token: %q %v %v", given, created, err)
	}
	if err := os.WriteFile(filepath.Join(dir, TokenFile), []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := AdminToken(dir, ""); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Fatalf("empty token file: %v", err)
	}
}
