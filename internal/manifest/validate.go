package manifest

import (
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/Masterminds/semver/v3"

	"github.com/kubestellar/ksplugins/internal/kuberule"
	"github.com/kubestellar/ksplugins/sdk"
)

// Accepted values, spelled as the messages list them.
const (
	methods = "GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS"
	roles   = "viewer, operator, admin"
	verbs   = "get, list, watch, create, update, patch, delete, deletecollection"
)

// Limits of the health check, in seconds; 0 asks for the host's default.
const (
	maxInterval = 86400
	maxTimeout  = 3600
)

// Validate checks metadata already in typed form, such as what a plugin's
// GetMetadata returns, with the rules Parse applies, so that a plugin cannot
// report at run time what its manifest could not declare. Methods are
// accepted in any case and left as they are.
func Validate(md *sdk.PluginMetadata) []Problem {
	if md == nil {
		return []Problem{{Message: "metadata is missing"}}
	}
	var v problems
	v.id(md.ID)
	if strings.TrimSpace(md.Name) == "" {
		v.add("name", "is required")
	}
	v.version(md.Version)
	v.url("homepage", md.Homepage)
	v.url("repository", md.Repository)
	v.endpoints(md.Endpoints)
	for i, c := range md.UIComponents {
		f := fmt.Sprintf("ui_components[%d]", i)
		if strings.TrimSpace(c.Name) == "" {
			v.add(f+".name", "is required")
		}
		if c.Route == "" {
			v.add(f+".route", "is required")
		} else if !strings.HasPrefix(c.Route, "/") {
			v.add(f+".route", `must start with "/", got %q`, c.Route)
		}
		if strings.TrimSpace(c.Component) == "" {
			v.add(f+".component", "is required")
		}
		if c.Entry != "" && !IsUIPath(c.Entry) {
			v.add(f+".entry", `must be a file in the plugin's ui/ folder, such as index.html (no leading "/", no "." or ".." or hidden names), got %q`, c.Entry)
		}
		if c.Slot != "" && !slices.Contains(uiSlots, c.Slot) {
			v.add(f+".slot", "must be one of %s, got %q", strings.Join(uiSlots, ", "), c.Slot)
		}
	}
	v.dependencies(md)
	for i, p := range md.Permissions {
		f := fmt.Sprintf("permissions[%d]", i)
		if j := slices.Index(md.Permissions[:i], p); j >= 0 {
			v.add(f, "duplicates permissions[%d] (%s)", j, p)
		} else if !isPermission(p) {
			v.add(f, "must be dotted lowercase names such as resource.read, got %q", p)
		}
	}
	if sum := md.Security.Checksum; sum != "" && !IsChecksum(sum) {
		v.add("security.checksum", `must be "sha256:" followed by 64 lowercase hex digits`)
	}
	if md.Kubernetes != nil {
		v = append(v, ValidateKubernetes("kubernetes", md.Kubernetes)...)
	}
	h := md.Health
	v.between("health.interval_seconds", h.IntervalSeconds, maxInterval)
	v.between("health.timeout_seconds", h.TimeoutSeconds, maxTimeout)
	if h.IntervalSeconds > 0 && h.TimeoutSeconds >= h.IntervalSeconds {
		v.add("health.timeout_seconds", "must be less than interval_seconds (%d)", h.IntervalSeconds)
	}
	sortProblems(v)
	return v
}

// uiSlots are the extension points a UI component may name.
var uiSlots = []string{sdk.UISlotDetailTab, sdk.UISlotPage, sdk.UISlotCard}

// IsUIPath reports whether p names a file inside a plugin's ui/ folder the
// host may serve: slash-separated names below the folder, none empty,
// hidden (".", "..", ".git") or holding a backslash or NUL.
func IsUIPath(p string) bool {
	if p == "" || len(p) > 256 {
		return false
	}
	for name := range strings.SplitSeq(p, "/") {
		if name == "" || strings.HasPrefix(name, ".") || strings.ContainsAny(name, "\\\x00") {
			return false
		}
	}
	return true
}

// ValidateID checks a plugin id as a manifest's id is checked, and returns
// the problem, located at field, or nil.
func ValidateID(field, id string) *Problem {
	var v problems
	v.id(id)
	if len(v) == 0 {
		return nil
	}
	v[0].Field = field
	return &v[0]
}

// KubernetesVerbs are the verbs a Kubernetes rule may name, besides "*".
func KubernetesVerbs() []string { return strings.Split(verbs, ", ") }

