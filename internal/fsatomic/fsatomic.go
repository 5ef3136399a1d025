// Package fsatomic writes files so that no reader ever sees one half
// written: the content goes to a temporary file in the destination's folder,
// which is then renamed over the destination in one step.
package fsatomic

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// CopyFile copies the file src to dst, creating dst's folder if needed. A
// reader of dst sees the old content or the new, never part of it; on
// failure dst is unchanged and no temporary file is left.
func CopyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	return Write(dst, in)
}

// Write writes what r yields to path, as CopyFile does.
func Write(path string, r io.Reader) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	if _, err := io.Copy(tmp, r); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return os.Rename(tmp.Name(), path)
}
