package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// statusClusters is how many ManagedClusters the hub holds while
// BenchmarkClusterManagerStatus lists them.
const statusClusters = 10

// BenchmarkClusterManagerStatus measures GET /status of the cluster
// manager, which lists the hub's ManagedClusters through the host's
// mediation and answers their states, on a real kube-apiserver: native and
// sandboxed, from the same source, each call made over HTTP from the test
// process as a caller would. host-ns/op is the mediation's own measure of
// the list inside each call (from /metrics), so ns/op less host-ns/op is the
// plugin's part, the host's HTTP serving and the way to the plugin; direct
// is the same list made from the test process straight to the API server,
// for scale. load-ms is how long the load took (build, or the build cache,
// and start, which in the sandboxed tier compiles the module or reads it
// from the compilation cache).
//
// It runs only with -bench; see docs/cluster-manager.md for the command.
func BenchmarkClusterManagerStatus(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	bench := newKubeBench(b, "plugins/cluster-manager")
	mcs := bench.managedClusters
	for i := range statusClusters {
		if _, err := mcs.Create(ctx, managedCluster(fmt.Sprintf("c%d", i), map[string]string{"env": "bench"}), metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	servers, loads := bench.servers, bench.loads

	var directMean float64
	b.Run("direct", func(b *testing.B) {
		for range 10 { // warm the connection
			if _, err := mcs.List(ctx, metav1.ListOptions{}); err != nil {
				b.Fatal(err)
			}
		}
		b.ResetTimer()
		for range b.N {
			list, err := mcs.List(ctx, metav1.ListOptions{})
			if err != nil || len(list.Items) != statusClusters {
				b.Fatalf("list: %d %v", len(list.Items), err)
			}
		}
		directMean = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	})

	for _, tier := range []string{"native", "sandboxed"} {
		s := servers[tier]
		b.Run(tier, func(b *testing.B) {
			s.t = b
			status := func() {
				r := s.cm("GET", "/status", nil)
				if r.status != 200 || r.body["count"] != float64(statusClusters) {
					b.Fatalf("status: %s", r)
				}
			}
			for range 10 { // warm the plugin and its connection
				status()
			}
			const series = `kubestellar_plugin_kube_request_duration_seconds`
			const labels = `context="its1",group="cluster.open-cluster-management.io",plugin_id="kubestellar-cluster-manager",resource="managedclusters",verb="list"`
			hostSum, hostCount := s.promValue(series+"_sum", labels), s.promValue(series+"_count", labels)
			b.ResetTimer()
			for range b.N {
				status()
			}
			b.StopTimer()
			mean := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
			hostSum, hostCount = s.promValue(series+"_sum", labels)-hostSum, s.promValue(series+"_count", labels)-hostCount
			b.ReportMetric(hostSum/hostCount*1e9, "host-ns/op")
			if directMean > 0 {
				b.ReportMetric(mean/directMean, "x-direct")
			}
			b.ReportMetric(float64(loads[tier].Milliseconds()), "load-ms")
		})
	}
}
