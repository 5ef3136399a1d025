package policy

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"path"
	"strconv"
	"strings"
)

// maxRepoLen bounds the repository references ParseRepo reads; real ones
// are far shorter, and the bound keeps error messages readable.
const maxRepoLen = 2048

// Repo is a parsed repository reference. Policy decisions and installs work
// on its fields, never on the string it was parsed from.
type Repo struct {
	// Scheme is "https", or "http" for a loopback test server. "" means
	// https.
	Scheme string
	// Host is the lowercased host name, followed by ":port" only when the
	// port is not the scheme's default.
	Host string
	// Owner and Name are as written; compare them case-insensitively, as
	// GitHub does. Name never ends in ".git".
	Owner, Name string
	// Ref is the branch, tag or commit of a /tree/<ref>/<path> URL, and ""
	// otherwise. It is a single path segment and never starts with "-", so
	// it cannot be taken for a git option.
	Ref string
	// Path is the folder of a /tree/<ref>/<path> URL, "" otherwise. It is
	// clean: slash-separated, never starting with "/" and without empty,
	// "." or ".." segments.
	Path string
}

// String returns host/owner/name, the form allow-list globs are written in.
func (r Repo) String() string {
	return r.Host + "/" + r.Owner + "/" + r.Name
}

// ParseRepo parses a repository reference as users paste it:
//
//	https://github.com/owner/repo
//	https://github.com/owner/repo.git
//	https://github.com/owner/repo/tree/v1.0.0/plugins/hello
//	github.com/owner/repo                  (https is implied)
//	http://127.0.0.1:8080/owner/repo.git   (plain http only for loopback test servers)
//
// It refuses anything else, naming the problem: other schemes (ssh://,
// git@host:path, file://, ftp://), user info (credentials belong in the
// configuration, not in a URL that is logged and stored), queries and
// fragments, percent-encoding, missing owner or repository, extra path
// segments other than the /tree/<ref>/<path> form, empty, "." and ".."
// segments, and owner or repository names with characters outside
// [A-Za-z0-9._-] or starting with ".". Refusing rather than repairing means
// the string a user sees and the repository the host fetches cannot differ.
func ParseRepo(raw string) (Repo, error) {
	fail := func(format string, args ...any) (Repo, error) {
		shown := redact(raw)
		if len(shown) > 100 {
			shown = shown[:100] + "..."
		}
		return Repo{}, fmt.Errorf("repository %q: %s", shown, fmt.Sprintf(format, args...))
	}
	if raw == "" {
		return fail("empty reference; want https://host/owner/repo")
	}
	if len(raw) > maxRepoLen {
		return fail("too long (%d bytes; at most %d)", len(raw), maxRepoLen)
	}
	for i := 0; i < len(raw); i++ {
		switch c := raw[i]; {
		case c <= ' ' || c == 0x7f:
			return fail("contains whitespace or control characters")
		case c >= 0x80:
			return fail("contains non-ASCII characters; hosts must be written in ASCII (punycode)")
		case c == '%':
			return fail("percent-encoding is not allowed")
		case c == '\\':
			return fail("backslashes are not allowed")
		case c == '?' || c == '#':
			return fail("query or fragment is not allowed")
		}
	}

	s := raw
	if !strings.Contains(s, "://") {
		authority, _, _ := strings.Cut(s, "/")
		if strings.Contains(authority, "@") {
			return fail("user info or scp-style address (user@host:path) is not supported; use https://host/owner/repo")
		}
		if _, port, ok := strings.Cut(authority, ":"); ok && !allDigits(port) {
			return fail("looks like an scp-style address or a scheme without //; use https://host/owner/repo")
		}
		s = "https://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fail("not a URL: %v", err)
	}
	switch u.Scheme {
	case "https", "http":
	default:
		return fail("scheme %q is not supported; use https", u.Scheme)
	}
	if u.Opaque != "" {
		return fail("missing // after %s:", u.Scheme)
	}
	if u.User != nil {
		return fail("user info in the URL is not allowed; put credentials in the configuration")
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return fail("query or fragment is not allowed")
	}
	host, err := normHost(u.Scheme, u.Host)
	if err != nil {
		return fail("%v", err)
	}
	if u.Scheme == "http" && !isLoopback(host) {
		return fail("plain http is only allowed for loopback test servers; use https")
	}

	p := strings.TrimPrefix(u.Path, "/")
	p = strings.TrimSuffix(p, "/") // one trailing slash, as browsers show
	if p == "" {
		return fail("missing owner and repository; want %s/owner/repo", host)
	}
	segs := strings.Split(p, "/")
	for _, seg := range segs {
		switch seg {
		case "":
			return fail("empty path segment")
		case ".", "..":
			return fail("%q path segment is not allowed", seg)
		}
	}
	if len(segs) < 2 {
		return fail("missing repository name; want %s/%s/repo", host, segs[0])
	}
	r := Repo{Scheme: u.Scheme, Host: host, Owner: segs[0], Name: trimGit(segs[1])}
	if err := checkName("owner", r.Owner); err != nil {
		return fail("%v", err)
	}
	if err := checkName("repository name", r.Name); err != nil {
		return fail("%v", err)
	}
	if rest := segs[2:]; len(rest) > 0 {
		if rest[0] != "tree" {
			return fail("unexpected path /%s after owner/repo; only /tree/<ref>/<path> is understood", strings.Join(rest, "/"))
		}
		if len(rest) < 2 {
			return fail("missing ref after /tree")
		}
		r.Ref, r.Path = rest[1], strings.Join(rest[2:], "/")
		if err := checkRef(r.Ref); err != nil {
			return fail("%v", err)
		}
		if err := checkPath(r.Path); err != nil {
			return fail("%v", err)
		}
	}
	return r, nil
}

