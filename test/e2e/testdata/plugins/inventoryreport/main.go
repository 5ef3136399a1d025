// A plugin that depends on cluster-inventory and calls it through the
// host: GET /report answers what GET /clusters of cluster-inventory
// answered; GET /undeclared tries a plugin it does not declare.
package main

import (
	"encoding/json"
	"io"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/kubestellar/ksplugins/sdk"
)

type report struct {
	sdk.Base
	plugins sdk.PluginCaller
}

func NewPlugin() sdk.KubestellarPlugin { return &report{} }

func (p *report) SetPluginCaller(c sdk.PluginCaller) { p.plugins = c }

func (p *report) GetMetadata() sdk.PluginMetadata {
	return sdk.PluginMetadata{ID: "inventory-report", Name: "Inventory report", Version: "1.0.0"}
}

func (p *report) GetHandlers() map[string]gin.HandlerFunc {
	return map[string]gin.HandlerFunc{
		"Report":     func(c *gin.Context) { p.call(c, "cluster-inventory", "/clusters") },
		"Undeclared": func(c *gin.Context) { p.call(c, "my-plugin", "/hello") },
	}
}

// call answers with what plugin id answered at path, or 502 and the error.
func (p *report) call(c *gin.Context, id, path string) {
	res, err := p.plugins.CallPlugin(c.Request.Context(), id, http.MethodGet, path, nil)
	if err != nil {
		c.JSON(http.StatusBadGateway, gin.H{"error": err.Error()})
		return
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		c.JSON(http.StatusBadGateway, gin.H{"error": err.Error()})
		return
	}
	c.JSON(http.StatusOK, gin.H{"status": res.StatusCode, "answer": json.RawMessage(body)})
}
