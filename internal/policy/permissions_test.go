package policy

import (
	"slices"
	"strings"
	"testing"

	"github.com/kubestellar/ksplugins/sdk"
)

func TestRequested(t *testing.T) {
	tests := []struct {
		name string
		md   *sdk.PluginMetadata
		want []string
	}{
		{"no manifest", nil, nil},
		{"listed, sorted, once", &sdk.PluginMetadata{Permissions: []string{"cluster.read", "binding.read", "cluster.read"}}, []string{"binding.read", "cluster.read"}},
		{"implied by the security section", &sdk.PluginMetadata{Security: sdk.SecurityConfig{NetworkAccess: true, FileSystemAccess: true}}, []string{PermNetwork, PermStorage}},
		{"implied and listed", &sdk.PluginMetadata{Permissions: []string{PermNetwork}, Security: sdk.SecurityConfig{NetworkAccess: true}}, []string{PermNetwork}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Requested(tt.md); !slices.Equal(got, tt.want) {
				t.Fatalf("Requested = %q; want %q", got, tt.want)
			}
		})
	}
}

func TestGrant(t *testing.T) {
	md := &sdk.PluginMetadata{Permissions: []string{"cluster.read", "made.up"}, Security: sdk.SecurityConfig{NetworkAccess: true}}
	tests := []struct {
		mode      string
		grantable []string
		want      []string
		warnings  []string // what each warning names, in order
	}{
		{ModeNormal, nil, []string{"cluster.read", "made.up", PermNetwork}, []string{"made.up is not one the host knows"}},
		{ModePermissive, nil, []string{"cluster.read", "made.up", PermNetwork}, []string{"made.up is not one the host knows"}},
		{ModeStrict, []string{"cluster.read"}, []string{"cluster.read"}, []string{"made.up withheld", PermNetwork + " withheld"}},
		{ModeStrict, []string{"cluster.read", "made.up"}, []string{"cluster.read", "made.up"}, []string{"made.up is not one the host knows", PermNetwork + " withheld"}},
	}
	for _, tt := range tests {
		t.Run(tt.mode+" "+strings.Join(tt.grantable, ","), func(t *testing.T) {
			granted, warnings := Grant(md, tt.mode, tt.grantable)
			if !slices.Equal(granted, tt.want) || len(warnings) != len(tt.warnings) {
				t.Fatalf("Grant = %q, %q; want %q and %d warnings", granted, warnings, tt.want, len(tt.warnings))
			}
			for i, w := range tt.warnings {
				if !strings.Contains(warnings[i], w) {
					t.Fatalf("warning %d = %q; want it to say %q", i, warnings[i], w)
				}
			}
		})
	}
}

func TestKnownPermissionsDescribed(t *testing.T) {
	seen := map[string]bool{}
	for _, p := range KnownPermissions() {
		if p.Name == "" || p.Description == "" || seen[p.Name] {
			t.Fatalf("permission %+v: each needs a name, once, and a description", p)
		}
		seen[p.Name] = true
	}
	if !seen[PermNetwork] || !seen[PermStorage] {
		t.Fatalf("the permissions the host enforces are not among those it knows: %v", seen)
	}
}
