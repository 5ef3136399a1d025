package host

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	apiv1 "github.com/kubestellar/ksplugins/api/v1"

	"github.com/kubestellar/ksplugins/internal/build"
	"github.com/kubestellar/ksplugins/internal/manifest"
	"github.com/kubestellar/ksplugins/internal/store"
)

// fakeLoads is an instantiator that makes a fresh testPlugin each time and
// remembers every one, so a test can check that none is left running
// unseen. When gate is set, each load waits on it first.
type fakeLoads struct {
	id      string
	gate    chan struct{}
	started chan struct{} // receives once per load, when set

	mu   sync.Mutex
	made []*testPlugin
}

func (f *fakeLoads) load(ctx context.Context, _ apiv1.Source, _ build.Tier, _ []string) (*instance, []manifest.Problem, error) {
	if f.started != nil {
		f.started <- struct{}{}
	}
	if f.gate != nil {
		select {
		case <-f.gate:
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
	}
	tp := &testPlugin{id: f.id, reply: "reloaded"}
	f.mu.Lock()
	f.made = append(f.made, tp)
	n := len(f.made)
	f.mu.Unlock()
	return &instance{impl: tp, meta: tp.GetMetadata(), loadedAt: time.Now(), artifact: apiv1.Artifact{Digest: fmt.Sprintf("sha256:reload%d", n)}}, nil, nil
}

// count returns how many instances the loader made.
func (f *fakeLoads) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.made)
}

// reloadWith is Reload with a fake loader: the same lookup, then reload.
func (h *Host) reloadWith(ctx context.Context, id string, load instantiator) (apiv1.Plugin, error) {
	p, err := h.get(id)
	if err != nil {
		return apiv1.Plugin{}, err
	}
	return h.reload(ctx, p, load)
}

// agree fails the test unless the registry and the store hold the same
// plugins with the same enabled flag and configuration.
func agree(t *testing.T, h *Host) {
	t.Helper()
	recs, err := h.store.Plugins(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	stored := map[string]store.Plugin{}
	for _, r := range recs {
		stored[r.ID] = r
	}
	live := map[string]apiv1.Plugin{}
	for _, info := range h.List() {
		live[info.ID] = info
	}
	for id, info := range live {
		rec, ok := stored[id]
		if !ok {
			t.Errorf("%s is registered (%s) but has no stored record", id, info.State)
			continue
		}
		if rec.Enabled != info.Enabled {
			t.Errorf("%s: stored enabled=%v, live enabled=%v", id, rec.Enabled, info.Enabled)
		}
		if !maps.Equal(stringValues(rec.Config), stringValues(info.Config)) {
			t.Errorf("%s: stored configuration %v, live %v", id, rec.Config, info.Config)
		}
	}
	for id := range stored {
		if _, ok := live[id]; !ok {
			t.Errorf("%s has a stored record but is not registered: a restart would bring back a plugin the API calls gone", id)
		}
	}
}

// stringValues renders a configuration for comparison; nil and empty are
// the same.
func stringValues(m map[string]any) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[k] = fmt.Sprint(v)
	}
	return out
}

// TestStaleChangeTouchesNothing runs each change with a registration that
// was looked up before the plugin was unloaded, as a request that waited
// for the plugin's lock does: it must fail with ErrNotFound and leave the
// registry and the store as the unload (and any later load) left them.
func TestStaleChangeTouchesNothing(t *testing.T) {
	ctx := context.Background()
	changes := []struct {
		name string
		run  func(h *Host, p *Plugin, f *fakeLoads) error
	}{
		{"reload", func(h *Host, p *Plugin, f *fakeLoads) error { _, err := h.reload(ctx, p, f.load); return err }},
		{"unload", func(h *Host, p *Plugin, _ *fakeLoads) error { return h.unload(ctx, p, false) }},
		{"enable", func(h *Host, p *Plugin, _ *fakeLoads) error { _, err := h.setEnabled(ctx, p, true, false); return err }},
		{"disable", func(h *Host, p *Plugin, _ *fakeLoads) error { _, err := h.setEnabled(ctx, p, false, false); return err }},
		{"configure", func(h *Host, p *Plugin, _ *fakeLoads) error {
			_, err := h.setConfig(ctx, p, map[string]any{"greeting": "stale"})
			return err
		}},
	}
	for _, reloaded := range []bool{false, true} {
		for _, c := range changes {
			name := c.name + " after unload"
			if reloaded {
				name += " and a new load"
			}
			t.Run(name, func(t *testing.T) {
				h := newTestHost(t)
				stale := add(t, h, &testPlugin{id: "demo"})
				if err := h.Unload(ctx, "demo"); err != nil {
					t.Fatal(err)
				}
				var current *Plugin
				if reloaded {
					current = add(t, h, &testPlugin{id: "demo", reply: "new"})
					if _, err := h.SetConfig(ctx, "demo", map[string]any{"greeting": "current"}); err != nil {
						t.Fatal(err)
					}
				}
				f := &fakeLoads{id: "demo"}
				if err := c.run(h, stale, f); !errors.Is(err, ErrNotFound) {
					t.Fatalf("%s with a stale registration: err = %v; want ErrNotFound", c.name, err)
				}
				if f.count() != 0 {
					t.Fatalf("the stale reload loaded code")
				}
				agree(t, h)
				info, err := h.Get("demo")
				switch {
				case !reloaded && !errors.Is(err, ErrNotFound):
					t.Fatalf("after the stale %s: Get = %+v, %v; want ErrNotFound", c.name, info, err)
				case reloaded && (err != nil || h.lookup("demo") != current || !info.Enabled || info.Config["greeting"] != "current" || info.State != apiv1.StateActive):
					t.Fatalf("the stale %s changed the new registration: %+v, %v", c.name, info, err)
				}
			})
		}
	}
}

