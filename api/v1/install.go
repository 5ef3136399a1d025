package v1

import (
	"time"

	"github.com/kubestellar/ksplugins/sdk"
)

// LoadRequest asks for a plugin to be installed.
type LoadRequest struct {
	// Source is a plugin folder, a native .so file, or a repository URL
	// (https://github.com/owner/repo, optionally .../tree/<ref>/<path>).
	Source string `json:"source"`
	// Version is a repository's tag, branch or commit; for a local source,
	// when set, it must equal the plugin's version.
	Version string `json:"version,omitempty"`
	// Path is the plugin's folder inside a repository.
	Path string `json:"path,omitempty"`
	// UploadID installs an archive uploaded earlier, instead of Source.
	UploadID string `json:"upload_id,omitempty"`
	// Checksum ("sha256:<hex>") is the expected digest of the archive, the
	// .so file, or the plugin folder's files.
	Checksum string `json:"checksum,omitempty"`
	// Signature is a base64 ed25519 signature of that digest.
	Signature string `json:"signature,omitempty"`
	// Watch rebuilds and swaps the plugin whenever its folder changes (a
	// local folder source only); the server's PLUGIN_WATCH does it for all.
	Watch bool `json:"watch,omitempty"`
}

// Upload is an archive an operator sent, stored and checked, ready to
// install by its ID.
type Upload struct {
	// ID names the upload: the first 16 hex digits of its digest, so the
	// same archive uploaded twice is one upload.
	ID string `json:"id"`
	// Digest is "sha256:<hex>" of the archive as sent.
	Digest string `json:"digest"`
	// Format is "zip" or "tar.gz".
	Format string `json:"format"`
	// Size is the archive's length in bytes, as sent.
	Size int64 `json:"size"`
	// Root is the plugin's folder inside the archive ("." for the top).
	Root string `json:"root"`
	// CreatedAt is when the archive was first uploaded, in UTC; sending it
	// again keeps this time.
	CreatedAt time.Time `json:"created_at"`
	// Manifest is the archive's plugin.yaml.
	Manifest *sdk.PluginMetadata `json:"manifest"`
	// Warnings are the manifest's problems that do not refuse it; absent
	// when none.
	Warnings []Problem `json:"warnings,omitempty"`
}

// UploadForm documents the multipart/form-data body of POST
// /api/plugins/upload; it is never encoded as JSON.
type UploadForm struct {
	// Plugin is the archive, .zip or .tar.gz, sent as a file part (the
	// field may also be named "file").
	Plugin string `json:"plugin"`
	// Checksum ("sha256:<hex>") is the archive's expected digest.
	Checksum string `json:"checksum,omitempty"`
	// Signature is a base64 ed25519 signature of that digest.
	Signature string `json:"signature,omitempty"`
}
