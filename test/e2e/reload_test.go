package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestReloadUnderLoad reloads a plugin many times, with new code each
// time, alternately valid and broken, while clients keep calling it: no
// request fails, every broken version is rolled back with an error event,
// and the last valid version is what serves in the end. Both tiers.
func TestReloadUnderLoad(t *testing.T) {
	f := setup(t)
	s := startServer(t, f)
	for _, tier := range []struct {
		name    string
		reloads int
		clients int
	}{{"native", 6, 8}, {"sandboxed", 4, 4}} {
		t.Run(tier.name, func(t *testing.T) {
			dir := copyPlugin(t, filepath.Join(f.root, "plugins/examples/hello"))
			if tier.name == "sandboxed" {
				sandbox(t, dir)
			}
			want(t, "load", s.api("POST", "/api/plugins/load", map[string]any{"source": dir}), 201, "")
			before := s.events(helloID)

			valid := map[string]bool{"Hello from plugin!": true}
			var mu sync.Mutex
			ctx, cancel := context.WithCancel(context.Background())
			var served, failed atomic.Int64
			var wg sync.WaitGroup
			for range tier.clients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for ctx.Err() == nil {
						r := s.endpoint("GET", helloID, "/hello")
						msg, _ := r.body["message"].(string)
						mu.Lock()
						ok := r.status == 200 && valid[msg]
						mu.Unlock()
						if !ok {
							failed.Add(1)
							t.Errorf("during reloads: %s", r)
						}
						served.Add(1)
					}
				}()
			}

			reply := "Hello from plugin!"
			var broken int
			for i := 1; i <= tier.reloads; i++ {
				main := filepath.Join(dir, "main.go")
				if i%2 == 1 {
					edit(t, main, fmt.Sprintf("%q", reply), "brokenIdentifier")
					want(t, "broken reload", s.api("POST", "/api/plugins/"+helloID+"/reload", nil), 422, "build_failed")
					edit(t, main, "brokenIdentifier", fmt.Sprintf("%q", reply))
					broken++
					continue
				}
				next := fmt.Sprintf("Hello from version %d!", i)
				mu.Lock()
				valid[next] = true
				mu.Unlock()
				edit(t, main, fmt.Sprintf("%q", reply), fmt.Sprintf("%q", next))
				want(t, "valid reload", s.api("POST", "/api/plugins/"+helloID+"/reload", nil), 200, "")
				reply = next
			}
			time.Sleep(300 * time.Millisecond)
			cancel()
			wg.Wait()
			if failed.Load() != 0 || served.Load() < int64(tier.reloads) {
				t.Fatalf("%d of %d requests failed", failed.Load(), served.Load())
			}
			if r := s.endpoint("GET", helloID, "/hello"); r.body["message"] != reply {
				t.Fatalf("final answer %s; want the last valid version's %q", r, reply)
			}
			var rollbacks, reloaded int
			for _, e := range s.events(helloID)[len(before):] {
				switch {
				case e["type"] == "error" && strings.Contains(fmt.Sprint(e["message"]), "previous version keeps serving"):
					rollbacks++
				case e["type"] == "reloaded":
					reloaded++
				}
			}
			if rollbacks != broken || reloaded != tier.reloads-broken {
				t.Fatalf("events: %d rollbacks (want %d), %d reloads (want %d)", rollbacks, broken, reloaded, tier.reloads-broken)
			}
			t.Logf("%s: %d requests served during %d reloads, none failed", tier.name, served.Load(), tier.reloads)
			want(t, "unload", s.api("DELETE", "/api/plugins/"+helloID, nil), 200, "")
		})
	}
}

// events lists a plugin's recent events.
func (s *server) events(id string) []map[string]any {
	s.t.Helper()
	r := s.api("GET", "/api/plugins/events?since=0&plugin_id="+id, nil)
	list, _ := r.body["events"].([]any)
	out := make([]map[string]any, 0, len(list))
	for _, e := range list {
		out = append(out, e.(map[string]any))
	}
	return out
}
