// A sandboxed plugin that writes as many lines to its standard output as an
// anonymous caller asks (/flood?n=lines&size=bytes): a stand-in for a
// chatty or hostile plugin, to show that the server's log stays bounded.
package main

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/kubestellar/ksplugins/sdk"
)

type logflood struct{ sdk.Base }

func NewPlugin() sdk.KubestellarPlugin { return &logflood{} }

func (p *logflood) GetMetadata() sdk.PluginMetadata {
	return sdk.PluginMetadata{ID: "logflood", Name: "Log flood", Version: "1.0.0"}
}

func (p *logflood) GetHandlers() map[string]gin.HandlerFunc {
	return map[string]gin.HandlerFunc{
		"Flood": func(c *gin.Context) {
			n, _ := strconv.Atoi(c.Query("n"))
			size, _ := strconv.Atoi(c.Query("size"))
			n, size = min(max(n, 0), 100000), min(max(size, 0), 1<<20)
			line := strings.Repeat("f", size)
			for i := range n {
				fmt.Printf("flood %d %s\n", i, line)
			}
			c.JSON(http.StatusOK, gin.H{"lines": n, "bytes": n * (size + 8)})
		},
	}
}
