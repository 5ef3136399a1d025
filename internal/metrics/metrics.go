// Package metrics exposes the host's figures in the Prometheus text format.
//
// Nothing is counted here: the collector reads the host's own counters at
// scrape time, so /metrics and the JSON metrics of the management API are
// two views of the same numbers and can never disagree.
package metrics

import (
	"context"
	"math"
	"strconv"
	"time"

	apiv1 "github.com/kubestellar/ksplugins/api/v1"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/kubestellar/ksplugins/internal/build"
	"github.com/kubestellar/ksplugins/internal/host"
	"github.com/kubestellar/ksplugins/internal/traffic"
)

const namespace = "kubestellar"

// pluginMetricsTimeout bounds the plugins' GetMetrics calls during a scrape.
const pluginMetricsTimeout = 2 * time.Second

// NewRegistry returns a registry with the host's metrics, the build
// cache's, and the Go runtime's and process's.
func NewRegistry(h *host.Host, b *build.Builder) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		newCollector(h, b),
	)
	return reg
}

type collector struct {
	host    *host.Host
	builder *build.Builder

	requests, duration, panics, state, health, info, custom, checks, checkFailures *prometheus.Desc
	builds, buildFailures, cacheHits                                               *prometheus.Desc
	logLines, logDropped, logTruncated                                             *prometheus.Desc
	kubeRequests, kubeDuration                                                     *prometheus.Desc
}

