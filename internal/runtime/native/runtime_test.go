package native

import (
	"context"
	"errors"
	"plugin"
	"strings"
	"testing"
	"time"

	apiv1 "github.com/kubestellar/ksplugins/api/v1"

	"github.com/gin-gonic/gin"

	"github.com/kubestellar/ksplugins/internal/runtime"
	"github.com/kubestellar/ksplugins/sdk"
)

// basePlugin is the least a plugin can be.
type basePlugin struct{ sdk.Base }

func (*basePlugin) GetMetadata() sdk.PluginMetadata         { return sdk.PluginMetadata{ID: "base"} }
func (*basePlugin) GetHandlers() map[string]gin.HandlerFunc { return nil }

// constructs stands for an opened plugin file whose NewPlugin is newPlugin.
type constructs struct{ newPlugin func() sdk.KubestellarPlugin }

func (c constructs) Lookup(string) (plugin.Symbol, error) { return c.newPlugin, nil }

// TestRuntimeContainsNewPlugin opens through the runtime interface: a
// NewPlugin that panics, hangs or returns nil is the plugin's failure at
// step NewPlugin, and one that returns a plugin gives an instance whose
// Close frees nothing.
func TestRuntimeContainsNewPlugin(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	constructors := map[string]func() sdk.KubestellarPlugin{
		"works":  func() sdk.KubestellarPlugin { return &basePlugin{} },
		"panics": func() sdk.KubestellarPlugin { panic("no config") },
		"hangs":  func() sdk.KubestellarPlugin { <-release; return nil },
		"nil":    func() sdk.KubestellarPlugin { return nil },
	}
	l, file := testLoader(t, func(path string) (symbols, error) {
		for name, f := range constructors {
			if strings.Contains(path, name) {
				return constructs{f}, nil
			}
		}
		return nil, errors.New("no such fixture")
	})
	var rt runtime.Runtime = NewRuntime(l)
	if rt.Tier() != apiv1.TierNative {
		t.Fatalf("Tier = %s", rt.Tier())
	}
	tests := []struct {
		name string
		want string // in the error; "" for success
	}{
		{"works", ""},
		{"panics", "panic: no config"},
		{"hangs", "no answer within"},
		{"nil", "returned nil"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := runtime.Spec{ID: tt.name, CallTimeout: 100 * time.Millisecond}
			in, err := rt.Open(context.Background(), apiv1.Artifact{Path: file(tt.name), Digest: tt.name}, spec)
			if tt.want == "" {
				if err != nil || in.Plugin() == nil || in.Close(context.Background()) != nil {
					t.Fatalf("Open = %v, %v", in, err)
				}
				return
			}
			perr, ok := errors.AsType[*runtime.PluginError](err)
			if !ok || perr.ID != tt.name || perr.Step != sdk.PluginSymbol || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v; want a PluginError at %s saying %q", err, sdk.PluginSymbol, tt.want)
			}
		})
	}
	if _, ok := rt.(runtime.Pinner).Pinned("works"); !ok {
		t.Error("the opened file has no pinned copy")
	}
}
