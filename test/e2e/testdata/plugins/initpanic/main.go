// A native plugin whose package init panics while its trigger file exists,
// as a plugin that cannot start in some environment does, or never returns
// when the file says "hang": the test puts the trigger's path in place of
// TRIGGER_PATH.
package main

import (
	"net/http"
	"os"

	"github.com/gin-gonic/gin"

	"github.com/kubestellar/ksplugins/sdk"
)

const trigger = "TRIGGER_PATH"

func init() {
	said, err := os.ReadFile(trigger)
	switch {
	case err != nil:
	case string(said) == "hang":
		select {}
	default:
		panic("initpanic: told to panic by " + trigger)
	}
}

type initPanic struct{ sdk.Base }

func NewPlugin() sdk.KubestellarPlugin { return &initPanic{} }

func (p *initPanic) GetMetadata() sdk.PluginMetadata {
	return sdk.PluginMetadata{ID: "initpanic", Name: "Init Panic", Version: "1.0.0"}
}

func (p *initPanic) GetHandlers() map[string]gin.HandlerFunc {
	return map[string]gin.HandlerFunc{"Ping": func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"pong": true}) }}
}
