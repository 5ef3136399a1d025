package policy

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

// Requested is every permission md asks for: those it lists and those its
// security section implies, sorted, each once.
func Requested(md *sdk.PluginMetadata) []string {
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

// Grant decides which permissions a plugin whose manifest is md gets, in
// the security mode given: in strict mode only those on grantable (the
// configured granted_permissions), in normal mode all it requests, in
// permissive mode all of them with a warning for those the host does not
// know. It returns the grant and a warning per permission withheld or
// unknown.
func Grant(md *sdk.PluginMetadata, mode string, grantable []string) (granted, warnings []string) {
	known := map[string]bool{}
	for _, p := range KnownPermissions() {
		known[p.Name] = true
	}
	for _, p := range Requested(md) {
		switch {
		case mode == ModeStrict && !slices.Contains(grantable, p):
			warnings = append(warnings, fmt.Sprintf("permission %s withheld: strict mode grants only granted_permissions (%s)", p, strings.Join(grantable, ", ")))
			continue
		case !known[p]:
			warnings = append(warnings, fmt.Sprintf("permission %s is not one the host knows; granted, recorded, enforced by nothing", p))
		}
		granted = append(granted, p)
	}
	return granted, warnings
}
