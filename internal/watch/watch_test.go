package watch

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/fsnotify/fsnotify"
)

// step is a made-up notification sent after a pause.
type step struct {
	after time.Duration
	name  string
	op    fsnotify.Op
}

// burst is n writes to name, gap apart.
func burst(n int, gap time.Duration, name string) []step {
	steps := make([]step, n)
	for i := range steps {
		steps[i] = step{after: gap, name: name, op: fsnotify.Write}
	}
	return steps
}

// TestDebounce feeds the loop notifications on synctest's fake clock and
// checks when it reports changes: once per burst, exactly debounce after
// the burst's last notification, and never for files that are not sources.
func TestDebounce(t *testing.T) {
	const debounce = 250 * time.Millisecond
	tests := []struct {
		name  string
		steps []step
		// changes are when onChange is called, from the start.
		changes []time.Duration
	}{
		{"a burst is one change after its last write", burst(5, 10*time.Millisecond, "main.go"),
			[]time.Duration{50*time.Millisecond + debounce}},
		{"writes closer than the debounce extend the burst", burst(5, 200*time.Millisecond, "main.go"),
			[]time.Duration{time.Second + debounce}},
		{"writes further apart than the debounce are changes of their own", burst(3, 300*time.Millisecond, "main.go"),
			[]time.Duration{300*time.Millisecond + debounce, 600*time.Millisecond + debounce, 900*time.Millisecond + debounce}},
		{"files that are not sources", []step{
			{0, ".hidden", fsnotify.Write}, {0, "old.so", fsnotify.Create}, {0, "plugin.wasm", fsnotify.Write},
			{0, "main.go~", fsnotify.Write}, {0, ".main.go.swp", fsnotify.Write}, {0, "#main.go#", fsnotify.Create},
		}, nil},
		{"a permission change alone", []step{{0, "main.go", fsnotify.Chmod}}, nil},
		{"a write that also changed permissions", []step{{0, "main.go", fsnotify.Write | fsnotify.Chmod}},
			[]time.Duration{debounce}},
		{"removes and renames", []step{{0, "old.go", fsnotify.Remove}, {time.Millisecond, "new.go", fsnotify.Rename}},
			[]time.Duration{time.Millisecond + debounce}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			synctest.Test(t, func(t *testing.T) {
				start := time.Now()
				var changes []time.Duration
				events, errs := make(chan fsnotify.Event), make(chan error)
				ctx, cancel := context.WithCancel(t.Context())
				done := make(chan error, 1)
				go func() {
					done <- debounced(ctx, events, errs, func(string) error { return nil }, debounce, func() {
						changes = append(changes, time.Since(start))
					})
				}()
				for _, s := range tt.steps {
					time.Sleep(s.after)
					events <- fsnotify.Event{Name: filepath.Join(dir, s.name), Op: s.op}
				}
				time.Sleep(10 * debounce) // long after any change is due
				cancel()
				if err := <-done; err != nil {
					t.Fatalf("the loop ended with %v; want nil when its context ends", err)
				}
				if !slices.Equal(changes, tt.changes) {
					t.Fatalf("changes at %v; want %v", changes, tt.changes)
				}
			})
		})
	}
}

// TestDebounceNewFolders: a folder created under the tree is watched before
// its change is reported; a hidden one, and a file, are not.
func TestDebounceNewFolders(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"sub", ".git"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "x.go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	synctest.Test(t, func(t *testing.T) {
		var watched []string
		var changes int
		events := make(chan fsnotify.Event)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() {
			done <- debounced(ctx, events, nil, func(d string) error { watched = append(watched, d); return nil }, time.Second, func() {
				if len(watched) == 0 {
					t.Error("the change was reported before the new folder was watched")
				}
				changes++
			})
		}()
		for _, name := range []string{"sub", ".git", "x.go"} {
			events <- fsnotify.Event{Name: filepath.Join(dir, name), Op: fsnotify.Create}
		}
		time.Sleep(2 * time.Second)
		cancel()
		<-done
		if want := []string{filepath.Join(dir, "sub")}; !slices.Equal(watched, want) || changes != 1 {
			t.Fatalf("watched %q with %d changes; want %q and one change", watched, changes, want)
		}
	})
}

// TestDebounceEnds: the loop ends when its context does, and with an error
// when the watcher fails or closes.
func TestDebounceEnds(t *testing.T) {
	failed := errors.New("queue overflow")
	tests := []struct {
		name string
		// end makes the loop return.
		end     func(cancel func(), events chan fsnotify.Event, errs chan error)
		wantErr string
	}{
		{"context ends", func(cancel func(), _ chan fsnotify.Event, _ chan error) { cancel() }, ""},
		{"watcher fails", func(_ func(), _ chan fsnotify.Event, errs chan error) { errs <- failed }, failed.Error()},
		{"events closed", func(_ func(), events chan fsnotify.Event, _ chan error) { close(events) }, "watch: watcher closed"},
		{"errors closed", func(_ func(), _ chan fsnotify.Event, errs chan error) { close(errs) }, "watch: watcher closed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			events, errs := make(chan fsnotify.Event), make(chan error)
			done := make(chan error, 1)
			go func() { done <- debounced(ctx, events, errs, nil, 0, func() {}) }()
			tt.end(cancel, events, errs)
			var got string
			if err := <-done; err != nil {
				got = err.Error()
			}
			if got != tt.wantErr {
				t.Fatalf("the loop ended with %q; want %q", got, tt.wantErr)
			}
		})
	}
}

func TestAddTree(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"a/b", ".git/objects", "backup~", "c"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var watched []string
	if err := addTree(func(d string) error { watched = append(watched, d); return nil }, root); err != nil {
		t.Fatal(err)
	}
	want := []string{root, filepath.Join(root, "a"), filepath.Join(root, "a", "b"), filepath.Join(root, "c")}
	if !slices.Equal(watched, want) {
		t.Fatalf("watched %q; want %q", watched, want)
	}
}

// TestWatchTree runs the loop on a real watcher: a folder made in the tree
// is watched, so a file written in it is a change. Notifications come from
// the kernel, so this runs on the real clock, waiting for each change with
// a deadline rather than for a set time.
func TestWatchTree(t *testing.T) {
	dir := t.TempDir()
	w, err := watchTree(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ctx, cancel := context.WithCancel(t.Context())
	var changes atomic.Int32
	changed := make(chan struct{}, 1)
	done := make(chan error, 1)
	go func() {
		done <- debounced(ctx, w.Events, w.Errors, func(root string) error { return addTree(w.Add, root) }, 10*time.Millisecond, func() {
			changes.Add(1)
			select {
			case changed <- struct{}{}:
			default:
			}
		})
	}()
	wait := func(want int32, what string) {
		t.Helper()
		for changes.Load() < want {
			select {
			case <-changed:
			case <-time.After(10 * time.Second):
				t.Fatalf("%s: %d changes; want %d", what, changes.Load(), want)
			}
		}
	}
	// The folder's creation is one notification, so one change; by then
	// the folder is watched, as the loop watches it before it reports.
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	wait(1, "a folder made")
	if err := os.WriteFile(filepath.Join(dir, "sub", "x.go"), []byte("package sub\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	wait(2, "a file written in the new folder")
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
