package native

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"plugin"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/kubestellar/ksplugins/internal/toolchain"
	"github.com/kubestellar/ksplugins/sdk"
)

// fakePlugin stands for an opened plugin file that exports NewPlugin.
type fakePlugin struct{}

func (fakePlugin) Lookup(name string) (plugin.Symbol, error) {
	return func() sdk.KubestellarPlugin { return nil }, nil
}

// openTimeout is how long testLoader's loaders wait for a plugin's init.
const openTimeout = 200 * time.Millisecond

// testLoader returns a loader whose plugin.Open is open, over files that
// need no build info, and a file for each digest.
func testLoader(t *testing.T, open func(path string) (symbols, error)) (*Loader, func(digest string) string) {
	t.Helper()
	l := NewLoader(t.TempDir(), toolchain.Target{})
	l.open, l.check, l.timeout = open, func(string) error { return nil }, openTimeout
	src := t.TempDir()
	file := func(digest string) string {
		path := filepath.Join(src, digest+".so")
		if err := os.WriteFile(path, []byte(digest), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	return l, file
}

// TestOpenContainsInit opens each kind of plugin twice, on synctest's fake
// clock, so an init that hangs costs the loader's timeout exactly and no
// real time.
func TestOpenContainsInit(t *testing.T) {
	for _, c := range []struct {
		digest  string
		wantErr func(error) bool
		opens   int32 // plugin.Open calls after opening the digest twice
		waited  time.Duration
	}{
		{"sha256:panics", func(err error) bool {
			var pe *InitPanicError
			return errors.As(err, &pe) && strings.Contains(err.Error(), "panicked: init: no config") && strings.Contains(pe.Stack, "native")
		}, 1, 0},
		{"sha256:hangs", func(err error) bool {
			var te *InitTimeoutError
			return errors.As(err, &te) && errors.Is(err, context.DeadlineExceeded)
		}, 1, 2 * openTimeout},
		{"sha256:fails", func(err error) bool { return err != nil && strings.Contains(err.Error(), "dlopen failed") }, 2, 0},
		{"sha256:works", func(err error) bool { return err == nil }, 1, 0},
	} {
		t.Run(c.digest, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				release := make(chan struct{})
				defer close(release)
				var opens atomic.Int32
				l, file := testLoader(t, func(path string) (symbols, error) {
					opens.Add(1)
					switch {
					case strings.Contains(path, "panics"):
						panic("init: no config")
					case strings.Contains(path, "hangs"):
						<-release
					case strings.Contains(path, "fails"):
						return nil, errors.New("dlopen failed")
					}
					return fakePlugin{}, nil
				})
				path := file(strings.TrimPrefix(c.digest, "sha256:"))
				start := time.Now()
				for i := range 2 {
					f, err := l.Open(context.Background(), path, c.digest)
					if !c.wantErr(err) {
						t.Fatalf("open %d: err = %v", i+1, err)
					}
					if err == nil && f == nil {
						t.Fatalf("open %d: no constructor", i+1)
					}
				}
				if waited := time.Since(start); waited != c.waited {
					t.Errorf("the two opens waited %s; want %s", waited, c.waited)
				}
				if got := opens.Load(); got != c.opens {
					t.Errorf("plugin.Open ran %d times; want %d", got, c.opens)
				}
			})
		})
	}
}

// TestOpenWhileAnotherHangs checks that a plugin whose init never returns
// holds nothing another plugin's open needs.
func TestOpenWhileAnotherHangs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		defer close(release)
		l, file := testLoader(t, func(path string) (symbols, error) {
			if strings.Contains(path, "hangs") {
				<-release
			}
			return fakePlugin{}, nil
		})
		l.timeout = time.Hour
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		hung := make(chan error, 1)
		go func() {
			_, err := l.Open(context.Background(), file("hangs"), "sha256:hangs")
			hung <- err
		}()
		if _, err := l.Open(ctx, file("other"), "sha256:other"); err != nil {
			t.Fatalf("another plugin waited for the hanging one: %v", err)
		}
		if _, err := l.Open(ctx, file("hangs"), "sha256:hangs"); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("second open of the hanging plugin: err = %v; want the caller's deadline", err)
		}
		select {
		case err := <-hung:
			t.Fatalf("the hanging open returned: %v", err)
		default:
		}
	})
}