// ValidateKubernetes checks access to clusters, as a manifest's kubernetes
// section or a grant the system configuration lists, with every problem
// located under field. Every rule needs apiGroups, resources and verbs,
// because an empty list in RBAC matches nothing and a rule that allows
// nothing is a mistake its author should see.
func ValidateKubernetes(field string, k *sdk.KubernetesAccess) []Problem {
	if k == nil {
		return nil
	}
	var v problems
	for i, c := range k.Contexts {
		f := fmt.Sprintf("%s.contexts[%d]", field, i)
		if j := slices.Index(k.Contexts[:i], c); j >= 0 {
			v.add(f, "duplicates contexts[%d] (%s)", j, c)
		} else if strings.TrimSpace(c) == "" || strings.TrimSpace(c) != c {
			v.add(f, "must be a context name without surrounding spaces, got %q", c)
		}
	}
	for i, r := range k.Rules {
		f := fmt.Sprintf("%s.rules[%d]", field, i)
		v.each(f+".apiGroups", r.APIGroups, isAPIGroup, `must be an API group such as apps or cluster.open-cluster-management.io, "" for the core group, or "*"`)
		v.each(f+".resources", r.Resources, isResource, `must be a lowercase resource name, optionally with a subresource (managedclusters/status, or */status for every resource's), or "*"; RBAC has no resource/*: list the subresources`)
		v.each(f+".verbs", r.Verbs, func(s string) bool { return s == "*" || slices.Contains(KubernetesVerbs(), s) }, `must be one of `+verbs+`, or "*"`)
		v.optional(f+".namespaces", r.Namespaces, isNamespace, `must be a namespace name (a DNS label) or "*"`)
		v.optional(f+".resourceNames", r.ResourceNames, isResourceName, `must be an object name (lowercase letters, digits, "-", "." and ":") or "*"`)
	}
	return v
}

// each checks a list that must not be empty, item by item.
func (v *problems) each(field string, items []string, ok func(string) bool, want string) {
	if len(items) == 0 {
		v.add(field, "must name at least one value")
		return
	}
	v.optional(field, items, ok, want)
}

// optional checks a list that may be empty, item by item.
func (v *problems) optional(field string, items []string, ok func(string) bool, want string) {
	for i, s := range items {
		if !ok(s) {
			v.add(fmt.Sprintf("%s[%d]", field, i), "%s, got %q", want, s)
		}
	}
}

// problems accumulates findings so that every rule runs.
type problems []Problem

func (v *problems) add(field, format string, args ...any) {
	*v = append(*v, Problem{Field: field, Message: fmt.Sprintf(format, args...)})
}

func (v *problems) id(id string) {
	switch {
	case id == "":
		v.add("id", "is required")
	case len(id) > 63:
		// Ids become DNS labels and URL segments.
		v.add("id", "must be at most 63 characters, got %d", len(id))
	case !isID(id):
		v.add("id", "must be lowercase letters, digits and hyphens, starting and ending with a letter or digit")
	case slices.Contains(ReservedIDs(), id):
		v.add("id", "%q is reserved for a management route", id)
	}
}

func (v *problems) version(s string) {
	if s == "" {
		v.add("version", "is required")
		return
	}
	// Strict parsing, because the lenient form also accepts "1" and "1.2",
	// which are not versions a release would carry.
	if _, err := semver.StrictNewVersion(strings.TrimPrefix(s, "v")); err != nil {
		v.add("version", "must be a semantic version such as 1.0.0, got %q", s)
	}
}

func (v *problems) url(field, s string) {
	if s == "" {
		return
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		v.add(field, "must be an absolute http(s) URL, got %q", s)
	}
}

func (v *problems) between(field string, n, maximum int) {
	if n < 0 || n > maximum {
		v.add(field, "must be between 1 and %d, or 0 for the default, got %d", maximum, n)
	}
}

func (v *problems) endpoints(eps []sdk.EndpointConfig) {
	type route struct {
		index  int
		method string
		segs   []string
	}
	var routes []route
	for i, ep := range eps {
		f := fmt.Sprintf("endpoints[%d]", i)
		segs, msg := routeOf(ep.Path)
		if msg != "" {
			v.add(f+".path", "%s", msg)
		}
		method := strings.ToUpper(ep.Method)
		methodOK := slices.Contains(strings.Split(methods, ", "), method)
		if ep.Method == "" {
			v.add(f+".method", "is required")
		} else if !methodOK {
			v.add(f+".method", "must be one of %s, got %q", methods, ep.Method)
		}
		if ep.Handler == "" {
			v.add(f+".handler", "is required")
		} else if !isIdent(ep.Handler) {
			v.add(f+".handler", "must be a Go identifier, got %q", ep.Handler)
		}
		if rl := ep.RateLimit; rl != nil {
			if rl.Enabled && rl.RPM < 1 {
				v.add(f+".rate_limit.rpm", "must be at least 1 when enabled, got %d", rl.RPM)
			}
			if rl.Burst < 0 {
				v.add(f+".rate_limit.burst", "must not be negative, got %d", rl.Burst)
			}
			if rl.WindowSizeMs < 0 {
				v.add(f+".rate_limit.window_ms", "must not be negative, got %d", rl.WindowSizeMs)
			}
		}
		if ep.Auth != nil {
			for j, r := range ep.Auth.Roles {
				if !slices.Contains(strings.Split(roles, ", "), r) {
					v.add(fmt.Sprintf("%s.auth.roles[%d]", f, j), "must be one of %s, got %q", roles, r)
				}
			}
		}
		if segs == nil || !methodOK {
			continue
		}
		// gin keeps one routing tree per method and panics at registration
		// on routes it cannot tell apart; catch them while the author can
		// still see which manifest lines are at fault.
		for _, r := range routes {
			if r.method != method {
				continue
			}
			if prior := eps[r.index].Path; prior == ep.Path {
				v.add(f, "duplicates endpoints[%d] (%s %s)", r.index, method, prior)
				break
			} else if conflict(r.segs, segs) {
				v.add(f+".path", "conflicts with endpoints[%d] (%s %s): gin cannot route both", r.index, method, prior)
				break
			}
		}
		routes = append(routes, route{i, method, segs})
	}
}

