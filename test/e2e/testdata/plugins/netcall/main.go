// A sandboxed plugin that uses the capabilities the host may grant: HTTP
// calls (/fetch?url=...) and a private data folder (/store).
package main

import (
	"io"
	"net/http"
	"os"

	"github.com/gin-gonic/gin"

	"github.com/kubestellar/ksplugins/sdk"
)

type netcall struct{ sdk.Base }

func NewPlugin() sdk.KubestellarPlugin { return &netcall{} }

func (p *netcall) GetMetadata() sdk.PluginMetadata {
	return sdk.PluginMetadata{ID: "netcall", Name: "Netcall", Version: "1.0.0"}
}

func (p *netcall) GetHandlers() map[string]gin.HandlerFunc {
	return map[string]gin.HandlerFunc{
		"Fetch": func(c *gin.Context) {
			resp, err := http.Get(c.Query("url"))
			if err != nil {
				c.JSON(http.StatusOK, gin.H{"error": err.Error()})
				return
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			c.JSON(http.StatusOK, gin.H{"status": resp.StatusCode, "body": string(body)})
		},
		"Store": func(c *gin.Context) {
			if err := os.WriteFile("/data/note.txt", []byte("kept"), 0o600); err != nil {
				c.JSON(http.StatusOK, gin.H{"error": err.Error()})
				return
			}
			data, err := os.ReadFile("/data/note.txt")
			if err != nil {
				c.JSON(http.StatusOK, gin.H{"error": err.Error()})
				return
			}
			c.JSON(http.StatusOK, gin.H{"stored": string(data)})
		},
	}
}