func newCollector(h *host.Host, b *build.Builder) *collector {
	desc := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(namespace, "", name), help, labels, nil)
	}
	return &collector{
		host:          h,
		builder:       b,
		requests:      desc("plugin_requests_total", "Requests served by a plugin endpoint, by response status.", "plugin_id", "endpoint", "method", "status"),
		duration:      desc("plugin_request_duration_seconds", "Time to serve a plugin request.", "plugin_id", "endpoint", "method"),
		panics:        desc("plugin_panics_total", "Plugin handlers that panicked.", "plugin_id", "endpoint", "method"),
		state:         desc("plugin_state", "1 for the state a plugin is in, 0 for the others.", "plugin_id", "state"),
		health:        desc("plugin_health", "1 for a plugin's health status, 0 for the others.", "plugin_id", "status"),
		info:          desc("plugin_info", "Always 1; labels describe the loaded plugin.", "plugin_id", "version", "tier", "digest"),
		custom:        desc("plugin_custom_metric", "A numeric value a plugin reports through GetMetrics.", "plugin_id", "name"),
		checks:        desc("plugin_health_checks_total", "Health checks run.", "plugin_id"),
		checkFailures: desc("plugin_health_check_failures_total", "Health checks failed.", "plugin_id"),
		builds:        desc("plugin_builds_total", "Plugin builds that ran the compiler."),
		buildFailures: desc("plugin_build_failures_total", "Plugin builds that failed."),
		cacheHits:     desc("plugin_build_cache_hits_total", "Builds answered from the build cache."),
		logLines:      desc("plugin_log_lines_total", "Lines of a plugin's output written to the server's log.", "plugin_id"),
		logDropped:    desc("plugin_log_lines_dropped_total", "Lines of a plugin's output dropped for exceeding its log rate.", "plugin_id"),
		logTruncated:  desc("plugin_log_lines_truncated_total", "Lines of a plugin's output cut at the log's line length.", "plugin_id"),
		kubeRequests: desc("plugin_kube_requests_total", "Kubernetes requests a plugin made through the host, by the status answered (403: refused by its grant).",
			"plugin_id", "context", "verb", "group", "resource", "code"),
		kubeDuration: desc("plugin_kube_request_duration_seconds", "Time to answer a plugin's Kubernetes request; a watch counts until its stream ends.",
			"plugin_id", "context", "verb", "group", "resource"),
	}
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.requests, c.duration, c.panics, c.state, c.health, c.info, c.custom, c.checks, c.checkFailures, c.builds, c.buildFailures, c.cacheHits, c.logLines, c.logDropped, c.logTruncated, c.kubeRequests, c.kubeDuration} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	bounds := traffic.LatencyBuckets()
	histograms := c.host.Histograms()
	for _, p := range c.host.List() {
		for _, e := range p.Stats.Endpoints {
			for status, n := range e.ByStatus {
				ch <- prometheus.MustNewConstMetric(c.requests, prometheus.CounterValue, float64(n), p.ID, e.Route, e.Method, status)
			}
			ch <- prometheus.MustNewConstMetric(c.panics, prometheus.CounterValue, float64(e.Panics), p.ID, e.Route, e.Method)
		}
		for _, hist := range histograms[p.ID] {
			buckets := make(map[float64]uint64, len(bounds))
			for i, b := range bounds {
				buckets[b] = hist.Cumulative[i]
			}
			ch <- prometheus.MustNewConstHistogram(c.duration, hist.Count, hist.SumSeconds, buckets, p.ID, hist.Route, hist.Method)
		}
		for _, s := range apiv1.States() {
			ch <- prometheus.MustNewConstMetric(c.state, prometheus.GaugeValue, boolValue(p.State == s), p.ID, string(s))
		}
		for _, s := range []apiv1.HealthStatus{apiv1.HealthHealthy, apiv1.HealthDegraded, apiv1.HealthUnhealthy, apiv1.HealthUnknown} {
			ch <- prometheus.MustNewConstMetric(c.health, prometheus.GaugeValue, boolValue(p.Health.Status == s), p.ID, string(s))
		}
		ch <- prometheus.MustNewConstMetric(c.checks, prometheus.CounterValue, float64(p.Health.Checks), p.ID)
		ch <- prometheus.MustNewConstMetric(c.checkFailures, prometheus.CounterValue, float64(p.Health.Failures), p.ID)
		if p.Version != "" {
			ch <- prometheus.MustNewConstMetric(c.info, prometheus.GaugeValue, 1, p.ID, p.Version, string(p.Tier), p.Artifact.Digest)
		}
	}
	for id, m := range c.host.PluginMetrics(context.Background(), pluginMetricsTimeout) {
		for name, v := range m {
			if f, ok := number(v); ok {
				ch <- prometheus.MustNewConstMetric(c.custom, prometheus.GaugeValue, f, id, name)
			}
		}
	}
	for id, s := range c.host.OutputStats() {
		ch <- prometheus.MustNewConstMetric(c.logLines, prometheus.CounterValue, float64(s.Logged), id)
		ch <- prometheus.MustNewConstMetric(c.logDropped, prometheus.CounterValue, float64(s.Dropped), id)
		ch <- prometheus.MustNewConstMetric(c.logTruncated, prometheus.CounterValue, float64(s.Truncated), id)
	}
	for id, series := range c.host.KubeStats() {
		for _, s := range series {
			for code, n := range s.ByStatus {
				ch <- prometheus.MustNewConstMetric(c.kubeRequests, prometheus.CounterValue, float64(n), id, s.Context, s.Verb, s.Group, s.Resource, strconv.Itoa(code))
			}
			buckets := make(map[float64]uint64, len(bounds))
			for i, b := range bounds {
				buckets[b] = s.Cumulative[i]
			}
			ch <- prometheus.MustNewConstHistogram(c.kubeDuration, s.Count, s.SumSeconds, buckets, id, s.Context, s.Verb, s.Group, s.Resource)
		}
	}
	if c.builder != nil {
		s := c.builder.Stats()
		ch <- prometheus.MustNewConstMetric(c.builds, prometheus.CounterValue, float64(s.Builds))
		ch <- prometheus.MustNewConstMetric(c.buildFailures, prometheus.CounterValue, float64(s.Failures))
		ch <- prometheus.MustNewConstMetric(c.cacheHits, prometheus.CounterValue, float64(s.Hits))
	}
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// number converts a plugin-reported value to a float when it is numeric.
func number(v any) (float64, bool) {
	switch n := v.(type) {
	case int:
		return float64(n), true
	case int32:
		return float64(n), true
	case int64:
		return float64(n), true
	case uint64:
		return float64(n), true
	case float32:
		return float64(n), true
	case float64:
		return n, !math.IsNaN(n)
	case bool:
		return boolValue(n), true
	case string:
		f, err := strconv.ParseFloat(n, 64)
		return f, err == nil
	}
	return 0, false
}
