package host

import (
	"context"
	pluginrt "github.com/kubestellar/ksplugins/internal/runtime"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/kubestellar/ksplugins/sdk"
)

// stuckPlugin's GetStatus and GetMetrics block until release is closed,
// as a plugin stuck on a lock or a dead connection would.
type stuckPlugin struct {
	*testPlugin
	release chan struct{}
	calls   atomic.Int64
}

func (p *stuckPlugin) GetStatus() sdk.PluginStatus {
	p.calls.Add(1)
	<-p.release
	return sdk.PluginStatus{State: sdk.StateLoaded, Health: sdk.HealthHealthy}
}

func (p *stuckPlugin) GetMetrics() map[string]interface{} {
	p.calls.Add(1)
	<-p.release
	return map[string]interface{}{"answered": 1}
}

// TestHungCallsAreGuarded scrapes a plugin whose method hangs 50 times: the
// first call is abandoned at its time limit, the others fail at once with
// "still running" instead of each leaving another goroutine behind, and once
// the plugin answers again the next call reaches it. It runs on synctest's
// fake clock, so "at once" is no time at all and the limit is exact.
func TestHungCallsAreGuarded(t *testing.T) {
	const (
		timeout = 200 * time.Millisecond
		scrapes = 50
	)
	cases := []struct {
		method string
		// scrape calls the method through the host as the API does and
		// returns the error it reports, "" when the plugin answered.
		scrape func(h *Host) string
	}{
		{"GetMetrics", func(h *Host) string {
			m := h.PluginMetrics(context.Background(), timeout)["hang"]
			if e, ok := m["error"].(string); ok {
				return e
			}
			return ""
		}},
		{"GetStatus", func(h *Host) string {
			st, err := h.Status(context.Background(), "hang")
			if err != nil {
				return err.Error()
			}
			if len(st.Errors) > 0 {
				return st.Errors[0].Message
			}
			return ""
		}},
	}
	for _, tc := range cases {
		t.Run(tc.method, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := newTestHost(t, func(o *Options) { o.CallTimeout = timeout })
				p := &stuckPlugin{testPlugin: &testPlugin{id: "hang"}, release: make(chan struct{})}
				released := false
				release := func() {
					if !released {
						released = true
						close(p.release)
					}
				}
				t.Cleanup(release)
				add(t, h, p)

				before := runtime.NumGoroutine()
				start := time.Now()
				if e := tc.scrape(h); !strings.Contains(e, "no answer within") {
					t.Fatalf("first scrape reported %q; want the time limit", e)
				}
				if took := time.Since(start); took != timeout {
					t.Fatalf("first scrape took %s; want the time limit, %s", took, timeout)
				}
				for i := 1; i < scrapes; i++ {
					start := time.Now()
					e := tc.scrape(h)
					if took := time.Since(start); took != 0 {
						t.Fatalf("scrape %d took %s; want an answer at once while the call hangs", i+1, took)
					}
					if !strings.Contains(e, tc.method) || !strings.Contains(e, pluginrt.ErrStillRunning.Error()) {
						t.Fatalf("scrape %d reported %q; want %s %q", i+1, e, tc.method, pluginrt.ErrStillRunning)
					}
				}
				if grew := runtime.NumGoroutine() - before; grew > 3 {
					t.Errorf("goroutines grew by %d over %d scrapes; want at most 3", grew, scrapes)
				}
				if n := p.calls.Load(); n != 1 {
					t.Errorf("the plugin was called %d times; want once while it hangs", n)
				}

				// Once the hung call returns, the guard lets the next one in.
				release()
				synctest.Wait()
				if e := tc.scrape(h); e != "" {
					t.Fatalf("after the plugin answered, the scrape reported %q", e)
				}
			})
		})
	}
}
