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
	"fmt"
	"io"
	"net/http"
	"time"

	apiv1 "github.com/kubestellar/ksplugins/api/v1"
)

// Errors a caller tells apart.
var (
	// ErrNotFound is returned when a record does not exist.
	ErrNotFound = errors.New("not found")
	// ErrExists is returned when a record with the same key exists.
	ErrExists = errors.New("already exists")
	// ErrConflict is returned by a write made against a revision of a
	// record that is no longer the stored one: another writer changed it
	// since it was read.
	ErrConflict = errors.New("changed by another writer since it was read")
)

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
	// Tier is how the plugin runs: "native" or "sandboxed".
	Tier string `json:"tier,omitempty"`
	// ArtifactPath, ArtifactDigest ("sha256:<hex>") and BuildKey pin the
	// exact code that was loaded.
	ArtifactPath   string `json:"artifact_path"`
	ArtifactDigest string `json:"artifact_digest"`
	BuildKey       string `json:"build_key,omitempty"`
	// Enabled is whether the plugin should serve requests.
	Enabled bool `json:"enabled"`
	// Grants are the permissions the plugin was granted at install.
	Grants []string `json:"grants,omitempty"`
	// Kubernetes is the access to clusters the plugin was granted at
	// install; nil when its manifest asks for none.
	Kubernetes *apiv1.KubernetesGrant `json:"kubernetes,omitempty"`
	// Config is the operator's configuration for the plugin; nil means the
	// manifest's defaults.
	Config map[string]any `json:"config,omitempty"`
	// InstalledAt is set on first insert and kept; UpdatedAt on every write.
	InstalledAt time.Time `json:"installed_at"`
	UpdatedAt   time.Time `json:"updated_at"`
	// Revision counts the record's writes: 1 when it is created, one more
	// at every write. A record read and written back carries the revision
	// it was read at, so that a write never undoes another writer's
	// (see Store.PutPlugin).
	Revision int64 `json:"revision"`
}

