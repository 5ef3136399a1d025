package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
)

var managedClusterResource = schema.GroupVersionResource{Group: "cluster.open-cluster-management.io", Version: "v1", Resource: "managedclusters"}

// watchChanges is how many ManagedClusters each tier's watch figure is
// taken over.
const watchChanges = 20

// getRound is how many GETs each way makes in one round of
// BenchmarkKubeGet's interleaved comparison.
const getRound = 200

// BenchmarkKubeGet compares one GET of a ManagedCluster on a real
// kube-apiserver made three ways, each with a dynamic client made once and
// reused: direct, from the test process with the administrator's
// credentials; and through the host's mediation from the kubeclient plugin,
// native and sandboxed.
//
// The three take turns, getRound GETs at a time, in an order that rotates
// every round, so that a change in the API server's own pace during the
// run (the machine is shared) weighs on all of them alike; b.N is the
// number of GETs each way. The plugin times its GETs itself, so the call
// to its endpoint is not counted. It reports each way's mean per GET
// (direct-ns/op, native-ns/op, sandboxed-ns/op; ns/op is the three
// together), each tier's over direct's (native-x, sandboxed-x), and the
// mediation's own measure of each tier's GETs from /metrics
// (native-host-ns/op, sandboxed-host-ns/op, the API server included), so
// that a tier's ns/op less its host-ns/op is the time spent in the plugin
// and on the way to the host. The watch sub-benchmarks report how long after a
// create began each way's watch saw the object (p50 and max over
// watchChanges creates).
//
// It runs only with -bench; see docs/kubernetes.md for the command.
func BenchmarkKubeGet(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	bench := newKubeBench(b, "test/e2e/testdata/plugins/kubeclient")
	mcs := bench.managedClusters
	if _, err := mcs.Create(ctx, managedCluster("c1", nil), metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	servers := bench.servers

	// gets makes n GETs one way and answers their mean in nanoseconds.
	gets := map[string]func(b *testing.B, n int) float64{
		"direct": func(b *testing.B, n int) float64 {
			began := time.Now()
			for range n {
				if _, err := mcs.Get(ctx, "c1", metav1.GetOptions{}); err != nil {
					b.Fatal(err)
				}
			}
			return float64(time.Since(began).Nanoseconds()) / float64(n)
		},
	}
	for _, tier := range []string{"native", "sandboxed"} {
		s := servers[tier]
		gets[tier] = func(b *testing.B, n int) float64 {
			s.t = b
			r := s.endpoint("GET", kubeclientID, fmt.Sprintf("/managedcluster?name=c1&n=%d", n))
			mean, ok := r.body["meanNanos"].(float64)
			if r.status != 200 || !ok {
				b.Fatalf("mediated GETs: %s", r)
			}
			return mean
		}
	}

	b.Run("get", func(b *testing.B) {
		ways := []string{"direct", "native", "sandboxed"}
		for _, way := range ways {
			gets[way](b, 10) // make the client and warm its connection
		}
		// The mediation's own measure of each tier's GETs: from their
		// arrival in the host to the answer, the API server's time included.
		const series = `kubestellar_plugin_kube_request_duration_seconds`
		const labels = `context="its1",group="cluster.open-cluster-management.io",plugin_id="kubeclient",resource="managedclusters",verb="get"`
		hostSeconds := func() map[string][2]float64 {
			m := map[string][2]float64{}
			for _, tier := range []string{"native", "sandboxed"} {
				s := servers[tier]
				s.t = b
				m[tier] = [2]float64{s.promValue(series+"_sum", labels), s.promValue(series+"_count", labels)}
			}
			return m
		}
		hostBefore := hostSeconds()
		b.ResetTimer()
		total := map[string]float64{}
		for round, done := 0, 0; done < b.N; round++ {
			n := min(b.N-done, getRound)
			for i := range ways {
				way := ways[(round+i)%len(ways)]
				total[way] += gets[way](b, n) * float64(n)
			}
			done += n
		}
		b.StopTimer()
		mean := func(way string) float64 { return total[way] / float64(b.N) }
		for _, way := range ways {
			b.ReportMetric(mean(way), way+"-ns/op")
		}
		b.ReportMetric(mean("native")/mean("direct"), "native-x")
		b.ReportMetric(mean("sandboxed")/mean("direct"), "sandboxed-x")
		for tier, after := range hostSeconds() {
			before := hostBefore[tier]
			b.ReportMetric((after[0]-before[0])/(after[1]-before[1])*1e9, tier+"-host-ns/op")
		}
	})

	// runs numbers the watch figures' ManagedClusters apart: a benchmark
	// function runs more than once.
	runs := 0
	// watchFrom runs in a goroutine of its own, so it answers its error
	// rather than failing the benchmark.
	watchFigures := func(b *testing.B, watchFrom func(selector string) (map[string]time.Time, error)) {
		runs++
		selector := fmt.Sprintf("ksplugins-bench=run%d", runs)
		type result struct {
			seen map[string]time.Time
			err  error
		}
		seenc := make(chan result, 1)
		go func() {
			seen, err := watchFrom(selector)
			seenc <- result{seen, err}
		}()
		time.Sleep(time.Second) // let the watch start; an object made before it is still seen, later
		created := map[string]time.Time{}
		for i := range watchChanges {
			name := fmt.Sprintf("w%d-%d", runs, i)
			created[name] = time.Now()
			if _, err := mcs.Create(ctx, managedCluster(name, map[string]string{"ksplugins-bench": fmt.Sprintf("run%d", runs)}), metav1.CreateOptions{}); err != nil {
				b.Fatal(err)
			}
			time.Sleep(20 * time.Millisecond) // one change at a time
		}
		res := <-seenc
		if res.err != nil {
			b.Fatal(res.err)
		}
		seen := res.seen
		var lat []time.Duration
		for name, at := range created {
			s, ok := seen[name]
			if !ok {
				b.Fatalf("the watch did not see %s; saw %v", name, seen)
			}
			lat = append(lat, s.Sub(at))
		}
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "watch-p50-ms")
		b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "watch-max-ms")
	}

	b.Run("watch/direct", func(b *testing.B) {
		watchFigures(b, func(selector string) (map[string]time.Time, error) {
			w, err := mcs.Watch(ctx, metav1.ListOptions{LabelSelector: selector})
			if err != nil {
				return nil, fmt.Errorf("watch managed clusters: %w", err)
			}
			defer w.Stop()
			seen := map[string]time.Time{}
			for len(seen) < watchChanges {
				select {
				case ev := <-w.ResultChan():
					if o, ok := ev.Object.(metav1.Object); ok && ev.Type == watch.Added {
						seen[o.GetName()] = time.Now()
					}
				case <-time.After(time.Minute):
					return seen, nil
				}
			}
			return seen, nil
		})
	})
	for _, tier := range []string{"native", "sandboxed"} {
		s := servers[tier]
		b.Run("watch/"+tier, func(b *testing.B) {
			s.t = b
			watchFigures(b, func(selector string) (map[string]time.Time, error) {
				resp, err := http.Get(s.url + "/api/plugin-endpoints/" + kubeclientID + fmt.Sprintf("/watchmanagedclusters?selector=%s&count=%d", url.QueryEscape(selector), watchChanges))
				if err != nil {
					return nil, fmt.Errorf("call the plugin's watch: %w", err)
				}
				defer resp.Body.Close()
				var body struct {
					Seen  map[string]float64 `json:"seen"`
					Error string             `json:"error"`
				}
				if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != 200 || body.Error != "" {
					return nil, fmt.Errorf("the plugin's watch: %d %+v %v", resp.StatusCode, body, err)
				}
				seen := map[string]time.Time{}
				for name, ns := range body.Seen {
					seen[name] = time.Unix(0, int64(ns))
				}
				return seen, nil
			})
		})
	}
}

