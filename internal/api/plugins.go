package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	apiv1 "github.com/kubestellar/ksplugins/api/v1"
	"github.com/kubestellar/ksplugins/internal/apierr"
	"github.com/kubestellar/ksplugins/internal/events"
)

func (s *Server) pluginConfiguration(c *gin.Context) {
	cfg, err := s.host.Config(c.Param("id"))
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, apiv1.PluginConfig{ID: c.Param("id"), Configuration: cfg})
}

// pluginMetrics answers a plugin's recent traffic samples (requests, errors
// and latency per sampling interval, for charts) with its counters now.
func (s *Server) pluginMetrics(c *gin.Context) {
	hist, err := s.host.MetricsHistory(c.Param("id"))
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, hist)
}

// putPluginConfiguration replaces the operator's configuration of a plugin:
// the body is the JSON object of values to set over the manifest's defaults.
func (s *Server) putPluginConfiguration(c *gin.Context) {
	var cfg apiv1.ConfigValues
	if !decode(c, &cfg, false) {
		return
	}
	if cfg == nil {
		apierr.Write(c.Writer, http.StatusBadRequest, "invalid_request", "body must be a JSON object of configuration values", nil)
		return
	}
	effective, err := s.host.SetConfig(c.Request.Context(), c.Param("id"), cfg)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, apiv1.PluginConfig{ID: c.Param("id"), Configuration: effective})
}

// streamEvents serves the event stream: Server-Sent Events, resumable with
// Last-Event-ID; or, with ?since=<event id or RFC 3339 time>, the recent
// events as a JSON list. ?plugin_id= narrows either to one plugin.
func (s *Server) streamEvents(c *gin.Context) {
	pluginID := c.Query("plugin_id")
	keep := func(e events.Event) bool { return pluginID == "" || e.PluginID == pluginID }
	since, listing := c.GetQuery("since")
	if !listing {
		s.events.ServeSSE(c.Writer, c.Request, keep)
		return
	}
	var list []events.Event
	if id, err := strconv.ParseUint(since, 10, 64); err == nil || since == "" {
		list = s.events.Since(id)
	} else if t, err := time.Parse(time.RFC3339Nano, since); err == nil {
		list = s.events.SinceTime(t)
	} else {
		apierr.Write(c.Writer, http.StatusBadRequest, "invalid_request", "since: must be an event id or an RFC 3339 time, got "+strconv.Quote(since), nil)
		return
	}
	out := make([]apiv1.Event, 0, len(list))
	for _, e := range list {
		if keep(e) {
			out = append(out, e)
		}
	}
	c.JSON(http.StatusOK, apiv1.EventList{Events: out, LastID: s.events.LastID()})
}