// Token is a named credential for the management API. Only a hash of its
// secret is stored: a leaked database does not leak tokens.
type Token struct {
	Name string `json:"name"`
	Role string `json:"role"`
	// Hash is the hex SHA-256 of the secret.
	Hash      string     `json:"-"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

// AuditEntry is one management action: who did what, when, and how it
// ended. It is stored as the management API lists it; AppendAudit assigns
// its ID.
type AuditEntry = apiv1.AuditEntry

// AuditResult is the Result of an action answered with an HTTP status:
// "denied" for 401 and 403, "error" for any other failure, else "ok".
func AuditResult(status int) string {
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return "denied"
	case status >= 400:
		return "error"
	}
	return "ok"
}

// AuditQuery selects audit entries: those after AfterID (0: from the
// start), optionally of one actor or target, at most Limit (default 100,
// at most 1000), oldest first.
type AuditQuery struct {
	AfterID       int64
	Actor, Target string
	Limit         int
}

// Store persists desired state. Implementations are safe for concurrent use
// and make each call one transaction.
type Store interface {
	// Plugins returns every plugin, sorted by id.
	Plugins(ctx context.Context) ([]Plugin, error)
	// Plugin returns one plugin, or ErrNotFound.
	Plugin(ctx context.Context, id string) (Plugin, error)
	// PutPlugin inserts or replaces a plugin. InstalledAt of an existing
	// record is kept; UpdatedAt is set to now. With a non-zero Revision it
	// replaces the record only if the stored one still has that revision,
	// else it returns ErrConflict (ErrNotFound when there is none); with
	// zero it writes regardless.
	PutPlugin(ctx context.Context, p Plugin) error
	// CreatePlugin inserts a plugin, or returns ErrExists if one with its id
	// is stored.
	CreatePlugin(ctx context.Context, p Plugin) error
	// DeletePlugin removes a plugin, or returns ErrNotFound.
	DeletePlugin(ctx context.Context, id string) error
	// Setting returns a named setting's value, or ErrNotFound.
	Setting(ctx context.Context, key string) ([]byte, error)
	// PutSetting sets a named setting.
	PutSetting(ctx context.Context, key string, value []byte) error

	// PutToken adds a token, or returns ErrExists if its name is taken.
	PutToken(ctx context.Context, t Token) error
	// Tokens returns every token, revoked ones included, sorted by name.
	Tokens(ctx context.Context) ([]Token, error)
	// TokenByHash returns the token whose secret hashes to hash, or
	// ErrNotFound.
	TokenByHash(ctx context.Context, hash string) (Token, error)
	// RevokeToken marks a token revoked at the given time, or returns
	// ErrNotFound.
	RevokeToken(ctx context.Context, name string, at time.Time) error

	// AppendAudit records an entry and returns its ID.
	AppendAudit(ctx context.Context, e AuditEntry) (int64, error)
	// Audit returns the entries q selects.
	Audit(ctx context.Context, q AuditQuery) ([]AuditEntry, error)
	// Close releases the store.
	Close() error
}

// CheckWrite decides whether a write of plugin p may go on, for the
// stores' PutPlugin and CreatePlugin (create) alike, given the revision
// stored under p's id, which lookup returns (found false when there is no
// record): a create of a stored id is ErrExists, a write at a revision
// that is no longer stored ErrConflict, or ErrNotFound when the record is
// gone; a write at revision zero goes on regardless. lookup's own error
// is returned as it is. The caller looks up and writes in one transaction.
func CheckWrite(p Plugin, create bool, lookup func() (stored int64, found bool, err error)) error {
	if !create && p.Revision == 0 {
		return nil
	}
	stored, found, err := lookup()
	switch {
	case err != nil:
		return err
	case create && found:
		return ErrExists
	case create:
		return nil
	case !found:
		return ErrNotFound
	case stored != p.Revision:
		return fmt.Errorf("%w (revision %d, not %d)", ErrConflict, stored, p.Revision)
	}
	return nil
}

// Kinds of Change.
const (
	// ChangePlugin: a plugin's record was written or deleted; Key is its id.
	ChangePlugin = "plugin"
	// ChangeSetting: a setting was written; Key is its name.
	ChangeSetting = "setting"
)

// Change says which record another writer may have changed.
type Change struct {
	// Kind is ChangePlugin or ChangeSetting; empty when anything may have
	// changed, as after the notices were interrupted.
	Kind string
	// Key is the plugin's id or the setting's name.
	Key string
}

// Notifier is implemented by a Store that several servers share (the
// PostgreSQL store): it tells each of them about every change to plugins
// and settings, their own included, so that each can follow the others.
type Notifier interface {
	// Changes sends a Change for each committed write, and an empty one
	// whenever notices may have been missed, until ctx is done; then it
	// closes the channel.
	Changes(ctx context.Context) (<-chan Change, error)
}

// Artifacts is implemented by a Store that keeps built artifacts, content
// addressed, so that a server sharing it runs the code another built
// without building it again. Whoever reads one checks its digest.
type Artifacts interface {
	// HasArtifact reports whether the artifact with digest is kept.
	HasArtifact(ctx context.Context, digest string) (bool, error)
	// PutArtifact keeps content under digest ("sha256:<hex>"); it fails,
	// keeping nothing, when content does not have that digest. Putting an
	// artifact already kept changes nothing.
	PutArtifact(ctx context.Context, digest string, content io.Reader) error
	// OpenArtifact returns the artifact's content, or ErrNotFound.
	OpenArtifact(ctx context.Context, digest string) (io.ReadCloser, error)
}

// ReplicaReport is what one server sharing the store last said of one
// plugin it runs.
type ReplicaReport struct {
	Replica, PluginID, State, Digest, Health, LastError string
	ReportedAt                                          time.Time
}

// Replicas is implemented by a Store that several servers share: each
// reports the plugins it runs, so that any of them can show where a plugin
// runs, at which digest and how healthy.
type Replicas interface {
	// ReportReplica replaces everything replica reported with plugins,
	// and records that it reported at now, even with no plugin.
	ReportReplica(ctx context.Context, replica string, plugins []ReplicaReport) error
	// ReplicaReports returns the reports of the replicas that reported
	// since since, and when each of those replicas reported, by name.
	ReplicaReports(ctx context.Context, since time.Time) (reports []ReplicaReport, replicas map[string]time.Time, err error)
}
