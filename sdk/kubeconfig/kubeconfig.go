// Package kubeconfig reads a kubeconfig that comes from someone the host
// does not trust: a request body, or configuration that a non-admin may set.
//
// A kubeconfig is more than data. client-go, given one, runs the command of
// a user's exec credential plugin, runs auth-provider plugins, and reads
// the files that tokenFile, client-certificate, client-key and
// certificate-authority name, all as the host's own user. Whoever writes
// the kubeconfig chooses those commands and paths. Parse therefore refuses
// every such field, naming it (users["alice"].user.exec), and keeps only
// data: addresses, certificates, keys and tokens given inline. It never
// reads a file and never runs anything, and its result is plain values a
// plugin turns into its client configuration without client-go's loader:
//
//	cfg, err := kubeconfig.Parse(body)
//	var refused *kubeconfig.RefusedError
//	if errors.As(err, &refused) { /* 400 naming refused.Field */ }
//	ctx, err := cfg.Context("") // the current context
//	rc := &rest.Config{Host: ctx.Cluster.Server, BearerToken: ctx.User.Token, ...}
//
// Only fields of the kubeconfig format (clientcmd's v1 Config) are
// accepted, spelled as kubectl writes them; an unknown field is an
// InvalidError rather than silently dropped, because dropping a field such
// as an impersonation setting would change whom the client acts as.
//
// The host's own kubeconfig is another matter: an administrator wrote it,
// and it commonly names files (the CA, a client certificate and key, a
// service account's token). ParseTrusted reads it: it reads those files,
// relative to the kubeconfig's folder as kubectl does, and keeps a token
// file's path so that a rotated token is read again. It still runs nothing:
// exec and auth-provider credentials, and proxy-url, are refused in both
// modes, since nothing that reads the result would honour them.
package kubeconfig

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"
)

// MaxSize bounds the kubeconfig Parse reads, in bytes. Real ones are a few
// kilobytes; the bound keeps a hostile one from costing much to decode.
const MaxSize = 1 << 20

// RefusedError is a field that Parse does not accept from an untrusted
// kubeconfig because it would make the reader run a command, load a plugin
// or read a file of the host, or route the connection elsewhere.
type RefusedError struct {
	// Field is the path of the field in the document, such as
	// `users["alice"].user.exec` or `clusters[0].cluster.certificate-authority`
	// (by index when the entry has no usable name).
	Field string
	// Reason says why it is refused and what to give instead.
	Reason string
}

func (e *RefusedError) Error() string { return e.Field + ": " + e.Reason }

// InvalidError is a kubeconfig that is not well formed: not YAML, a field
// of the wrong type, an unknown field, a dangling reference.
type InvalidError struct {
	// Field is the path of the offending field; "" for the document as a
	// whole.
	Field string
	// Reason says what is wrong.
	Reason string
}

func (e *InvalidError) Error() string {
	if e.Field == "" {
		return e.Reason
	}
	return e.Field + ": " + e.Reason
}

// ErrNoContext is returned, wrapped, by Config.Context for a context name
// the kubeconfig does not have, so a caller can blame its own parameter
// rather than the document.
var ErrNoContext = errors.New("no such context")

// Config is a parsed kubeconfig: its named clusters, users and contexts,
// all data.
type Config struct {
	// CurrentContext is the document's current-context, possibly "".
	CurrentContext string

	clusters map[string]Cluster
	users    map[string]User
	contexts map[string]contextRef
	order    []string // context names in document order
}

// Cluster is how to reach and trust an API server.
type Cluster struct {
	// Name is the cluster entry's name.
	Name string
	// Server is the API server's URL, http or https.
	Server string
	// CAData holds PEM certificates to trust instead of the system's.
	CAData []byte
	// TLSServerName is the name to verify the server's certificate against,
	// when not the Server's host.
	TLSServerName string
	// InsecureSkipTLSVerify turns off server certificate checks.
	InsecureSkipTLSVerify bool
	// DisableCompression asks for uncompressed responses.
	DisableCompression bool
}

