// Package store keeps the host's desired state: what operators asked for,
// written before it is acted on, so that a restart can rebuild everything
// else (instances, health, metrics) from it and the local artifact cache.
//
// Store is the interface; sqlite is the embedded implementation. storetest
// holds the conformance suite every implementation must pass.
package store

import (
	"context"
	"errors"
	"time"
)

// ErrNotFound is returned when a record does not exist.
var ErrNotFound = errors.New("not found")

// Plugin is the desired state of one installed plugin.
type Plugin struct {
	// ID is the plugin's id, unique.
	ID string `json:"id"`
	// SourceKind, SourceLocation and SourceVersion say where the plugin came
	// from (for example "folder", "/srv/plugins/hello", "").
	SourceKind     string `json:"source_kind"`
	SourceLocation string `json:"source_location"`
	SourceVersion  string `json:"source_version,omitempty"`
	// SourcePath is the plugin's folder inside a repository or archive.
	SourcePath string `json:"source_path,omitempty"`
	// SourcePin is what SourceVersion resolved to when it was installed:
	// a commit SHA for a repository, an archive digest for an upload.
	SourcePin string `json:"source_pin,omitempty"`
	// ArtifactPath, ArtifactDigest ("sha256:<hex>") and BuildKey pin the
	// exact code that was loaded.
	ArtifactPath   string `json:"artifact_path"`
	ArtifactDigest string `json:"artifact_digest"`
	BuildKey       string `json:"build_key,omitempty"`
	// Enabled is whether the plugin should serve requests.
	Enabled bool `json:"enabled"`
	// Config is the operator's configuration for the plugin; nil means the
	// manifest's defaults.
	Config map[string]any `json:"config,omitempty"`
	// InstalledAt is set on first insert and kept; UpdatedAt on every write.
	InstalledAt time.Time `json:"installed_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// Store persists desired state. Implementations are safe for concurrent use
// and make each call one transaction.
type Store interface {
	// Plugins returns every plugin, sorted by id.
	Plugins(ctx context.Context) ([]Plugin, error)
	// Plugin returns one plugin, or ErrNotFound.
	Plugin(ctx context.Context, id string) (Plugin, error)
	// PutPlugin inserts or replaces a plugin. InstalledAt of an existing
	// record is kept; UpdatedAt is set to now.
	PutPlugin(ctx context.Context, p Plugin) error
	// DeletePlugin removes a plugin, or returns ErrNotFound.
	DeletePlugin(ctx context.Context, id string) error
	// Setting returns a named setting's value, or ErrNotFound.
	Setting(ctx context.Context, key string) ([]byte, error)
	// PutSetting sets a named setting.
	PutSetting(ctx context.Context, key string, value []byte) error
	// Close releases the store.
	Close() error
}
