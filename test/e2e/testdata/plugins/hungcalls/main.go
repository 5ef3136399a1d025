// A plugin whose GetStatus and GetMetrics hang on demand: after POST /hang
// they block until POST /free.
package main

import (
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/gin-gonic/gin"

	"github.com/kubestellar/ksplugins/sdk"
)

type hungCalls struct {
	sdk.Base
	hang     atomic.Bool
	free     chan struct{}
	freeOnce sync.Once
}

func NewPlugin() sdk.KubestellarPlugin { return &hungCalls{free: make(chan struct{})} }

func (p *hungCalls) GetMetadata() sdk.PluginMetadata {
	return sdk.PluginMetadata{ID: "hungcalls", Name: "Hung calls", Version: "1.0.0"}
}

func (p *hungCalls) GetHandlers() map[string]gin.HandlerFunc {
	return map[string]gin.HandlerFunc{
		"Hang": func(c *gin.Context) {
			p.hang.Store(true)
			c.JSON(http.StatusOK, gin.H{"hang": true})
		},
		"Free": func(c *gin.Context) {
			p.freeOnce.Do(func() { close(p.free) })
			c.JSON(http.StatusOK, gin.H{"hang": false})
		},
	}
}

// wait blocks while the plugin is told to hang.
func (p *hungCalls) wait() {
	if p.hang.Load() {
		<-p.free
	}
}

func (p *hungCalls) GetStatus() sdk.PluginStatus {
	p.wait()
	return sdk.PluginStatus{State: sdk.StateLoaded, Health: sdk.HealthHealthy}
}

func (p *hungCalls) GetMetrics() map[string]interface{} {
	p.wait()
	return map[string]interface{}{"answered": 1}
}