// User is how to authenticate: at most one of a bearer token or a
// username and password, optionally a client certificate, optionally an
// identity to impersonate.
type User struct {
	// Name is the user entry's name.
	Name string
	// Token is a bearer token.
	Token string
	// TokenFile is the absolute path of a file holding the bearer token,
	// read again as it rotates; set by ParseTrusted only, and only when
	// Token is not given inline (which then wins, as in client-go).
	TokenFile string
	// ClientCertData and ClientKeyData are a PEM client certificate and
	// its key; both or neither are set.
	ClientCertData, ClientKeyData []byte
	// Username and Password are for basic authentication.
	Username, Password string
	// Impersonate, ImpersonateUID, ImpersonateGroups and ImpersonateExtra
	// ask the server to act as another identity (as, as-uid, as-groups,
	// as-user-extra).
	Impersonate       string
	ImpersonateUID    string
	ImpersonateGroups []string
	ImpersonateExtra  map[string][]string
}

// Context is a context resolved to its cluster and user.
type Context struct {
	// Name is the context's name.
	Name string
	// Namespace is the context's default namespace, possibly "".
	Namespace string
	// Cluster is the cluster the context names.
	Cluster Cluster
	// User is the user the context names; the zero User when it names none
	// (anonymous).
	User User
}

type contextRef struct {
	cluster, user, namespace string
	path                     string // of the entry, for errors
}

// ContextNames returns the names of the contexts in document order.
func (c *Config) ContextNames() []string { return slices.Clone(c.order) }

// Context resolves the named context, or the current context for "". An
// unknown name is an error wrapping ErrNoContext; a current context that is
// unset or dangling, or a context that names a missing cluster or user, is
// an *InvalidError.
func (c *Config) Context(name string) (Context, error) {
	if name == "" {
		if c.CurrentContext == "" {
			return Context{}, &InvalidError{Field: "current-context", Reason: "not set; name a context"}
		}
		name = c.CurrentContext
		if _, ok := c.contexts[name]; !ok {
			return Context{}, &InvalidError{Field: "current-context", Reason: fmt.Sprintf("no context %q", name)}
		}
	}
	ref, ok := c.contexts[name]
	if !ok {
		return Context{}, fmt.Errorf("%w %q in the kubeconfig", ErrNoContext, name)
	}
	cl, ok := c.clusters[ref.cluster]
	if !ok {
		return Context{}, &InvalidError{Field: ref.path + ".context.cluster", Reason: fmt.Sprintf("no cluster %q", ref.cluster)}
	}
	out := Context{Name: name, Namespace: ref.namespace, Cluster: cl}
	if ref.user != "" {
		u, ok := c.users[ref.user]
		if !ok {
			return Context{}, &InvalidError{Field: ref.path + ".context.user", Reason: fmt.Sprintf("no user %q", ref.user)}
		}
		out.User = u
	}
	return out, nil
}

// Refusal reasons, shared by the fields they apply to.
const (
	readsFile = "reads a file on the host; not accepted in a kubeconfig given to the host, give the %s inline as %s"
	runsExec  = "runs a command on the host to get credentials; not accepted in a kubeconfig given to the host, give a token or client-certificate-data and client-key-data"
	runsAuthP = "runs a credential provider on the host (which may run commands and read files); not accepted in a kubeconfig given to the host, give a token or client-certificate-data and client-key-data"
	routesVia = "sends the connection through a proxy of the kubeconfig's choosing; not accepted in a kubeconfig given to the host"
)

// Parse reads an untrusted kubeconfig. A field that would make a reader run
// something, read a file or use a proxy is a *RefusedError naming it; any
// other problem is an *InvalidError. When a document has both, the refusal
// is returned, so that an attempt is reported as what it is. Parse reads no
// file and runs nothing.
func Parse(data []byte) (*Config, error) {
	return parse(data, false, "")
}

// ParseTrusted reads the host's own kubeconfig, which an administrator
// wrote. Unlike Parse it accepts certificate-authority, client-certificate
// and client-key, reading the files they name into CAData, ClientCertData
// and ClientKeyData, and tokenFile, reading it once to check it and keeping
// its path in TokenFile. A relative path is taken from dir, the folder of
// the kubeconfig, as kubectl takes it. A field and its *-data twin together
// are an *InvalidError, as is a file that cannot be read. exec,
// auth-provider and proxy-url are refused as by Parse: nothing here runs a
// command, and whoever uses the result dials the server directly.
//
// Never give ParseTrusted a kubeconfig from a request or a plugin: it reads
// files of the host.
func ParseTrusted(data []byte, dir string) (*Config, error) {
	return parse(data, true, dir)
}

