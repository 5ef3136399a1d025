package v1

import (
	"time"

	"github.com/kubestellar/ksplugins/sdk"
)

// CatalogConfig names a catalog the server reads, in the system
// configuration's catalogs.
type CatalogConfig struct {
	// Name identifies the catalog; entries say which catalog lists them.
	Name string `json:"name"`
	// Location is a git repository URL (https://host/owner/repo), read at
	// Ref, or the https URL of a catalog.yaml.
	Location string `json:"location"`
	// Ref is the repository's branch, tag or commit; "" is its default
	// branch. Unused for an https URL.
	Ref string `json:"ref,omitempty"`
	// Path is the catalog file inside the repository; "" is catalog.yaml.
	Path string `json:"path,omitempty"`
	// Keys are the publisher's ed25519 public keys ("ed25519:<base64>"):
	// the catalog file and each version must be signed by one of them.
	Keys []string `json:"keys"`
}

// CatalogList answers GET /api/plugins/catalog: one page of the entries
// that match the query.
type CatalogList struct {
	// Entries are the page's entries, sorted by name.
	Entries []CatalogEntry `json:"entries"`
	// Total is how many entries match, over every page.
	Total int `json:"total"`
	// Page is the page answered, from 1.
	Page int `json:"page"`
	// PerPage is the page's size.
	PerPage int `json:"per_page"`
	// Categories are every category over all entries, sorted.
	Categories []string `json:"categories"`
	// Catalogs are the configured catalogs and how their last refresh went.
	Catalogs []CatalogStatus `json:"catalogs"`
}

// CatalogRefresh answers POST /api/plugins/catalog/refresh.
type CatalogRefresh struct {
	// Catalogs are every configured catalog, in the configuration's
	// order, as just read.
	Catalogs []CatalogStatus `json:"catalogs"`
}

// CatalogStatus is one configured catalog as last read.
type CatalogStatus struct {
	// Name, Location and Ref are as configured.
	Name     string `json:"name"`
	Location string `json:"location"`
	Ref      string `json:"ref"`
	// RefreshedAt is when the catalog was last read, successfully or not;
	// absent before the first read.
	RefreshedAt *time.Time `json:"refreshed_at,omitempty"`
	// Entries is how many entries it lists; 0 when refused.
	Entries int `json:"entries"`
	// Error says why the catalog was refused or could not be read; "" when
	// it was read and verified.
	Error string `json:"error"`
}

// CatalogEntry is one plugin a catalog lists.
type CatalogEntry struct {
	// ID is the plugin's id: the id in its plugin.yaml.
	ID   string `json:"id"`
	Name string `json:"name"`
	// Summary is one line about it.
	Summary string `json:"summary"`
	// Description is Markdown; only GET /api/plugins/catalog/:id has it.
	Description string   `json:"description,omitempty"`
	Categories  []string `json:"categories"`
	// Icon is an https URL, a data: URL, or "".
	Icon      string `json:"icon"`
	Publisher string `json:"publisher"`
	Homepage  string `json:"homepage"`
	// Catalog names the catalog that lists it.
	Catalog string `json:"catalog"`
	// Latest is its highest version.
	Latest string `json:"latest"`
	// Tiers are the tiers over its versions.
	Tiers []Tier `json:"tiers"`
	// Installed says a plugin with this id is installed;
	// InstalledVersion is its version.
	Installed        bool   `json:"installed"`
	InstalledVersion string `json:"installed_version"`
	// UpdateAvailable says the installed plugin came from this entry's
	// source and Latest is higher than its version.
	UpdateAvailable bool `json:"update_available"`
	// Versions are every version, newest first.
	Versions []CatalogVersion `json:"versions"`
}

// CatalogVersion is one version of a catalog entry: exactly what installs.
type CatalogVersion struct {
	// Version is a semantic version.
	Version string        `json:"version"`
	Source  CatalogSource `json:"source"`
	// Digest is "sha256:<hex>" of the source: the plugin folder's files at
	// the commit (as the build sees them), or the archive's bytes.
	Digest string `json:"digest"`
	// Signature is the base64 ed25519 signature of Digest by a catalog key.
	Signature string `json:"signature"`
	// Tier is native, sandboxed or http-wasm.
	Tier Tier `json:"tier"`
	// Permissions are the permissions it asks for.
	Permissions []string `json:"permissions"`
	// Kubernetes is the access to clusters it asks for, as the manifest's
	// kubernetes field; absent when none.
	Kubernetes *sdk.KubernetesAccess `json:"kubernetes,omitempty"`
	// HostVersions is the range of host versions it works with, such as
	// ">=0.1.0"; "" is any.
	HostVersions string `json:"host_versions"`
}

// CatalogSource is where a version's code is: a repository at a commit
// (and the plugin's folder in it), or an archive URL.
type CatalogSource struct {
	Repository string `json:"repository,omitempty"`
	// Commit is 40 hex digits.
	Commit string `json:"commit,omitempty"`
	// Path is the plugin's folder in the repository; "" is its root.
	Path    string `json:"path,omitempty"`
	Archive string `json:"archive,omitempty"`
}

// CatalogInstallRequest asks for a catalog entry's version to be installed
// or updated to.
type CatalogInstallRequest struct {
	// Version is one of the entry's versions; "" is the latest.
	Version string `json:"version"`
}