// TokenOrigin returns the origin (scheme://host[:port], lowercased, without
// the scheme's default port) that a repository token configured with base,
// the repository_base_url, belongs to. It refuses a base that must not carry
// a token: one that is not an http(s) URL, has user info, or is plain http
// to anything but a loopback test server, where a token would cross the
// network in clear.
func TokenOrigin(base string) (string, error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", errors.New("not a URL")
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "https" && scheme != "http" {
		return "", fmt.Errorf("scheme %q cannot carry a token; use https", u.Scheme)
	}
	if u.User != nil {
		return "", errors.New("user info in the URL is not allowed")
	}
	host, err := normHost(scheme, u.Host)
	if err != nil {
		return "", err
	}
	if scheme == "http" && !isLoopback(host) {
		return "", fmt.Errorf("plain http to %s would send the token in clear; use https (plain http is only for loopback test servers)", host)
	}
	return scheme + "://" + host, nil
}

// TokenMayReach reports whether a repository token configured with base may
// be sent with a request to target: only when target has base's origin
// (scheme, host and port) and base may carry a token at all (TokenOrigin).
// Every other host, even one the allow-list admits, is fetched without it.
func TokenMayReach(base, target string) bool {
	origin, err := TokenOrigin(base)
	if err != nil {
		return false
	}
	u, err := url.Parse(target)
	if err != nil || u.User != nil {
		return false
	}
	scheme := strings.ToLower(u.Scheme)
	host, err := normHost(scheme, u.Host)
	return err == nil && scheme+"://"+host == origin
}

// validate checks that r is something ParseRepo could have produced (up to
// the case of Host), so that a hand-built Repo cannot smuggle "/" or ".."
// past a two-segment glob.
func (r Repo) validate() error {
	switch r.Scheme {
	case "", "https", "http":
	default:
		return fmt.Errorf("scheme %q is not supported", r.Scheme)
	}
	host := strings.ToLower(r.Host)
	if err := checkHostPort(host); err != nil {
		return err
	}
	if r.Scheme == "http" && !isLoopback(host) {
		return errors.New("plain http is only allowed for loopback test servers")
	}
	if err := checkName("owner", r.Owner); err != nil {
		return err
	}
	if err := checkName("repository name", r.Name); err != nil {
		return err
	}
	if r.Ref == "" {
		if r.Path != "" {
			return errors.New("path without a ref")
		}
		return nil
	}
	if err := checkRef(r.Ref); err != nil {
		return err
	}
	return checkPath(r.Path)
}

// matchGlob reports whether glob (host/owner or host/owner/repo) admits r.
// Each segment is matched on its own, so "*" cannot reach across "/", and
// everything is lowercased because GitHub treats names case-insensitively.
func matchGlob(glob string, r Repo) bool {
	pats := strings.Split(strings.ToLower(glob), "/")
	if len(pats) < 2 || len(pats) > 3 {
		return false
	}
	subject := [3]string{strings.ToLower(r.Host), strings.ToLower(r.Owner), strings.ToLower(r.Name)}
	for i, pat := range pats {
		if pat == "" {
			return false
		}
		if ok, err := path.Match(pat, subject[i]); err != nil || !ok {
			return false
		}
	}
	return true
}

// normHost lowercases hostport and drops the port when it is the scheme's
// default, so https://github.com:443/x and https://GitHub.com/x are the
// same host as github.com.
func normHost(scheme, hostport string) (string, error) {
	if hostport == "" {
		return "", errors.New("missing host")
	}
	if strings.HasPrefix(hostport, "[") {
		return "", errors.New("IPv6 literal hosts are not supported")
	}
	name, port, hasPort := strings.Cut(strings.ToLower(hostport), ":")
	if err := checkHostname(name); err != nil {
		return "", err
	}
	if !hasPort {
		return name, nil
	}
	n, err := parsePort(port)
	if err != nil {
		return "", err
	}
	if (scheme == "https" && n == 443) || (scheme == "http" && n == 80) {
		return name, nil
	}
	return name + ":" + strconv.Itoa(n), nil
}

