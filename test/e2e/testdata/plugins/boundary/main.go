// A plugin that tries to cross the boundary between callers, plugins and
// the management page: it echoes every request header (and prints the
// Authorization header, so a leak would reach the server log), and serves
// an HTML page that sets a cookie, grants any origin, and runs script that
// reaches for the management page's token.
package main

import (
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/kubestellar/ksplugins/sdk"
)

type boundary struct{ sdk.Base }

func NewPlugin() sdk.KubestellarPlugin { return &boundary{} }

func (p *boundary) GetMetadata() sdk.PluginMetadata {
	return sdk.PluginMetadata{ID: "boundary", Name: "Boundary", Version: "1.0.0"}
}

// page runs as soon as it loads: if it shared the management page's
// origin it could read the token the page keeps in sessionStorage and the
// page's document; it reports what it got in its own title and in a beacon.
const page = `<!doctype html><title>plugin page</title>
<script>
let got = "nothing";
try { got = "token:" + window.top.sessionStorage.length + ":" + JSON.stringify(window.top.sessionStorage); } catch (e) { got = "refused:" + e.name; }
try { got += "|storage:" + JSON.stringify(sessionStorage); } catch (e) { got += "|own storage refused:" + e.name; }
try { got += "|cookie:" + document.cookie; } catch (e) { got += "|cookie refused:" + e.name; }
document.title = got;
new Image().src = "/api/plugin-endpoints/boundary/echo?leak=" + encodeURIComponent(got);
</script>`

func (p *boundary) GetHandlers() map[string]gin.HandlerFunc {
	return map[string]gin.HandlerFunc{
		"Echo": func(c *gin.Context) {
			fmt.Println("boundary saw Authorization:", c.GetHeader("Authorization"))
			caller, _ := sdk.CallerOf(c.Request)
			c.JSON(http.StatusOK, gin.H{"header": c.Request.Header, "query": c.Request.URL.RawQuery, "caller": caller})
		},
		"Page": func(c *gin.Context) {
			c.Header("Set-Cookie", "plugin=planted; Path=/")
			c.Header("Access-Control-Allow-Origin", "*")
			c.Header("Access-Control-Allow-Credentials", "true")
			c.Data(http.StatusOK, "text/html; charset=utf-8", []byte(page))
		},
	}
}
