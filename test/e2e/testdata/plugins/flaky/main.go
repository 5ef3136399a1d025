// A plugin whose health check fails on demand: POST /sick makes Health fail,
// POST /well makes it pass again.
package main

import (
	"errors"
	"net/http"
	"sync/atomic"

	"github.com/gin-gonic/gin"

	"github.com/kubestellar/ksplugins/sdk"
)

type flaky struct {
	sdk.Base
	sick atomic.Bool
}

func NewPlugin() sdk.KubestellarPlugin { return &flaky{} }

func (p *flaky) GetMetadata() sdk.PluginMetadata {
	return sdk.PluginMetadata{ID: "flaky", Name: "Flaky", Version: "1.0.0"}
}

func (p *flaky) GetHandlers() map[string]gin.HandlerFunc {
	set := func(sick bool) gin.HandlerFunc {
		return func(c *gin.Context) {
			p.sick.Store(sick)
			c.JSON(http.StatusOK, gin.H{"sick": sick})
		}
	}
	return map[string]gin.HandlerFunc{"Sick": set(true), "Well": set(false)}
}

func (p *flaky) Health() error {
	if p.sick.Load() {
		return errors.New("told to be sick")
	}
	return nil
}

func (p *flaky) GetMetrics() map[string]interface{} {
	return map[string]interface{}{"sick": p.sick.Load()}
}
