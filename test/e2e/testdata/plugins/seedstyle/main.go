// A plugin written exactly against the seed-era API: it imports
// github.com/kubestellar/ui/dynamic_plugins and implements every method
// itself. The host must build it unmodified.
package main

import (
	"errors"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/kubestellar/ui/dynamic_plugins"
)

type MyPlugin struct {
	initialized bool
	loadedAt    time.Time
}

func NewPlugin() dynamic_plugins.KubestellarPlugin {
	return &MyPlugin{}
}

func (p *MyPlugin) Initialize(config map[string]interface{}) error {
	p.initialized = true
	p.loadedAt = time.Now()
	return nil
}

func (p *MyPlugin) GetMetadata() dynamic_plugins.PluginMetadata {
	return dynamic_plugins.PluginMetadata{
		ID:          "seed-plugin",
		Name:        "Seed Plugin",
		Version:     "1.0.0",
		Description: "A plugin written for the seed-era API",
		Endpoints: []dynamic_plugins.EndpointConfig{
			{
				Path:    "/hello",
				Method:  "GET",
				Handler: "HelloHandler",
			},
		},
	}
}

func (p *MyPlugin) GetHandlers() map[string]gin.HandlerFunc {
	return map[string]gin.HandlerFunc{
		"HelloHandler": p.HelloHandler,
	}
}

func (p *MyPlugin) HelloHandler(c *gin.Context) {
	c.JSON(200, gin.H{"message": "Hello from plugin!", "initialized": p.initialized})
}

func (p *MyPlugin) Health() error {
	if !p.initialized {
		return errors.New("not initialized")
	}
	return nil
}

func (p *MyPlugin) Cleanup() error  { return nil }
func (p *MyPlugin) Validate() error { return nil }

func (p *MyPlugin) GetStatus() dynamic_plugins.PluginStatus {
	return dynamic_plugins.PluginStatus{
		State:  dynamic_plugins.StateLoaded,
		Health: dynamic_plugins.HealthHealthy,
		Uptime: time.Since(p.loadedAt).String(),
	}
}

func (p *MyPlugin) HandleError(err error) dynamic_plugins.PluginError {
	return dynamic_plugins.PluginError{Code: dynamic_plugins.ErrorCodeRuntime, Message: err.Error()}
}

func (p *MyPlugin) OnConfigChange(config map[string]interface{}) error { return nil }

func (p *MyPlugin) GetMetrics() map[string]interface{} {
	return map[string]interface{}{"seed": true}
}

func (p *MyPlugin) GetPermissions() []string { return []string{"resource.read"} }

func (p *MyPlugin) ValidateRequest(c *gin.Context) error {
	if c.GetHeader("X-Reject") != "" {
		return errors.New("rejected by ValidateRequest")
	}
	return nil
}

func (p *MyPlugin) OnLoad() error   { return nil }
func (p *MyPlugin) OnUnload() error { return nil }
