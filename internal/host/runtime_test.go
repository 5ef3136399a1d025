package host

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

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
	mu     sync.Mutex
	opened []*fakeInstance
	specs  []runtime.Spec
}

func (r *fakeRuntime) Tier() apiv1.Tier { return fakeTier }

func (r *fakeRuntime) Open(_ context.Context, a apiv1.Artifact, spec runtime.Spec) (runtime.Instance, error) {
	reply, err := os.ReadFile(a.Path)
	if err != nil {
		return nil, err
	}
	in := &fakeInstance{tp: &testPlugin{id: "fake", reply: string(reply)}}
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

	if found, running, err := h.Restore(ctx); err != nil || found != 1 || running != 1 {
		t.Fatalf("Restore = %d found, %d running, %v; want 1, 1", found, running, err)
	}
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
