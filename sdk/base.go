package sdk

import (
	"sync"
	"time"

	"github.com/gin-gonic/gin"
)

// Base gives every KubestellarPlugin method except GetMetadata and
// GetHandlers a default, so a plugin that embeds it writes only those two and
// its handlers. Its zero value is ready to use and safe for concurrent use.
//
// The defaults: Initialize and OnConfigChange keep the configuration (read it
// back with Config); Validate, Health, OnLoad, OnUnload, Cleanup and
// ValidateRequest accept; GetStatus reports loaded and healthy with the time
// since Initialize; HandleError wraps the error as a RUNTIME_ERROR; GetMetrics
// and GetPermissions are empty.
type Base struct {
	mu      sync.RWMutex
	config  map[string]interface{}
	started time.Time
}

// Initialize stores config and starts the uptime clock.
func (b *Base) Initialize(config map[string]interface{}) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.config = config
	b.started = time.Now()
	return nil
}

// Config returns the configuration last given to Initialize or
// OnConfigChange. The map must not be modified.
func (b *Base) Config() map[string]interface{} {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.config
}

// OnConfigChange stores the new configuration.
func (b *Base) OnConfigChange(config map[string]interface{}) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.config = config
	return nil
}

// Validate accepts.
func (b *Base) Validate() error { return nil }

// Health reports healthy.
func (b *Base) Health() error { return nil }

// OnLoad does nothing.
func (b *Base) OnLoad() error { return nil }

// OnUnload does nothing.
func (b *Base) OnUnload() error { return nil }

// Cleanup does nothing.
func (b *Base) Cleanup() error { return nil }

// ValidateRequest accepts every request.
func (b *Base) ValidateRequest(c *gin.Context) error { return nil }

// GetPermissions asks for no permission.
func (b *Base) GetPermissions() []string { return nil }

// GetMetrics reports nothing.
func (b *Base) GetMetrics() map[string]interface{} { return map[string]interface{}{} }

// GetStatus reports the plugin as loaded and healthy.
func (b *Base) GetStatus() PluginStatus {
	b.mu.RLock()
	defer b.mu.RUnlock()
	status := PluginStatus{
		State:     StateLoaded,
		Health:    HealthHealthy,
		LastCheck: time.Now().UTC().Format(time.RFC3339),
	}
	if !b.started.IsZero() {
		status.Uptime = time.Since(b.started).Round(time.Second).String()
	}
	return status
}

// HandleError wraps err as a RUNTIME_ERROR.
func (b *Base) HandleError(err error) PluginError {
	pe := PluginError{
		Code:      ErrorCodeRuntime,
		Timestamp: time.Now().UTC().Format(time.RFC3339),
	}
	if err != nil {
		pe.Message = err.Error()
	}
	return pe
}