func parse(data []byte, trusted bool, dir string) (*Config, error) {
	if len(data) > MaxSize {
		return nil, &InvalidError{Reason: fmt.Sprintf("larger than %d bytes", MaxSize)}
	}
	var doc any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, &InvalidError{Reason: "not YAML or JSON: " + err.Error()}
	}
	p := &parser{cfg: &Config{clusters: map[string]Cluster{}, users: map[string]User{}, contexts: map[string]contextRef{}}, trusted: trusted, dir: dir}
	p.document(doc)
	if p.refused != nil {
		return nil, p.refused
	}
	if p.invalid != nil {
		return nil, p.invalid
	}
	return p.cfg, nil
}

// parser walks the decoded document, keeping the first refusal and the
// first other problem it meets; it goes on after a problem so that a
// refusal later in the document is still found.
type parser struct {
	cfg     *Config
	refused *RefusedError
	invalid *InvalidError
	trusted bool   // ParseTrusted: file fields are read
	dir     string // the folder relative file paths start from
}

func (p *parser) refuse(field, reason string) {
	if p.refused == nil {
		p.refused = &RefusedError{Field: field, Reason: reason}
	}
}

func (p *parser) bad(field, format string, args ...any) {
	if p.invalid == nil {
		p.invalid = &InvalidError{Field: field, Reason: fmt.Sprintf(format, args...)}
	}
}

// object returns v as a map, or nil after reporting it unless it is null.
func (p *parser) object(field string, v any) map[string]any {
	switch m := v.(type) {
	case map[string]any:
		return m
	case nil:
		return nil
	}
	p.bad(field, "want a mapping, got %s", kind(v))
	return nil
}

func (p *parser) str(field string, v any) string {
	switch s := v.(type) {
	case string:
		return s
	case nil:
		return ""
	}
	p.bad(field, "want a string, got %s", kind(v))
	return ""
}

func (p *parser) boolean(field string, v any) bool {
	switch b := v.(type) {
	case bool:
		return b
	case nil:
		return false
	}
	p.bad(field, "want true or false, got %s", kind(v))
	return false
}

func (p *parser) strings(field string, v any) []string {
	if v == nil {
		return nil
	}
	list, ok := v.([]any)
	if !ok {
		p.bad(field, "want a list of strings, got %s", kind(v))
		return nil
	}
	out := make([]string, 0, len(list))
	for i, item := range list {
		out = append(out, p.str(fmt.Sprintf("%s[%d]", field, i), item))
	}
	return out
}

// data decodes a base64 field, as kubeconfig *-data fields are.
func (p *parser) data(field string, v any) []byte {
	s := p.str(field, v)
	if s == "" {
		return nil
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		p.bad(field, "not base64: %v", err)
		return nil
	}
	return b
}

// unknown reports the first key of m, in sorted order, that known lacks.
func (p *parser) unknown(field string, m map[string]any, known ...string) {
	keys := make([]string, 0, len(m))
	for k := range m {
		if !slices.Contains(known, k) {
			keys = append(keys, k)
		}
	}
	if len(keys) > 0 {
		slices.Sort(keys)
		p.bad(join(field, keys[0]), "unknown field")
	}
}

// refusedField reports a field of m that client-go would act on but Parse
// refuses. Its key is matched regardless of case, as client-go's decoder
// matches it; null and "" count as absent, as they do for client-go.
func (p *parser) refusedField(path string, m map[string]any, key, reason string) {
	var found []string
	for k, v := range m {
		if strings.EqualFold(k, key) && v != nil && v != "" {
			found = append(found, k)
		}
	}
	if len(found) > 0 {
		slices.Sort(found) // one answer for the same document, whatever the map's order
		p.refuse(path+"."+found[0], reason)
	}
}

func (p *parser) document(doc any) {
	top := p.object("", doc)
	if top == nil {
		return
	}
	// The entries first: that is where the refused fields are.
	p.cfg.clusters = named(p, top, "clusters", "cluster", p.cluster)
	p.cfg.users = named(p, top, "users", "user", p.user)
	p.contexts(top["contexts"])
	p.cfg.CurrentContext = p.str("current-context", top["current-context"])
	if v := p.str("apiVersion", top["apiVersion"]); v != "" && v != "v1" {
		p.bad("apiVersion", "want v1, got %q", v)
	}
	if k := p.str("kind", top["kind"]); k != "" && k != "Config" {
		p.bad("kind", "want Config, got %q", k)
	}
	p.object("preferences", top["preferences"]) // colors and extensions: nothing a client uses
	if v := top["extensions"]; v != nil {
		if _, ok := v.([]any); !ok {
			p.bad("extensions", "want a list, got %s", kind(v))
		}
	}
	p.unknown("", top, "apiVersion", "kind", "preferences", "clusters", "users", "contexts", "current-context", "extensions")
}

