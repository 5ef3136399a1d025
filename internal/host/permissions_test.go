package host

import (
	"strings"
	"testing"

	"github.com/kubestellar/ksplugins/sdk"
)

func TestGrant(t *testing.T) {
	md := &sdk.PluginMetadata{Permissions: []string{"cluster.read", "made.up"}, Security: sdk.SecurityConfig{NetworkAccess: true}}
	h := newTestHost(t)
	granted, warnings := h.grant(md)
	if strings.Join(granted, ",") != "cluster.read,made.up,network.egress" || len(warnings) != 1 || !strings.Contains(warnings[0], "made.up") {
		t.Fatalf("normal: %v %v", granted, warnings)
	}
	sys := *h.system.Load()
	sys.SecurityMode, sys.GrantedPermissions = "strict", []string{"cluster.read"}
	h.SetSystem(sys)
	granted, warnings = h.grant(md)
	if strings.Join(granted, ",") != "cluster.read" || len(warnings) != 2 {
		t.Fatalf("strict: %v %v", granted, warnings)
	}
}