// checkHostPort checks a lowercased host with an optional port, as kept in
// Repo.Host.
func checkHostPort(hostport string) error {
	if hostport == "" {
		return errors.New("missing host")
	}
	name, port, hasPort := strings.Cut(hostport, ":")
	if err := checkHostname(name); err != nil {
		return err
	}
	if hasPort {
		if _, err := parsePort(port); err != nil {
			return err
		}
	}
	return nil
}

// checkHostname accepts DNS names and IPv4 addresses written as dot-separated
// labels of [a-z0-9-]. Anything else (empty labels, a trailing dot,
// underscores, non-ASCII look-alikes) is refused rather than normalised.
func checkHostname(name string) error {
	if name == "" {
		return errors.New("missing host")
	}
	if len(name) > 253 {
		return errors.New("host name is too long")
	}
	for label := range strings.SplitSeq(name, ".") {
		if label == "" {
			return fmt.Errorf("host %q has an empty label", name)
		}
		if len(label) > 63 {
			return fmt.Errorf("host %q has a label longer than 63 characters", name)
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("host %q has a label starting or ending with '-'", name)
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
				return fmt.Errorf("host %q contains %q; want letters, digits, '-' and '.'", name, c)
			}
		}
	}
	return nil
}

func parsePort(port string) (int, error) {
	if port == "" || len(port) > 5 || !allDigits(port) {
		return 0, fmt.Errorf("invalid port %q", port)
	}
	n, _ := strconv.Atoi(port)
	if n < 1 || n > 65535 {
		return 0, fmt.Errorf("invalid port %q", port)
	}
	return n, nil
}

// isLoopback reports whether host (with an optional port) names this
// machine, the only place plain http is acceptable.
func isLoopback(hostport string) bool {
	name, _, _ := strings.Cut(hostport, ":")
	if name == "localhost" {
		return true
	}
	addr, err := netip.ParseAddr(name)
	return err == nil && addr.IsLoopback()
}

// checkName checks an owner or repository name: [A-Za-z0-9._-], not
// starting with "." (which also rules out "." and "..").
func checkName(what, s string) error {
	if s == "" {
		return fmt.Errorf("%s is empty", what)
	}
	if len(s) > 100 {
		return fmt.Errorf("%s is longer than 100 characters", what)
	}
	if s[0] == '.' {
		return fmt.Errorf("%s %q must not start with '.'", what, s)
	}
	for i := 0; i < len(s); i++ {
		if !nameChar(s[i]) {
			return fmt.Errorf("%s %q contains %q; want letters, digits, '.', '_' and '-'", what, s, s[i])
		}
	}
	return nil
}

// checkRef checks the ref of a /tree/<ref> URL. It is handed to git, so it
// must not look like an option or a path escape.
func checkRef(ref string) error {
	if ref == "" {
		return errors.New("missing ref after /tree")
	}
	if ref[0] == '-' || ref[0] == '.' {
		return fmt.Errorf("ref %q must not start with '-' or '.'", ref)
	}
	for i := 0; i < len(ref); i++ {
		if c := ref[i]; !nameChar(c) && c != '+' {
			return fmt.Errorf("ref %q contains %q; want letters, digits, '.', '_', '+' and '-'", ref, c)
		}
	}
	return nil
}

// checkPath checks the folder of a /tree/<ref>/<path> URL: relative, with
// no empty, "." or ".." segments, in the same characters as refs.
func checkPath(p string) error {
	if p == "" {
		return nil
	}
	for seg := range strings.SplitSeq(p, "/") {
		switch seg {
		case "":
			return fmt.Errorf("path %q has an empty segment", p)
		case ".", "..":
			return fmt.Errorf("path %q has a %q segment", p, seg)
		}
		for i := 0; i < len(seg); i++ {
			if c := seg[i]; !nameChar(c) && c != '+' && c != '@' {
				return fmt.Errorf("path %q contains %q; want letters, digits, '.', '_', '+', '@' and '-'", p, c)
			}
		}
	}
	return nil
}

func nameChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-'
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// redact hides user info in raw, so that a refused URL's credentials do
// not reach logs through the error message.
func redact(raw string) string {
	prefix, rest := "", raw
	if i := strings.Index(raw, "://"); i >= 0 {
		prefix, rest = raw[:i+3], raw[i+3:]
	}
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	if at := strings.LastIndex(rest[:end], "@"); at >= 0 {
		return prefix + "***" + rest[at:]
	}
	return raw
}

// trimGit drops one trailing ".git", in any case, as git hosts do.
func trimGit(name string) string {
	if len(name) >= 4 && strings.EqualFold(name[len(name)-4:], ".git") {
		return name[:len(name)-4]
	}
	return name
}
