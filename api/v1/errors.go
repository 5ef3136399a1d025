package v1

// ErrorBody is the JSON document of every error response of the API:
//
//	{"error": {"code": "plugin_not_found", "message": "...", "details": ...}}
type ErrorBody struct {
	// Error is the failure.
	Error Error `json:"error"`
}

// Error is one failure: a stable code to switch on, a message for people,
// and details whose shape depends on the code.
type Error struct {
	// Code is a stable snake_case word, such as "plugin_not_found",
	// "invalid_request" or "build_failed".
	Code string `json:"code"`
	// Message says what went wrong, for people.
	Message string `json:"message"`
	// Details carries structured extras, by code: a list of Problem for
	// invalid_request, invalid_manifest and invalid_configuration;
	// BuildFailure for build_failed; ArchiveRefusal for invalid_archive;
	// PolicyRefusal for policy_refused; FieldError for invalid_source and
	// version_not_found; Incompatibility for incompatible_plugin;
	// PluginFailure for plugin_failed; RoleRefusal for forbidden;
	// DependencyRefusal for dependency_missing, dependency_version,
	// dependency_cycle and has_dependants; UnsupportedModule for
	// unsupported_module. Absent for the other codes.
	Details any `json:"details,omitempty"`
}

// BuildFailure details a build_failed error.
type BuildFailure struct {
	// Diagnostics are the compiler's "file:line:col: message" lines.
	Diagnostics []string `json:"diagnostics"`
	// Output is the build's whole output, trimmed.
	Output string `json:"output"`
}

// ArchiveRefusal details an invalid_archive error.
type ArchiveRefusal struct {
	// Rule is the archive rule that refused it, such as "path_escape".
	Rule string `json:"rule"`
	// Entry is the offending entry's name, "" for the archive as a whole.
	Entry string `json:"entry"`
}

// PolicyRefusal details a policy_refused error.
type PolicyRefusal struct {
	// Rule is the policy rule that refused the request, such as
	// "allowed_repos" or "max_plugin_size".
	Rule string `json:"rule"`
}

// FieldError details an error about one field of the request.
type FieldError struct {
	// Field names the field of the request at fault.
	Field string `json:"field"`
}

// Incompatibility details an incompatible_plugin error: a native plugin
// built differently from the host.
type Incompatibility struct {
	// What differs: "go version", a build setting, or a module path.
	What string `json:"what"`
	// Plugin is the plugin's value; "" means the plugin has none.
	Plugin string `json:"plugin"`
	// Host is the host's value; "" means the host has none.
	Host string `json:"host"`
}

// PluginFailure details a plugin_failed error: the plugin's own code
// failed.
type PluginFailure struct {
	// Step is the plugin call that failed: "Validate", "Initialize",
	// "OnLoad", "NewPlugin", ...
	Step string `json:"step"`
}

// UnsupportedModule details an unsupported_module error: a WebAssembly
// module that exports none of the interfaces the host runs.
type UnsupportedModule struct {
	// Found are the module's exports, each "name (kind)".
	Found []string `json:"found"`
	// Expected are the exports each tier's interface needs, by tier.
	Expected map[Tier][]string `json:"expected"`
}

// RoleRefusal details a forbidden error.
type RoleRefusal struct {
	// RequiredRole is the role the route needs.
	RequiredRole string `json:"required_role"`
	// Role is the caller's role.
	Role string `json:"role"`
}

// DependencyRefusal details a change refused because of plugin
// dependencies: dependency_missing and dependency_version (400) name the
// dependency and the range asked for; dependency_cycle (400) the cycle;
// has_dependants (409) the plugins that depend on the one being unloaded
// or disabled, a refusal that ?force=true overrides.
type DependencyRefusal struct {
	// Plugin is the plugin being installed, updated, unloaded or disabled.
	Plugin string `json:"plugin"`
	// Dependency and Range are the dependency at fault and the versions
	// asked for ("" for any).
	Dependency string `json:"dependency,omitempty"`
	Range      string `json:"range,omitempty"`
	// Installed is the version of Dependency installed, for
	// dependency_version.
	Installed string `json:"installed,omitempty"`
	// Cycle is the cycle the dependencies would close, first id repeated
	// last, for dependency_cycle.
	Cycle []string `json:"cycle,omitempty"`
	// Dependants are the plugins that depend on Plugin, for has_dependants.
	Dependants []string `json:"dependants,omitempty"`
}
