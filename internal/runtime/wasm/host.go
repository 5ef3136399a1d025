package wasm

import (
	"time"

	"github.com/gin-gonic/gin"

	apiv1 "github.com/kubestellar/ksplugins/api/v1"

	"github.com/kubestellar/ksplugins/sdk"
)

// The sdk.KubestellarPlugin answers both WebAssembly tiers give on the
// host side, without a call into the guest.

// PluginError wraps err as the error of plugin id in tier. The host answers
// HandleError itself: crossing into the guest to wrap an error would cost a
// call and could fail for the very reason being reported.
func PluginError(id string, tier apiv1.Tier, err error) sdk.PluginError {
	pe := sdk.PluginError{
		Code:      sdk.ErrorCodeRuntime,
		Timestamp: time.Now().UTC().Format(time.RFC3339),
		Context:   map[string]interface{}{"plugin_id": id, "tier": string(tier)},
	}
	if err != nil {
		pe.Message = err.Error()
	}
	return pe
}

// Handlers maps the handler name of every endpoint to serve, the one
// function that forwards a request into the sandbox, where the guest
// routes it.
func Handlers(endpoints []sdk.EndpointConfig, serve gin.HandlerFunc) map[string]gin.HandlerFunc {
	m := make(map[string]gin.HandlerFunc, len(endpoints))
	for _, ep := range endpoints {
		m[ep.Handler] = serve
	}
	return m
}

// SandboxLimits reports l as the API shows it.
func (l Limits) SandboxLimits() apiv1.SandboxLimits {
	return apiv1.SandboxLimits{PoolSize: l.PoolSize, QueueSize: l.QueueSize, MemoryBytes: l.Memory,
		TimeoutMs: l.Timeout.Milliseconds(), MaxRequestBytes: l.MaxRequestBytes, MaxResponseBytes: l.MaxResponseBytes}
}
