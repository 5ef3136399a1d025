// A plugin other plugins depend on: GET /clusters lists clusters, and says
// which plugin asked, and for whom, for the plugin that calls it through
// the host.
package main

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/kubestellar/ksplugins/sdk"
)

// version agrees with plugin.yaml; tests edit both.
const version = "1.4.0"

type inventory struct{ sdk.Base }

func NewPlugin() sdk.KubestellarPlugin { return &inventory{} }

func (p *inventory) GetMetadata() sdk.PluginMetadata {
	return sdk.PluginMetadata{ID: "cluster-inventory", Name: "Cluster inventory", Version: version}
}

func (p *inventory) GetHandlers() map[string]gin.HandlerFunc {
	return map[string]gin.HandlerFunc{
		"Clusters": func(c *gin.Context) {
			c.JSON(http.StatusOK, gin.H{
				"clusters":      []string{"its1", "wds1"},
				"version":       version,
				"caller_plugin": c.GetHeader(sdk.CallerPluginHeader),
				"caller":        c.GetHeader(sdk.CallerSubjectHeader),
			})
		},
	}
}
