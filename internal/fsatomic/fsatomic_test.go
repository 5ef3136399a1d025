package fsatomic

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// failingReader yields some bytes, then fails.
type failingReader struct{ sent bool }

func (f *failingReader) Read(p []byte) (int, error) {
	if f.sent {
		return 0, errors.New("disk gone")
	}
	f.sent = true
	return copy(p, "partial"), nil
}

func TestWrite(t *testing.T) {
	for _, tc := range []struct {
		name    string
		r       io.Reader
		want    string // dst's content afterwards
		wantErr bool
	}{
		{"new content", strings.NewReader("new"), "new", false},
		{"failure keeps the old", &failingReader{}, "old", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			dst := filepath.Join(dir, "sub", "f")
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(dst, []byte("old"), 0o644); err != nil {
				t.Fatal(err)
			}
			err := Write(dst, tc.r)
			if (err != nil) != tc.wantErr {
				t.Fatalf("Write: %v; want error %v", err, tc.wantErr)
			}
			got, _ := os.ReadFile(dst)
			if string(got) != tc.want {
				t.Errorf("content %q; want %q", got, tc.want)
			}
			entries, _ := os.ReadDir(filepath.Dir(dst))
			if len(entries) != 1 {
				t.Errorf("folder holds %d entries; want only f (no temporary left)", len(entries))
			}
		})
	}
}

func TestCopyFileCreatesFolder(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	if err := os.WriteFile(src, []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, "a", "b", "dst")
	if err := CopyFile(src, dst); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(dst); string(got) != "data" {
		t.Errorf("copied %q", got)
	}
	if err := CopyFile(filepath.Join(dir, "missing"), dst); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing source: %v", err)
	}
}
