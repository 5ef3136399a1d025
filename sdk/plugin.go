// Package sdk is what a KubeStellar plugin imports.
//
// A plugin is a Go package main that exports
//
//	func NewPlugin() sdk.KubestellarPlugin
//
// and ships a plugin.yaml manifest beside its source. The host builds the
// package, calls NewPlugin once per loaded instance and drives the instance
// through the lifecycle documented on [KubestellarPlugin].
//
// Most plugins embed [Base], which gives every method a sensible default, and
// write only GetMetadata, GetHandlers and their handlers.
//
// Plugins written for the seed-era import path
// github.com/kubestellar/ui/dynamic_plugins build unmodified: that package is
// a set of aliases of this one, so its types are these types.
package sdk

import "github.com/gin-gonic/gin"

// PluginSymbol is the name of the function every plugin exports.
const PluginSymbol = "NewPlugin"

// NewPluginFunc is the type of the exported PluginSymbol.
type NewPluginFunc func() KubestellarPlugin

// KubestellarPlugin is the contract between the host and a plugin.
//
// The host calls the methods of one instance in this order:
//
//  1. GetMetadata, to learn the plugin's identity and endpoints.
//  2. Validate, before anything else runs; an error stops the load.
//  3. Initialize, with the plugin's configuration.
//  4. OnLoad, after which the plugin's handlers may be called.
//  5. While loaded: handlers (each preceded by ValidateRequest), Health,
//     GetStatus, GetMetrics, OnConfigChange, HandleError, from any goroutine.
//  6. OnUnload, once no new request can reach the plugin.
//  7. Cleanup, the last call; the instance is never used again.
//
// A failure in steps 2 to 4 aborts the load and the host still calls Cleanup
// so that a half-initialised plugin can release what it holds.
type KubestellarPlugin interface {
	// Initialize receives the plugin's configuration: the manifest's
	// configuration merged with what the operator set.
	Initialize(config map[string]interface{}) error
	// GetMetadata describes the plugin. It must agree with plugin.yaml.
	GetMetadata() PluginMetadata
	// GetHandlers maps the handler names used in the metadata's endpoints
	// to the functions that serve them.
	GetHandlers() map[string]gin.HandlerFunc
	// Health reports whether the plugin can serve; nil means healthy.
	Health() error
	// Cleanup releases everything the plugin holds.
	Cleanup() error

	// Validate checks the plugin's own invariants before it is initialised.
	Validate() error
	// GetStatus reports the plugin's view of its own state.
	GetStatus() PluginStatus
	// HandleError turns an error raised while serving into a PluginError.
	HandleError(err error) PluginError
	// OnConfigChange receives a new configuration while the plugin runs.
	OnConfigChange(config map[string]interface{}) error
	// GetMetrics returns plugin-defined metrics, shown under the plugin's id.
	GetMetrics() map[string]interface{}
	// GetPermissions lists the permissions the plugin asks for.
	GetPermissions() []string
	// ValidateRequest runs before every handler; an error refuses the
	// request with 400 and the error's message.
	ValidateRequest(c *gin.Context) error
	// OnLoad is called once the plugin is initialised, before it serves.
	OnLoad() error
	// OnUnload is called once the plugin no longer receives requests.
	OnUnload() error
}
