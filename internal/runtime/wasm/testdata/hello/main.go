// Command hello is the sandboxed tier's copy of plugins/examples/hello: it
// answers GET /hello and greets by name on GET /greet/:name, with the
// greeting from its configuration.
package main

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/kubestellar/ksplugins/sdk"
)

// MyPlugin embeds sdk.Base for the lifecycle defaults.
type MyPlugin struct {
	sdk.Base
}

// NewPlugin is the symbol the host looks up.
func NewPlugin() sdk.KubestellarPlugin {
	return &MyPlugin{}
}

// GetMetadata agrees with plugin.yaml.
func (p *MyPlugin) GetMetadata() sdk.PluginMetadata {
	return sdk.PluginMetadata{
		ID:          "my-plugin",
		Name:        "My Plugin",
		Version:     "1.0.0",
		Description: "A sample plugin",
		Author:      "Developer Name",
		Endpoints: []sdk.EndpointConfig{
			{Path: "/hello", Method: "GET", Handler: "HelloHandler"},
			{Path: "/greet/:name", Method: "GET", Handler: "GreetHandler"},
		},
	}
}

// GetHandlers maps the manifest's handler names to functions.
func (p *MyPlugin) GetHandlers() map[string]gin.HandlerFunc {
	return map[string]gin.HandlerFunc{
		"HelloHandler": p.HelloHandler,
		"GreetHandler": p.GreetHandler,
	}
}

// HelloHandler answers GET /hello.
func (p *MyPlugin) HelloHandler(c *gin.Context) {
	c.JSON(http.StatusOK, gin.H{"message": "Hello from plugin!"})
}

// GreetHandler answers GET /greet/:name.
func (p *MyPlugin) GreetHandler(c *gin.Context) {
	greeting, _ := p.Config()["greeting"].(string)
	if greeting == "" {
		greeting = "Hello"
	}
	c.JSON(http.StatusOK, gin.H{"message": greeting + ", " + c.Param("name") + "!"})
}