// named walks a list of named entries, such as clusters: each a mapping of
// name and one body under key, read by body. Names must be present and
// unique.
func named[T any](p *parser, top map[string]any, list, key string, body func(path, name string, m map[string]any) T) map[string]T {
	out := map[string]T{}
	for _, e := range p.entries(list, top[list], key) {
		v := body(e.path+"."+key, e.name, e.body)
		if e.name != "" {
			out[e.name] = v
		}
	}
	return out
}

// entry is one entry of a named list.
type entry struct {
	path string         // for errors: clusters["a"], or clusters[0] without a usable name
	name string         // "" when it has none usable, already reported
	body map[string]any // the mapping under the list's key
}

// entries reads a named list: each entry a mapping of a name and one body
// under key. Names must be present and unique.
func (p *parser) entries(list string, v any, key string) []entry {
	if v == nil {
		return nil
	}
	items, ok := v.([]any)
	if !ok {
		p.bad(list, "want a list, got %s", kind(v))
		return nil
	}
	out := make([]entry, 0, len(items))
	seen := map[string]bool{}
	for i, item := range items {
		e := entry{path: fmt.Sprintf("%s[%d]", list, i)}
		m := p.object(e.path, item)
		if m == nil {
			if item == nil {
				p.bad(e.path, "empty entry")
			}
			continue
		}
		name, _ := m["name"].(string)
		switch {
		case name == "":
			p.str(e.path+".name", m["name"])
			p.bad(e.path+".name", "required")
		case seen[name]:
			p.bad(e.path+".name", "%q appears twice", name)
		default:
			seen[name] = true
			e.name, e.path = name, list+"["+strconv.Quote(name)+"]"
		}
		p.unknown(e.path, m, "name", key)
		if e.body = p.object(e.path+"."+key, m[key]); e.body == nil {
			p.bad(e.path+"."+key, "required")
			e.body = map[string]any{}
		}
		out = append(out, e)
	}
	return out
}

// file reads the file a trusted kubeconfig's field names, unless data, the
// field's *-data twin, is already given.
func (p *parser) file(field string, v any, data []byte) []byte {
	name := p.str(field, v)
	if name == "" {
		return data
	}
	if len(data) > 0 {
		p.bad(field, "give it or its -data twin, not both")
		return data
	}
	b, err := os.ReadFile(p.resolve(name))
	if err != nil {
		p.bad(field, "read: %v", err)
		return nil
	}
	return b
}

// resolve makes a trusted kubeconfig's relative path absolute from its folder.
func (p *parser) resolve(name string) string {
	if filepath.IsAbs(name) {
		return name
	}
	return filepath.Join(p.dir, name)
}

func (p *parser) cluster(path, name string, m map[string]any) Cluster {
	if !p.trusted {
		p.refusedField(path, m, "certificate-authority", fmt.Sprintf(readsFile, "CA certificates", "certificate-authority-data"))
	}
	p.refusedField(path, m, "proxy-url", routesVia)
	p.unknown(path, m, "server", "tls-server-name", "insecure-skip-tls-verify", "certificate-authority",
		"certificate-authority-data", "proxy-url", "disable-compression", "extensions")
	c := Cluster{
		Name:                  name,
		Server:                p.str(path+".server", m["server"]),
		CAData:                p.data(path+".certificate-authority-data", m["certificate-authority-data"]),
		TLSServerName:         p.str(path+".tls-server-name", m["tls-server-name"]),
		InsecureSkipTLSVerify: p.boolean(path+".insecure-skip-tls-verify", m["insecure-skip-tls-verify"]),
		DisableCompression:    p.boolean(path+".disable-compression", m["disable-compression"]),
	}
	caField := path + ".certificate-authority-data"
	if p.trusted && p.str(path+".certificate-authority", m["certificate-authority"]) != "" {
		caField = path + ".certificate-authority"
		c.CAData = p.file(caField, m["certificate-authority"], c.CAData)
	}
	if c.Server == "" {
		p.bad(path+".server", "required")
	} else if u, err := url.Parse(c.Server); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		p.bad(path+".server", "want an http or https URL with a host, got %q", c.Server)
	}
	if len(c.CAData) > 0 {
		if c.InsecureSkipTLSVerify {
			p.bad(path+".insecure-skip-tls-verify", "cannot be true together with certificate-authority-data")
		}
		if !x509.NewCertPool().AppendCertsFromPEM(c.CAData) {
			p.bad(caField, "holds no PEM certificate")
		}
	}
	return c
}