// managedCluster is a ManagedCluster with a name and labels, as the
// dynamic client takes it.
func managedCluster(name string, labels map[string]string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion("cluster.open-cluster-management.io/v1")
	u.SetKind("ManagedCluster")
	u.SetName(name)
	u.SetLabels(labels)
	return u
}

// kubeBench is what the Kubernetes benchmarks share: a real kube-apiserver
// with the OCM CRDs, a dynamic client of its ManagedClusters as the test
// process's direct path, and one server per tier, each with the plugin of
// one folder loaded and granted the API server as its1.
type kubeBench struct {
	admin           *rest.Config
	managedClusters dynamic.ResourceInterface
	// servers and loads are by tier; loads is how long each load took
	// (build, or the build cache, and start, which in the sandboxed tier
	// compiles the module or reads it from the compilation cache).
	servers map[string]*server
	loads   map[string]time.Duration
}

func newKubeBench(b *testing.B, plugin string) *kubeBench {
	b.Helper()
	f := setup(b)
	admin := startKube(b, kubeAssets(b), ocmCRDs(b))
	direct := rest.CopyConfig(admin)
	direct.QPS = -1 // as the plugins' configuration: no client-side rate limit
	adminDyn, err := dynamic.NewForConfig(direct)
	if err != nil {
		b.Fatal(err)
	}
	k := &kubeBench{admin: admin, managedClusters: adminDyn.Resource(managedClusterResource),
		servers: map[string]*server{}, loads: map[string]time.Duration{}}
	kubeconfigPath := hostKubeconfigFiles(b, "its1", admin)
	for _, tier := range []string{"native", "sandboxed"} {
		s := startServerArgs(b, f, freeAddr(b), filepath.Join(b.TempDir(), "data"), f.cacheDir, []string{"--kubeconfig", kubeconfigPath}, "KUBECONFIG=")
		src := copyPlugin(b, filepath.Join(f.root, plugin))
		if tier == "sandboxed" {
			edit(b, filepath.Join(src, "plugin.yaml"), "kubernetes:", "security:\n  sandboxed: true\nkubernetes:")
		}
		began := time.Now()
		want(b, "load "+plugin+" "+tier, s.api("POST", "/api/plugins/load", map[string]any{"source": src}), 201, "")
		k.loads[tier] = time.Since(began)
		k.servers[tier] = s
	}
	return k
}
