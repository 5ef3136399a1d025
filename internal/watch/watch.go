// Package watch notices when a plugin folder's files change, so that the
// host can rebuild and swap the plugin while its author edits it.
package watch

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
)

// DefaultDebounce waits for an editor's burst of writes (save, rename,
// chmod) to settle before reporting one change.
const DefaultDebounce = 200 * time.Millisecond

// Dir calls onChange once per burst of changes to the source files under
// dir (debounce after the last one), until ctx ends. Folders created later
// are watched too. Hidden files, built plugins and editor scratch files are
// not sources and do not count.
func Dir(ctx context.Context, dir string, debounce time.Duration, onChange func()) error {
	w, err := watchTree(dir)
	if err != nil {
		return err
	}
	defer w.Close()
	return debounced(ctx, w.Events, w.Errors, func(root string) error { return addTree(w.Add, root) }, debounce, onChange)
}

// watchTree starts watching dir and the folders under it. Changes made
// after it returns wait in the watcher until its events are read.
func watchTree(dir string) (*fsnotify.Watcher, error) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	if err := addTree(w.Add, dir); err != nil {
		w.Close()
		return nil, err
	}
	return w, nil
}

// debounced is Dir's loop over a watcher's channels. It is apart from the
// watcher so that its timing can be tested with made-up events on a fake
// clock: real notifications come from a goroutine blocked in a system call,
// which testing/synctest cannot wait for. watchNew watches a folder created
// under the tree.
func debounced(ctx context.Context, events <-chan fsnotify.Event, errs <-chan error, watchNew func(root string) error, debounce time.Duration, onChange func()) error {
	if debounce <= 0 {
		debounce = DefaultDebounce
	}
	timer := time.NewTimer(debounce)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err, ok := <-errs:
			if !ok {
				return errors.New("watch: watcher closed")
			}
			return err
		case ev, ok := <-events:
			if !ok {
				return errors.New("watch: watcher closed")
			}
			if ev.Has(fsnotify.Create) {
				if fi, err := os.Stat(ev.Name); err == nil && fi.IsDir() && !ignored(filepath.Base(ev.Name)) {
					_ = watchNew(ev.Name)
				}
			}
			if ignored(filepath.Base(ev.Name)) || ev.Op == fsnotify.Chmod {
				continue
			}
			timer.Reset(debounce)
		case <-timer.C:
			onChange()
		}
	}
}

// ignored tells files that are not plugin sources.
func ignored(name string) bool {
	return strings.HasPrefix(name, ".") || strings.HasSuffix(name, "~") || strings.HasSuffix(name, ".swp") ||
		strings.HasSuffix(name, ".so") || strings.HasSuffix(name, ".wasm") || strings.HasPrefix(name, "#")
}

// addTree calls watch for root and every folder under it that is not
// ignored.
func addTree(watch func(dir string) error, root string) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		if p != root && ignored(d.Name()) {
			return filepath.SkipDir
		}
		return watch(p)
	})
}
