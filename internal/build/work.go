package build

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// lockName is the file in a work folder that its build holds locked while
// it runs. The kernel drops the lock when the process ends, however it
// ends, so an unlocked work folder belongs to no running build.
const lockName = ".lock"

// leftoverAge is how old an unlocked work folder must be before it is taken
// for a leftover: a build creates and locks its lock file right after its
// folder, and this margin keeps a cleanup in another process from racing
// it.
const leftoverAge = 5 * time.Second

// workDir creates a build's work folder and locks it. unlock releases it;
// the caller removes the folder first.
func (b *Builder) workDir(id string) (dir string, unlock func(), err error) {
	work := filepath.Join(b.opts.CacheDir, "work")
	if err := os.MkdirAll(work, 0o755); err != nil {
		return "", nil, fmt.Errorf("create work folder: %w", err)
	}
	dir, err = os.MkdirTemp(work, id+"-")
	if err != nil {
		return "", nil, fmt.Errorf("create work folder: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, lockName), os.O_CREATE|os.O_RDWR, 0o600)
	if err == nil {
		err = syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err != nil {
			lock.Close()
		}
	}
	if err != nil {
		os.RemoveAll(dir)
		return "", nil, fmt.Errorf("lock work folder: %w", err)
	}
	return dir, func() { lock.Close() }, nil
}

// removeLeftovers removes what builds that were killed mid-way left in the
// cache: work folders no running build holds (a builder of another process
// sharing the cache keeps its own locked), and half-written SDK trees.
// It is best effort: what cannot be removed is logged and left.
func (b *Builder) removeLeftovers() {
	work := filepath.Join(b.opts.CacheDir, "work")
	entries, err := os.ReadDir(work)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		b.opts.Logger.Warn("read build work folder", "dir", work, "err", err)
	}
	for _, e := range entries {
		path := filepath.Join(work, e.Name())
		if !e.IsDir() || !leftover(path) {
			continue
		}
		if err := os.RemoveAll(path); err != nil {
			b.opts.Logger.Warn("remove leftover build folder", "dir", path, "err", err)
			continue
		}
		b.opts.Logger.Info("removed leftover build folder", "dir", path)
	}
	sdkRoot := filepath.Join(b.opts.CacheDir, "sdk")
	entries, _ = os.ReadDir(sdkRoot)
	for _, e := range entries {
		path := filepath.Join(sdkRoot, e.Name())
		if strings.HasPrefix(e.Name(), ".tmp-sdk-") && olderThan(path, leftoverAge) {
			if err := os.RemoveAll(path); err != nil {
				b.opts.Logger.Warn("remove leftover SDK folder", "dir", path, "err", err)
			}
		}
	}
}

// leftover reports whether the work folder dir belongs to no running build.
func leftover(dir string) bool {
	if !olderThan(dir, leftoverAge) {
		return false
	}
	lock, err := os.OpenFile(filepath.Join(dir, lockName), os.O_RDWR, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return true // killed before it locked, or built by an older builder
	}
	if err != nil {
		return false
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return false // a running build holds it
	}
	return true
}

func olderThan(path string, age time.Duration) bool {
	fi, err := os.Stat(path)
	return err == nil && time.Since(fi.ModTime()) > age
}