// routeOf returns the segments of an endpoint path, or why gin could not
// route it.
func routeOf(p string) ([]string, string) {
	switch {
	case p == "":
		return nil, "is required"
	case !strings.HasPrefix(p, "/"):
		return nil, fmt.Sprintf(`must start with "/", got %q`, p)
	case strings.Contains(p, ".."):
		return nil, fmt.Sprintf(`must not contain "..", got %q`, p)
	case strings.Contains(p, "//"):
		return nil, fmt.Sprintf(`must not contain "//", got %q`, p)
	case strings.Contains(p, "?"):
		return nil, fmt.Sprintf(`must not contain a query ("?"), got %q`, p)
	}
	segs := strings.Split(p[1:], "/")
	for i, s := range segs {
		switch {
		case s == "":
		case (s[0] == ':' || s[0] == '*') && !isIdent(s[1:]):
			return nil, fmt.Sprintf("parameter %q needs a name of letters, digits and underscores", s)
		case s[0] == '*' && i < len(segs)-1:
			return nil, fmt.Sprintf("wildcard %q must be the last segment", s)
		case strings.ContainsAny(s[1:], ":*"):
			return nil, fmt.Sprintf(`segment %q: ":" and "*" may only start a segment`, s)
		}
	}
	return segs, ""
}

// conflict reports whether gin would refuse to register two distinct paths
// of one method: it cannot hold two different wildcards at one position, nor
// a catch-all beside any other segment.
func conflict(a, b []string) bool {
	for i := range min(len(a), len(b)) {
		if a[i] == b[i] {
			continue
		}
		wild := func(s string) bool { return s != "" && (s[0] == ':' || s[0] == '*') }
		catchAll := func(s string) bool { return s != "" && s[0] == '*' }
		return wild(a[i]) && wild(b[i]) || catchAll(a[i]) || catchAll(b[i])
	}
	return false
}

// isIdent accepts ASCII Go identifiers, the names handlers and parameters
// are looked up by.
func isIdent(s string) bool {
	for i, r := range s {
		if !(r == '_' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || i > 0 && '0' <= r && r <= '9') {
			return false
		}
	}
	return s != ""
}

// isID accepts a DNS label: lowercase alphanumerics and inner hyphens.
func isID(s string) bool {
	for _, r := range s {
		if !('a' <= r && r <= 'z' || '0' <= r && r <= '9' || r == '-') {
			return false
		}
	}
	return s != "" && s[0] != '-' && s[len(s)-1] != '-'
}

// isPermission accepts two or more dot-separated lowercase names.
func isPermission(s string) bool {
	parts := strings.Split(s, ".")
	for _, p := range parts {
		if p == "" || p[0] < 'a' || p[0] > 'z' {
			return false
		}
		for _, r := range p {
			if !('a' <= r && r <= 'z' || '0' <= r && r <= '9' || r == '_' || r == '-') {
				return false
			}
		}
	}
	return len(parts) >= 2
}

// isAPIGroup accepts "" (the core group), "*" and DNS subdomains.
func isAPIGroup(s string) bool {
	return s == "" || s == "*" || isDNSName(s, false)
}

// isResource accepts a resource as Kubernetes RBAC reads one (package
// kuberule): "*", a name, "name/sub" or "*/sub".
func isResource(s string) bool { return kuberule.ValidResource(s, isID) }

// isNamespace accepts a DNS label of at most 63 characters, or "*".
func isNamespace(s string) bool { return s == "*" || len(s) <= 63 && isID(s) }

// isResourceName accepts "*" and the names objects commonly have: DNS
// subdomains, with ":" too for names such as system:aggregate-to-view.
func isResourceName(s string) bool { return s == "*" || isDNSName(s, true) }

// isDNSName accepts dot-separated DNS labels of at most 253 characters in
// all, and colons between labels too when colons is set.
func isDNSName(s string, colons bool) bool {
	if len(s) > 253 {
		return false
	}
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == '.' || colons && s[i] == ':' {
			if !isID(s[start:i]) {
				return false
			}
			start = i + 1
		}
	}
	return true
}

// IsChecksum reports whether s is a SHA-256 digest as the host writes
// them: "sha256:" and 64 lower-case hex digits.
func IsChecksum(s string) bool {
	hex, ok := strings.CutPrefix(s, "sha256:")
	return ok && len(hex) == 64 && strings.Trim(hex, "0123456789abcdef") == ""
}