// TestGhostSequence replays the reported race: a reload, an unload 10 ms
// later, another reload 20 ms later. Whatever the order the two waiters get
// the lock in, the plugin ends unloaded in memory and in the store, every
// instance the reloads made is cleaned up, and the only error is
// ErrNotFound.
func TestGhostSequence(t *testing.T) {
	ctx := context.Background()
	for i := range 10 {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			h := newTestHost(t)
			add(t, h, &testPlugin{id: "demo"})
			f := &fakeLoads{id: "demo", gate: make(chan struct{}), started: make(chan struct{}, 8)}

			errs := make(chan error, 3)
			go func() { _, err := h.reloadWith(ctx, "demo", f.load); errs <- err }()
			<-f.started // the first reload holds the lock, building
			time.Sleep(10 * time.Millisecond)
			go func() { errs <- h.Unload(ctx, "demo") }()
			time.Sleep(20 * time.Millisecond)
			go func() { _, err := h.reloadWith(ctx, "demo", f.load); errs <- err }()
			time.Sleep(10 * time.Millisecond)
			close(f.gate)

			for range 3 {
				if err := <-errs; err != nil && !errors.Is(err, ErrNotFound) {
					t.Errorf("change failed with %v; only ErrNotFound is allowed", err)
				}
			}
			if _, err := h.Get("demo"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("after reload, unload, reload: Get err = %v; want ErrNotFound", err)
			}
			agree(t, h)
			f.mu.Lock()
			defer f.mu.Unlock()
			for n, tp := range f.made {
				if got := tp.history(); got != "Validate,Initialize,OnLoad,OnUnload,Cleanup" {
					t.Errorf("instance %d of the reloads: calls %s; an unloaded plugin's instances are all cleaned up", n, got)
				}
			}
		})
	}
}

// TestChangeStorm runs every kind of change on two plugins from several
// goroutines at once (run it with -race). No change fails with anything
// but a clean refusal, and once they stop the registry and the store agree
// exactly.
func TestChangeStorm(t *testing.T) {
	ctx := context.Background()
	h := newTestHost(t, func(o *Options) { o.DrainTimeout = 10 * time.Millisecond })
	ids := []string{"alpha", "beta"}
	loads := map[string]*fakeLoads{}
	for _, id := range ids {
		loads[id] = &fakeLoads{id: id}
	}
	var ran, refused atomic.Int64
	deadline := time.Now().Add(time.Second)
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 42))
			for time.Now().Before(deadline) {
				id := ids[rng.IntN(len(ids))]
				var err error
				switch rng.IntN(6) {
				case 0:
					_, err = addErr(h, &testPlugin{id: id})
				case 1:
					err = h.Unload(ctx, id)
				case 2:
					_, err = h.reloadWith(ctx, id, loads[id].load)
				case 3:
					_, err = h.SetEnabled(ctx, id, rng.IntN(2) == 0)
				case 4:
					_, err = h.SetConfig(ctx, id, map[string]any{"greeting": fmt.Sprint("hi ", rng.IntN(100))})
				case 5:
					_, err = h.Get(id)
				}
				ran.Add(1)
				switch {
				case err == nil:
				case errors.Is(err, ErrNotFound), errors.Is(err, ErrExists), errors.Is(err, ErrBusy):
					refused.Add(1)
				default:
					t.Errorf("change on %s failed with %v; want success, ErrNotFound, ErrExists or ErrBusy", id, err)
				}
			}
		}()
	}
	wg.Wait()
	agree(t, h)
	t.Logf("%d changes, %d refused cleanly", ran.Load(), refused.Load())
	if ran.Load()-refused.Load() == 0 {
		t.Fatal("no change succeeded: the storm tested nothing")
	}
}