func (p *parser) user(path, name string, m map[string]any) User {
	// In the order client-go would act on them.
	p.refusedField(path, m, "exec", runsExec)
	p.refusedField(path, m, "auth-provider", runsAuthP)
	if !p.trusted {
		p.refusedField(path, m, "tokenFile", fmt.Sprintf(readsFile, "token", "token"))
		p.refusedField(path, m, "client-certificate", fmt.Sprintf(readsFile, "client certificate", "client-certificate-data"))
		p.refusedField(path, m, "client-key", fmt.Sprintf(readsFile, "client key", "client-key-data"))
	}
	p.unknown(path, m, "client-certificate", "client-certificate-data", "client-key", "client-key-data", "token", "tokenFile",
		"as", "as-uid", "as-groups", "as-user-extra", "username", "password", "auth-provider", "exec", "extensions")
	u := User{
		Name:              name,
		Token:             p.str(path+".token", m["token"]),
		ClientCertData:    p.data(path+".client-certificate-data", m["client-certificate-data"]),
		ClientKeyData:     p.data(path+".client-key-data", m["client-key-data"]),
		Username:          p.str(path+".username", m["username"]),
		Password:          p.str(path+".password", m["password"]),
		Impersonate:       p.str(path+".as", m["as"]),
		ImpersonateUID:    p.str(path+".as-uid", m["as-uid"]),
		ImpersonateGroups: p.strings(path+".as-groups", m["as-groups"]),
	}
	if p.trusted {
		u.ClientCertData = p.file(path+".client-certificate", m["client-certificate"], u.ClientCertData)
		u.ClientKeyData = p.file(path+".client-key", m["client-key"], u.ClientKeyData)
		if f := p.str(path+".tokenFile", m["tokenFile"]); f != "" && u.Token == "" {
			// Read once now so that a wrong path fails at start, not at
			// the first request; the reader of TokenFile reads it again.
			if _, err := os.ReadFile(p.resolve(f)); err != nil {
				p.bad(path+".tokenFile", "read: %v", err)
			}
			u.TokenFile = p.resolve(f)
		}
	}
	if extra := p.object(path+".as-user-extra", m["as-user-extra"]); len(extra) > 0 {
		u.ImpersonateExtra = make(map[string][]string, len(extra))
		for k, v := range extra {
			u.ImpersonateExtra[k] = p.strings(path+".as-user-extra."+k, v)
		}
	}
	if u.Token != "" && (u.Username != "" || u.Password != "") {
		p.bad(path+".token", "give a token or a username and password, not both")
	}
	switch {
	case len(u.ClientCertData) > 0 && len(u.ClientKeyData) == 0:
		p.bad(path+".client-key-data", "required with client-certificate-data")
	case len(u.ClientKeyData) > 0 && len(u.ClientCertData) == 0:
		p.bad(path+".client-certificate-data", "required with client-key-data")
	case len(u.ClientCertData) > 0:
		if _, err := tls.X509KeyPair(u.ClientCertData, u.ClientKeyData); err != nil {
			// The error names no key material, only what is wrong with it.
			p.bad(path+".client-certificate-data", "not a usable certificate and key: %v", err)
		}
	}
	return u
}

func (p *parser) contexts(v any) {
	for _, e := range p.entries("contexts", v, "context") {
		path, name, m := e.path, e.name, e.body
		body := path + ".context"
		p.unknown(body, m, "cluster", "user", "namespace", "extensions")
		ref := contextRef{
			cluster:   p.str(body+".cluster", m["cluster"]),
			user:      p.str(body+".user", m["user"]),
			namespace: p.str(body+".namespace", m["namespace"]),
			path:      path,
		}
		if ref.cluster == "" {
			p.bad(body+".cluster", "required")
		}
		if name != "" {
			p.cfg.contexts[name] = ref
			p.cfg.order = append(p.cfg.order, name)
		}
	}
}

func join(field, key string) string {
	if field == "" {
		return key
	}
	return field + "." + key
}

// kind names a decoded value's type as a kubeconfig's author knows it.
func kind(v any) string {
	switch v.(type) {
	case map[string]any:
		return "a mapping"
	case []any:
		return "a list"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case float64, int64, int:
		return "a number"
	case nil:
		return "nothing"
	}
	return fmt.Sprintf("%T", v)
}
