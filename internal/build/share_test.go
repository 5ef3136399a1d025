package build

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// fakeBuilds stands in for buildOnce: it counts how often it compiles,
// blocks until released, and keeps what it built in a cache that a later
// build of the same key finds, as Lookup does.
type fakeBuilds struct {
	release chan struct{}

	mu     sync.Mutex
	builds int
	cache  map[string]*Artifact
}

func (f *fakeBuilds) build(key string) func(context.Context) (*Artifact, error) {
	return func(ctx context.Context) (*Artifact, error) {
		f.mu.Lock()
		if art, ok := f.cache[key]; ok {
			f.mu.Unlock()
			cached := *art
			cached.Cached = true
			return &cached, nil
		}
		f.builds++
		f.mu.Unlock()
		select {
		case <-f.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		art := &Artifact{Key: key}
		f.mu.Lock()
		f.cache[key] = art
		f.mu.Unlock()
		return art, nil
	}
}

func (f *fakeBuilds) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.builds
}

type shareResult struct {
	art *Artifact
	err error
}

// TestShare runs two callers of the same build key at once and ends one
// of their contexts: the build runs once, and only the caller whose context
// ended stops waiting.
func TestShare(t *testing.T) {
	cases := []struct {
		name string
		// cancel is the caller whose context ends while the build runs:
		// 0 for none, 1 for the one that started the build, 2 for the
		// one that joined it.
		cancel int
	}{
		{name: "both wait", cancel: 0},
		{name: "first caller leaves", cancel: 1},
		{name: "waiter leaves", cancel: 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := &Builder{opts: Options{Timeout: time.Hour}, running: map[string]bool{}}
				f := &fakeBuilds{release: make(chan struct{}), cache: map[string]*Artifact{}}
				var ctxs [2]context.Context
				var cancels [2]context.CancelFunc
				var results [2]chan shareResult
				for i := range 2 {
					ctxs[i], cancels[i] = context.WithCancel(t.Context())
					defer cancels[i]()
					results[i] = make(chan shareResult, 1)
					go func() {
						art, err := b.share(ctxs[i], "k", f.build("k"))
						results[i] <- shareResult{art, err}
					}()
					// The first caller starts the build before the
					// second asks for it.
					synctest.Wait()
				}
				if tc.cancel > 0 {
					left := tc.cancel - 1
					cancels[left]()
					synctest.Wait()
					select {
					case r := <-results[left]:
						if !errors.Is(r.err, context.Canceled) || r.art != nil {
							t.Fatalf("caller %d whose context ended got (%v, %v); want context.Canceled", tc.cancel, r.art, r.err)
						}
					default:
						t.Fatalf("caller %d still waits after its context ended", tc.cancel)
					}
					if !running(b, "k") {
						t.Fatal("the build stopped when a caller left")
					}
				}
				close(f.release)
				synctest.Wait()
				for i := range 2 {
					if i == tc.cancel-1 {
						continue
					}
					r := <-results[i]
					if r.err != nil || r.art == nil || r.art.Key != "k" {
						t.Errorf("caller %d got (%v, %v); want the artifact", i+1, r.art, r.err)
					}
				}
				if n := f.count(); n != 1 {
					t.Errorf("built %d times; want once", n)
				}
				if running(b, "k") {
					t.Error("the key is still marked running after the build")
				}
				// The build outlived any caller that left: its artifact
				// is in the cache for the next one.
				art, err := b.share(t.Context(), "k", f.build("k"))
				if err != nil || !art.Cached {
					t.Errorf("next build got (%+v, %v); want the cached artifact", art, err)
				}
				if n := f.count(); n != 1 {
					t.Errorf("built %d times after the cached call; want once", n)
				}
			})
		})
	}
}

// TestShareTimeout: a build every caller has left still ends at the build
// timeout, so a detached build cannot run for ever.
func TestShareTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := &Builder{opts: Options{Timeout: time.Minute}, running: map[string]bool{}}
		f := &fakeBuilds{release: make(chan struct{}), cache: map[string]*Artifact{}}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() {
			_, err := b.share(ctx, "k", f.build("k"))
			done <- err
		}()
		synctest.Wait()
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("caller got %v; want context.Canceled", err)
		}
		start := time.Now()
		// A second caller joins the abandoned build and sees it time out.
		_, err := b.share(t.Context(), "k", f.build("k"))
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("joined build got %v; want context.DeadlineExceeded", err)
		}
		if waited := time.Since(start); waited > time.Minute {
			t.Errorf("the build ran %s past the start of the wait; want at most the %s timeout", waited, time.Minute)
		}
		if running(b, "k") {
			t.Error("the key is still marked running after the timeout")
		}
	})
}

// TestSharePanic: a panic in a build fails that build, not the process.
func TestSharePanic(t *testing.T) {
	b := &Builder{opts: Options{Timeout: time.Minute}, running: map[string]bool{}}
	_, err := b.share(t.Context(), "k", func(context.Context) (*Artifact, error) { panic("boom") })
	if err == nil {
		t.Fatal("a panicking build succeeded")
	}
}

// running reports whether Evict would leave key alone as being built.
func running(b *Builder, key string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.running[key]
}
