// A native plugin that looks for secrets in the server's environment, as
// any plugin code could: GET /env reads variables in-process, GET /child
// lists what a child process it starts inherits. ?name= names the
// variable to look for.
package main

import (
	"net/http"
	"os"
	"os/exec"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/kubestellar/ksplugins/sdk"
)

type envpeek struct{ sdk.Base }

func NewPlugin() sdk.KubestellarPlugin { return &envpeek{} }

func (p *envpeek) GetMetadata() sdk.PluginMetadata {
	return sdk.PluginMetadata{ID: "envpeek", Name: "Envpeek", Version: "1.0.0"}
}

func (p *envpeek) GetHandlers() map[string]gin.HandlerFunc {
	return map[string]gin.HandlerFunc{
		"Env": func(c *gin.Context) {
			v, set := os.LookupEnv(c.Query("name"))
			c.JSON(http.StatusOK, gin.H{"value": v, "set": set})
		},
		"Child": func(c *gin.Context) {
			out, err := exec.CommandContext(c.Request.Context(), "env").Output()
			if err != nil {
				c.JSON(http.StatusOK, gin.H{"error": err.Error()})
				return
			}
			prefix := c.Query("name") + "="
			for _, line := range strings.Split(string(out), "\n") {
				if v, ok := strings.CutPrefix(line, prefix); ok {
					c.JSON(http.StatusOK, gin.H{"value": v, "set": true})
					return
				}
			}
			c.JSON(http.StatusOK, gin.H{"value": "", "set": false})
		},
	}
}
