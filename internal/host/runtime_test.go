package host

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	apiv1 "github.com/kubestellar/ksplugins/api/v1"

	"github.com/kubestellar/ksplugins/internal/build"
	"github.com/kubestellar/ksplugins/internal/events"
	"github.com/kubestellar/ksplugins/internal/runtime"
	"github.com/kubestellar/ksplugins/internal/store"
	"github.com/kubestellar/ksplugins/sdk"
)

// fakeTier exists only in this test: the host must run its plugins without
// knowing it.
const fakeTier apiv1.Tier = "fake"

// fakeRuntime opens a "prebuilt artifact" of the fake tier: a file whose
// content is the plugin's reply.
type fakeRuntime struct {
	// gate, when set, holds every Open until it is closed.
	gate chan struct{}
	// open counts the Opens under way, and most the largest count seen.
	open, most atomic.Int32

	mu     sync.Mutex
	opened []*fakeInstance
	specs  []runtime.Spec
}

func (r *fakeRuntime) Tier() apiv1.Tier { return fakeTier }

func (r *fakeRuntime) Open(ctx context.Context, a apiv1.Artifact, spec runtime.Spec) (runtime.Instance, error) {
	n := r.open.Add(1)
	defer r.open.Add(-1)
	for m := r.most.Load(); n > m && !r.most.CompareAndSwap(m, n); m = r.most.Load() {
	}
	if r.gate != nil {
		select {
		case <-r.gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	reply, err := os.ReadFile(a.Path)
	if err != nil {
		return nil, err
	}
	// The plugin's id is the artifact's name: fake.bin holds plugin fake.
	id := strings.TrimSuffix(filepath.Base(a.Path), filepath.Ext(a.Path))
	in := &fakeInstance{tp: &testPlugin{id: id, reply: string(reply)}}
	r.mu.Lock()
	r.opened, r.specs = append(r.opened, in), append(r.specs, spec)
	r.mu.Unlock()
	return in, nil
}

func (r *fakeRuntime) instances() []*fakeInstance {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*fakeInstance(nil), r.opened...)
}

// fakeInstance implements runtime.Describer as well, like a confining tier.
type fakeInstance struct {
	tp     *testPlugin
	closed atomic.Int32
}

func (in *fakeInstance) Plugin() sdk.KubestellarPlugin { return in.tp }
func (in *fakeInstance) Close(context.Context) error   { in.closed.Add(1); return nil }
func (in *fakeInstance) Describe() *apiv1.Sandbox {
	return &apiv1.Sandbox{Limits: apiv1.SandboxLimits{PoolSize: 7}}
}

// TestAnyTier restores, reloads and unloads a plugin of a tier the host has
// never heard of, through the runtime it was given: the host drives the
// plugin, reports what the instance describes, and closes every instance
// it retires exactly once.
func TestAnyTier(t *testing.T) {
	ctx := context.Background()
	rt := &fakeRuntime{}
	h := newTestHost(t, func(o *Options) { o.Runtimes = []runtime.Runtime{rt} })
	artifact := filepath.Join(t.TempDir(), "fake.bin")
	if err := os.WriteFile(artifact, []byte("v1"), 0o600); err != nil {
		t.Fatal(err)
	}
	digest, err := build.FileDigest(artifact)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.store.PutPlugin(ctx, store.Plugin{ID: "fake", SourceKind: string(apiv1.SourceFile), SourceLocation: artifact,
		Tier: string(fakeTier), ArtifactPath: artifact, ArtifactDigest: digest, Enabled: true, Grants: []string{"resource.read"},
		Kubernetes: &apiv1.KubernetesGrant{Contexts: []string{"its1"}, Rules: []sdk.KubernetesRule{}, ExternalClusters: true}}); err != nil {
		t.Fatal(err)
	}

	if found, err := h.Restore(ctx); err != nil || found != 1 {
		t.Fatalf("Restore = %d found, %v; want 1", found, err)
	}
	<-h.Restored()
	if r := serve(h, "GET", "fake", "/hello"); r.status != 200 || r.body != "v1" {
		t.Fatalf("restored: %+v", r)
	}
	info, _ := h.Get("fake")
	if info.Tier != fakeTier || info.Sandbox == nil || info.Sandbox.Limits.PoolSize != 7 {
		t.Fatalf("info: tier %q, sandbox %+v; want the fake tier and its description", info.Tier, info.Sandbox)
	}
	if s := rt.specs[0]; s.ID != "fake.bin" || len(s.Granted) != 1 || s.Granted[0] != "resource.read" {
		t.Fatalf("spec = %+v; want the artifact's name and the recorded grants", s)
	}
	if k := info.Kubernetes; k == nil || len(k.Contexts) != 1 || k.Contexts[0] != "its1" || !k.ExternalClusters {
		t.Fatalf("restored Kubernetes grant = %+v; want the recorded one", k)
	}
	if _, ok := h.OutputStats()["fake"]; ok || rt.specs[0].Output == nil {
		t.Fatal("a plugin whose runtime never asked for its output gate has one, or none was offered")
	}
	// A copy the runtime replaced by itself is an error event.
	last := h.events.LastID()
	rt.specs[0].Fault(errors.New("a background turn did not return"))
	if evs := h.events.Since(last); len(evs) != 1 || evs[0].Type != events.Error || evs[0].PluginID != "fake.bin" ||
		evs[0].Details["reason"] != "instance_replaced" || !strings.Contains(evs[0].Message, "a background turn did not return") {
		t.Fatalf("events after a fault: %+v; want one error event, reason instance_replaced, with the cause", evs)
	}

	if err := os.WriteFile(artifact, []byte("v2"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Reload(ctx, "fake"); err != nil {
		t.Fatal(err)
	}
	if r := serve(h, "GET", "fake", "/hello"); r.body != "v2" {
		t.Fatalf("reloaded: %+v", r)
	}
	ins := rt.instances()
	if len(ins) != 2 || ins[0].closed.Load() != 1 || ins[1].closed.Load() != 0 {
		t.Fatalf("after reload: %d instances; want the first closed once and the second open", len(ins))
	}
	if got := ins[0].tp.history(); got != "Validate,Initialize,OnLoad,OnUnload,Cleanup" {
		t.Fatalf("retired instance's calls = %s", got)
	}

	if err := h.Unload(ctx, "fake"); err != nil {
		t.Fatal(err)
	}
	if ins[1].closed.Load() != 1 {
		t.Fatal("unloaded instance not closed in its runtime")
	}
}

// TestRestoreInBackground: Restore returns before the plugins are back;
// meanwhile each answers 503 plugin_restoring with Retry-After, and the
// host counts them as restoring. They come back several at a time, no
// more than the cores, and Restored is closed when all are.
func TestRestoreInBackground(t *testing.T) {
	ctx := context.Background()
	rt := &fakeRuntime{gate: make(chan struct{})}
	h := newTestHost(t, func(o *Options) { o.Runtimes = []runtime.Runtime{rt} })
	const n = 6
	dir := t.TempDir()
	for i := range n {
		id := fmt.Sprintf("p%d", i)
		artifact := filepath.Join(dir, id+".bin")
		if err := os.WriteFile(artifact, []byte("from "+id), 0o600); err != nil {
			t.Fatal(err)
		}
		digest, err := build.FileDigest(artifact)
		if err != nil {
			t.Fatal(err)
		}
		if err := h.store.PutPlugin(ctx, store.Plugin{ID: id, SourceKind: string(apiv1.SourceFile), SourceLocation: artifact,
			Tier: string(fakeTier), ArtifactPath: artifact, ArtifactDigest: digest, Enabled: true}); err != nil {
			t.Fatal(err)
		}
	}
	if found, err := h.Restore(ctx); err != nil || found != n {
		t.Fatalf("Restore = %d, %v; want %d", found, err, n)
	}
	if got := h.Restoring(); got != n {
		t.Errorf("Restoring = %d while every Open waits; want %d", got, n)
	}
	rec := httptest.NewRecorder()
	h.ServeEndpoint(rec, httptest.NewRequest("GET", EndpointPrefix+"p0/hello", nil), "p0", "/hello")
	if rec.Code != 503 || !strings.Contains(rec.Body.String(), `"plugin_restoring"`) || rec.Header().Get("Retry-After") == "" {
		t.Errorf("a restoring plugin answered %d %q, Retry-After %q; want 503 plugin_restoring with Retry-After", rec.Code, rec.Body, rec.Header().Get("Retry-After"))
	}
	if info, _ := h.Get("p1"); info.State != apiv1.StateRestoring {
		t.Errorf("state %q, want restoring", info.State)
	}
	select {
	case <-h.Restored():
		t.Fatal("Restored closed while every Open waits")
	default:
	}

	// As many restores wait in Open as there are cores, and no more.
	cores := int32(goruntime.GOMAXPROCS(0))
	for deadline := time.Now().Add(5 * time.Second); rt.open.Load() < min(cores, n) && time.Now().Before(deadline); time.Sleep(time.Millisecond) {
	}
	time.Sleep(20 * time.Millisecond) // room for one too many to show
	if got := rt.open.Load(); got != min(cores, n) {
		t.Errorf("%d restores at once with %d cores; want %d", got, cores, min(cores, n))
	}
	close(rt.gate)
	<-h.Restored()
	if got := h.Restoring(); got != 0 {
		t.Errorf("Restoring = %d after Restored; want 0", got)
	}
	for i := range n {
		id := fmt.Sprintf("p%d", i)
		if r := serve(h, "GET", id, "/hello"); r.status != 200 || r.body != "from "+id {
			t.Errorf("%s after restore: %+v", id, r)
		}
	}
	if most := rt.most.Load(); most > cores {
		t.Errorf("at most %d restores at once; want no more than the %d cores", most, cores)
	}
}
