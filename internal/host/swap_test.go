package host

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	apiv1 "github.com/kubestellar/ksplugins/api/v1"

	"github.com/kubestellar/ksplugins/internal/manifest"
	"github.com/kubestellar/ksplugins/sdk"
)

// unhealthyPlugin starts but fails its health check.
type unhealthyPlugin struct{ testPlugin }

func (p *unhealthyPlugin) Health() error { return errors.New("not ready") }

// TestSwap replaces a running plugin's code as reload, update and watch
// do: the new instance serves only once it has started (and, when asked,
// passed a health check) and been recorded; otherwise the old one keeps
// serving and the plugin's source, grants and record are unchanged.
func TestSwap(t *testing.T) {
	next := apiv1.Source{Kind: apiv1.SourceGit, Location: "https://example.com/o/r", Version: "v2", Pin: "abc"}
	tests := []struct {
		name    string
		plugin  plugin
		change  change
		swapped bool
		failure func(error) bool
	}{
		{"same source", &testPlugin{id: "demo", reply: "new"}, change{}, true, nil},
		{"another version", &testPlugin{id: "demo", reply: "new"}, change{source: &next, grants: []string{"resource.read"}, kube: &apiv1.KubernetesGrant{Contexts: []string{"its1"}}, probe: true}, true, nil},
		{"another id", &testPlugin{id: "other", reply: "new"}, change{source: &next}, false, func(err error) bool {
			_, ok := errors.AsType[*manifest.Error](err)
			return ok
		}},
		{"fails to start", &testPlugin{id: "demo", reply: "new", failStep: "OnLoad"}, change{source: &next}, false, func(err error) bool {
			perr, ok := errors.AsType[*PluginError](err)
			return ok && perr.Step == "OnLoad"
		}},
		{"fails its health check", &unhealthyPlugin{testPlugin{id: "demo", reply: "new"}}, change{source: &next, probe: true}, false, func(err error) bool {
			perr, ok := errors.AsType[*PluginError](err)
			return ok && perr.Step == "Health"
		}},
		{"unhealthy, not probed", &unhealthyPlugin{testPlugin{id: "demo", reply: "new"}}, change{}, true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			h := newTestHost(t)
			old := &testPlugin{id: "demo", reply: "old"}
			p := add(t, h, old)
			before, _ := h.store.Plugin(ctx, "demo")
			// What the plugin was granted at install: a reload keeps it, an
			// update replaces it.
			kept := &apiv1.KubernetesGrant{Contexts: []string{"wds1"}, Rules: []sdk.KubernetesRule{}}
			p.mu.Lock()
			p.kube = kept
			p.mu.Unlock()

			in := &instance{impl: tt.plugin, meta: tt.plugin.GetMetadata(), loadedAt: time.Now(), artifact: apiv1.Artifact{Digest: "sha256:new"}}
			p.op.Lock()
			err := h.swap(ctx, p, in, tt.change)
			p.op.Unlock()

			rec, _ := h.store.Plugin(ctx, "demo")
			info, _ := h.Get("demo")
			r := serve(h, "GET", "demo", "/hello")
			if !tt.swapped {
				if err == nil || !tt.failure(err) {
					t.Fatalf("err = %v; want the failure", err)
				}
				if r.body != "old" || old.history() != "Validate,Initialize,OnLoad" {
					t.Fatalf("old instance: served %q, calls %s; want it serving, untouched", r.body, old.history())
				}
				if rec.ArtifactDigest != before.ArtifactDigest || rec.SourceLocation != before.SourceLocation {
					t.Fatalf("record %+v changed by a failed swap", rec)
				}
				if info.Source.Kind != apiv1.SourceFile || info.Kubernetes != kept {
					t.Fatalf("source %+v, kubernetes %+v changed by a failed swap", info.Source, info.Kubernetes)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.body != "new" || old.history() != "Validate,Initialize,OnLoad,OnUnload,Cleanup" {
				t.Fatalf("served %q, old calls %s; want the new instance serving and the old retired", r.body, old.history())
			}
			if rec.ArtifactDigest != "sha256:new" {
				t.Fatalf("recorded %s; want the new artifact", rec.ArtifactDigest)
			}
			if tt.change.source != nil && (info.Source != next || rec.SourcePin != next.Pin || !slices.Equal(rec.Grants, tt.change.grants)) {
				t.Fatalf("source %+v, record %+v; want the new source and grants", info.Source, rec)
			}
			want := kept
			if tt.change.source != nil {
				want = tt.change.kube
			}
			if !reflect.DeepEqual(rec.Kubernetes, want) || info.Kubernetes != want {
				t.Fatalf("kubernetes: recorded %+v, shown %+v; want %+v", rec.Kubernetes, info.Kubernetes, want)
			}
		})
	}
}
