package host

import (
	"fmt"
	"slices"
	"strings"

	apiv1 "github.com/kubestellar/ksplugins/api/v1"

	"github.com/kubestellar/ksplugins/sdk"
)

// The permissions the host itself enforces today: the sandboxed tier's
// capabilities. A manifest's security.network_access and filesystem_access
// ask for them implicitly.
const (
	PermNetwork = "network.egress"
	PermStorage = "storage.data"
)

// KnownPermissions lists the permissions the host knows, with what each
// allows.
func KnownPermissions() []apiv1.Permission {
	return []apiv1.Permission{
		{Name: PermNetwork, Description: "sandboxed plugins: make HTTP calls to the hosts listed in sandbox.allowed_hosts (asked for by security.network_access)"},
		{Name: PermStorage, Description: "sandboxed plugins: a private folder mounted at /data (asked for by security.filesystem_access)"},
		{Name: "resource.read", Description: "read KubeStellar resources"},
		{Name: "resource.write", Description: "create, change and delete KubeStellar resources"},
		{Name: "cluster.read", Description: "read the inventory of managed clusters"},
		{Name: "cluster.write", Description: "onboard, detach and label managed clusters"},
		{Name: "binding.read", Description: "read binding policies"},
		{Name: "binding.write", Description: "change binding policies"},
	}
}

// requested is every permission md asks for: those it lists and those its
// security section implies.
func requested(md *sdk.PluginMetadata) []string {
	if md == nil {
		return nil
	}
	perms := slices.Clone(md.Permissions)
	if md.Security.NetworkAccess {
		perms = append(perms, PermNetwork)
	}
	if md.Security.FileSystemAccess {
		perms = append(perms, PermStorage)
	}
	slices.Sort(perms)
	return slices.Compact(perms)
}

// grant decides which requested permissions a plugin gets: in strict mode
// only those on the configured grant list, in normal mode all of them, in
// permissive mode all of them with a warning for those the host does not
// know. It returns the grant and a warning per permission withheld or
// unknown.
func (h *Host) grant(md *sdk.PluginMetadata) (granted, warnings []string) {
	sys := h.system.Load()
	known := map[string]bool{}
	for _, p := range KnownPermissions() {
		known[p.Name] = true
	}
	for _, p := range requested(md) {
		switch {
		case sys.SecurityMode == "strict" && !slices.Contains(sys.GrantedPermissions, p):
			warnings = append(warnings, fmt.Sprintf("permission %s withheld: strict mode grants only granted_permissions (%s)", p, strings.Join(sys.GrantedPermissions, ", ")))
			continue
		case !known[p]:
			warnings = append(warnings, fmt.Sprintf("permission %s is not one the host knows; granted, recorded, enforced by nothing", p))
		}
		granted = append(granted, p)
	}
	return granted, warnings
}
