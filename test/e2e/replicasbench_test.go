package e2e

import (
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// BenchmarkReplicaConvergence measures how long a change accepted by one of
// three replicas on one PostgreSQL database takes to be in force on all of
// them: each change sets the hello plugin's greeting through the next
// replica in turn, and is timed from that replica's answer until the
// plugin on each of the other two answers with the new greeting (polled
// every millisecond). b.N is the number of changes; it reports the p50,
// p99 and largest of the per-change times.
//
// It runs only with -bench; see docs/replicas.md for the command.
func BenchmarkReplicaConvergence(b *testing.B) {
	f := setup(b)
	rs := startReplicas(b, f, 3)
	want(b, "load", rs[0].api("POST", "/api/plugins/load", map[string]any{"source": copyPlugin(b, filepath.Join(f.root, "plugins/examples/hello"))}), 201, "")
	for _, r := range rs {
		r.t = b
		within(b, 5*time.Second, "the plugin serves on "+r.url, func() bool { return r.endpoint("GET", helloID, "/greet/ada").status == 200 })
	}
	var took []time.Duration
	b.ResetTimer()
	for i := range b.N {
		through := rs[i%len(rs)]
		greeting := fmt.Sprintf("Hi%d", i)
		want(b, "configure", through.api("PUT", "/api/plugins/"+helloID+"/configuration", map[string]any{"greeting": greeting}), 200, "")
		accepted := time.Now()
		for _, r := range rs {
			if r == through {
				continue
			}
			for {
				if res := r.endpoint("GET", helloID, "/greet/ada"); res.status == 200 && res.body["message"] == greeting+", ada!" {
					break
				}
				if time.Since(accepted) > 30*time.Second {
					b.Fatalf("change %d not in force on %s after 30 s", i, r.url)
				}
				time.Sleep(time.Millisecond)
			}
		}
		took = append(took, time.Since(accepted))
	}
	b.StopTimer()
	slices.Sort(took)
	at := func(q float64) float64 {
		return float64(took[min(len(took)-1, int(q*float64(len(took))))].Microseconds()) / 1000
	}
	b.ReportMetric(at(0.5), "p50-ms")
	b.ReportMetric(at(0.99), "p99-ms")
	b.ReportMetric(float64(took[len(took)-1].Microseconds())/1000, "max-ms")
}
