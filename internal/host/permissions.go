package host

import (
	apiv1 "github.com/kubestellar/ksplugins/api/v1"

	"github.com/kubestellar/ksplugins/internal/policy"
	"github.com/kubestellar/ksplugins/sdk"
)

// KnownPermissions lists the permissions the host knows, with what each
// allows.
func KnownPermissions() []apiv1.Permission { return policy.KnownPermissions() }

// grant decides, under the live configuration, which permissions a plugin
// whose manifest is md gets (see policy.Grant).
func (h *Host) grant(md *sdk.PluginMetadata) (granted, warnings []string) {
	sys := h.system.Load()
	return policy.Grant(md, sys.SecurityMode, sys.GrantedPermissions)
}

// grantKubernetes decides, under the live configuration, the access to
// clusters a plugin whose manifest is md gets (see policy.GrantKubernetes).
func (h *Host) grantKubernetes(md *sdk.PluginMetadata) *apiv1.KubernetesGrant {
	sys := h.system.Load()
	return policy.GrantKubernetes(md, sys.SecurityMode, sys.Kubernetes)
}
