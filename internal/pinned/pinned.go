// Package pinned keeps copies of plugin artifacts named by their digest, so
// that "same name" means "same content" and a restart can open the exact
// code it opened before, even after the file it came from changed or went.
package pinned

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/kubestellar/ksplugins/internal/build"
	"github.com/kubestellar/ksplugins/internal/fsatomic"
)

// Dir is a folder of pinned copies, each named by its digest and ext.
type Dir struct {
	dir, ext string
}

// New returns the folder dir of copies named "<hex digest><ext>". It
// removes copies left half-written by a process that was killed while
// making one.
func New(dir, ext string) Dir {
	removeLeftovers(dir)
	return Dir{dir: dir, ext: ext}
}

// Path is where the copy with digest ("sha256:<hex>") is, or would be.
func (d Dir) Path(digest string) string {
	return filepath.Join(d.dir, strings.TrimPrefix(digest, "sha256:")+d.ext)
}

// Lookup returns the copy with digest, if there is one.
func (d Dir) Lookup(digest string) (string, bool) {
	path := d.Path(digest)
	if _, err := os.Stat(path); err != nil {
		return "", false
	}
	return path, true
}

// KeepFile returns the copy of the file at path, whose digest the caller
// checked, making it if there is none.
func (d Dir) KeepFile(path, digest string) (string, error) {
	return d.keep(path, digest, func(dst string) error { return fsatomic.CopyFile(path, dst) })
}

// KeepBytes is KeepFile for a file the caller already read: code is its
// content.
func (d Dir) KeepBytes(path, digest string, code []byte) (string, error) {
	return d.keep(path, digest, func(dst string) error { return fsatomic.Write(dst, bytes.NewReader(code)) })
}

// keep returns the copy with digest, made by write unless there is one.
// An existing copy is used only if it still has the digest its name says:
// a copy changed on disk is replaced, never opened. When path is the copy
// itself (a restore from it), the caller's check is the one that counts,
// and it is not hashed again.
func (d Dir) keep(path, digest string, write func(dst string) error) (string, error) {
	dst := d.Path(digest)
	if path == dst {
		return dst, nil
	}
	if got, err := build.FileDigest(dst); err == nil && got == digest {
		return dst, nil
	}
	if err := write(dst); err != nil {
		return "", err
	}
	return dst, nil
}

// removeLeftovers removes the temporary files of copies that a killed
// process left in dir. Best effort: the copies work without it.
func removeLeftovers(dir string) {
	tmps, _ := filepath.Glob(filepath.Join(dir, ".tmp-*"))
	for _, t := range tmps {
		if fi, err := os.Stat(t); err == nil && time.Since(fi.ModTime()) > time.Minute {
			_ = os.Remove(t)
		}
	}
}
