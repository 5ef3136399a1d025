// Package dynamic_plugins lets plugins written for the seed-era import path
// github.com/kubestellar/ui/dynamic_plugins build unmodified against the SDK.
//
// The plugin builder serves this package as module github.com/kubestellar/ui;
// every name is an alias, so a seed-era plugin's types are the SDK's types.
package dynamic_plugins //nolint:revive // the seed-era package name

import "github.com/kubestellar/ksplugins/sdk"

// The seed-era names, each the SDK's own.
type (
	KubestellarPlugin = sdk.KubestellarPlugin
	NewPluginFunc     = sdk.NewPluginFunc
	PluginMetadata    = sdk.PluginMetadata
	EndpointConfig    = sdk.EndpointConfig
	UIComponentConfig = sdk.UIComponentConfig
	SecurityConfig    = sdk.SecurityConfig
	HealthConfig      = sdk.HealthConfig
	SandboxConfig     = sdk.SandboxConfig
	RateLimitConfig   = sdk.RateLimitConfig
	AuthConfig        = sdk.AuthConfig
	ValidationConfig  = sdk.ValidationConfig
	PluginError       = sdk.PluginError
	PluginStatus      = sdk.PluginStatus
	Base              = sdk.Base
)

// The seed-era constants.
const (
	PluginSymbol = sdk.PluginSymbol

	StateLoading   = sdk.StateLoading
	StateLoaded    = sdk.StateLoaded
	StateError     = sdk.StateError
	StateUnloading = sdk.StateUnloading
	StateUnloaded  = sdk.StateUnloaded

	HealthHealthy   = sdk.HealthHealthy
	HealthUnhealthy = sdk.HealthUnhealthy
	HealthUnknown   = sdk.HealthUnknown
	HealthDegraded  = sdk.HealthDegraded

	ErrorCodeValidation    = sdk.ErrorCodeValidation
	ErrorCodeDependency    = sdk.ErrorCodeDependency
	ErrorCodePermission    = sdk.ErrorCodePermission
	ErrorCodeConfiguration = sdk.ErrorCodeConfiguration
	ErrorCodeRuntime       = sdk.ErrorCodeRuntime
	ErrorCodeSecurity      = sdk.ErrorCodeSecurity
)
