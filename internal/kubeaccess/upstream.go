package kubeaccess

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/kubestellar/ksplugins/sdk/kubeconfig"
)

// tokenRefresh is how long a token read from a file is used before the file
// is read again, as client-go does for a service account's rotating token.
const tokenRefresh = time.Minute

// Upstream is the API server of one kubeconfig context, reached with the
// host's credentials from that context. One Upstream serves every plugin
// granted the context, so that they share its connections.
type Upstream struct {
	context   string
	server    *url.URL
	transport *http.Transport
	// external: a cluster a caller brought (NewExternalUpstream), not one
	// of the host's kubeconfig.
	external bool

	token    string
	tokens   *fileToken // when the token is read from a file
	username string
	password string
	// The kubeconfig's own impersonation (as, as-uid, as-groups,
	// as-user-extra); replaced by the plugin's identity when a handler
	// impersonates.
	impersonate impersonation
}

// impersonation is an identity for the API server to act as.
type impersonation struct {
	user, uid string
	groups    []string
	extra     map[string][]string
}

// NewUpstream prepares requests to the API server of c, a context of the
// host's own kubeconfig (kubeconfig.ParseTrusted), with its user's
// credentials: a client certificate, a bearer token (inline or a file read
// again as it rotates) or a username and password. It dials the server
// directly or through the proxy of the host's environment (HTTPS_PROXY), as
// client-go would.
func NewUpstream(c kubeconfig.Context) (*Upstream, error) {
	return newUpstream(c.Name, c, false)
}

// NewExternalUpstream prepares requests to the API server of c, a context of
// a kubeconfig a caller brought (kubeconfig.Parse), under name, the context
// name the plugin is given for it. Nothing is read from the host: the
// trust, the client certificate and the bearer token or basic credentials
// all come from c itself, and a token file, which only the host's own
// kubeconfig may name, is refused. It dials the server directly, never
// through a proxy (of the host's environment or of the kubeconfig's
// choosing), so that the address it dials is the one it checked: a server
// in one of the denied networks is refused, a literal address here (as a
// *kubeconfig.RefusedError naming the cluster's server), a name when it
// resolves into one.
func NewExternalUpstream(name string, c kubeconfig.Context, denied []netip.Prefix) (*Upstream, error) {
	if c.User.TokenFile != "" {
		return nil, fmt.Errorf("context %s: a token file is read only for the host's own kubeconfig, not for a cluster a caller brought", c.Name)
	}
	u, err := newUpstream(name, c, true)
	if err != nil {
		return nil, err
	}
	if ip, err := netip.ParseAddr(u.server.Hostname()); err == nil {
		if err := deniedNetwork(denied, ip); err != nil {
			u.Close()
			return nil, &kubeconfig.RefusedError{Field: fmt.Sprintf("clusters[%q].cluster.server", c.Cluster.Name), Reason: err.Error()}
		}
	}
	dialer := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second,
		// Checked on the address actually dialed, after name resolution:
		// a name that resolves into a denied network is refused too.
		Control: func(_, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("dial %s: %w", address, err)
			}
			return deniedNetwork(denied, ap.Addr())
		},
	}
	u.transport.Proxy = nil
	u.transport.DialContext = dialer.DialContext
	return u, nil
}

// deniedNetwork refuses ip when one of denied holds it.
func deniedNetwork(denied []netip.Prefix, ip netip.Addr) error {
	ip = ip.Unmap()
	for _, n := range denied {
		if n.Contains(ip) {
			return fmt.Errorf("the address %s is in %s, a network the host does not reach for clusters a caller brings (kubernetes.external_denied_networks)", ip, n)
		}
	}
	return nil
}

func newUpstream(name string, c kubeconfig.Context, external bool) (*Upstream, error) {
	server, err := url.Parse(c.Cluster.Server)
	if err != nil || server.Host == "" || (server.Scheme != "https" && server.Scheme != "http") {
		return nil, fmt.Errorf("context %s: server %q is not an http or https URL", c.Name, c.Cluster.Server)
	}
	tlsConfig := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         c.Cluster.TLSServerName,
		InsecureSkipVerify: c.Cluster.InsecureSkipTLSVerify, // the administrator's own kubeconfig asks for it
	}
	if len(c.Cluster.CAData) > 0 {
		tlsConfig.RootCAs = x509.NewCertPool()
		if !tlsConfig.RootCAs.AppendCertsFromPEM(c.Cluster.CAData) {
			return nil, fmt.Errorf("context %s: the certificate authority holds no PEM certificate", c.Name)
		}
	}
	if len(c.User.ClientCertData) > 0 {
		pair, err := tls.X509KeyPair(c.User.ClientCertData, c.User.ClientKeyData)
		if err != nil {
			return nil, fmt.Errorf("context %s: client certificate: %w", c.Name, err)
		}
		tlsConfig.Certificates = []tls.Certificate{pair}
	}
	u := &Upstream{
		context:  name,
		server:   server,
		external: external,
		transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSClientConfig:       tlsConfig,
			TLSHandshakeTimeout:   10 * time.Second,
			ForceAttemptHTTP2:     true,
			MaxIdleConnsPerHost:   32,
			IdleConnTimeout:       90 * time.Second,
			ExpectContinueTimeout: time.Second,
			// The plugin's own Accept-Encoding is passed on; the host
			// neither asks for compression nor undoes it.
			DisableCompression: true,
		},
		token:    c.User.Token,
		username: c.User.Username,
		password: c.User.Password,
		impersonate: impersonation{
			user: c.User.Impersonate, uid: c.User.ImpersonateUID,
			groups: c.User.ImpersonateGroups, extra: c.User.ImpersonateExtra,
		},
	}
	if c.User.Token == "" && c.User.TokenFile != "" {
		u.tokens = &fileToken{path: c.User.TokenFile}
		if _, err := u.tokens.get(time.Now()); err != nil {
			return nil, fmt.Errorf("context %s: %w", c.Name, err)
		}
	}
	return u, nil
}

// Context is the name of the kubeconfig context u reaches.
func (u *Upstream) Context() string { return u.context }

// Close closes u's idle connections. Requests under way go on.
func (u *Upstream) Close() { u.transport.CloseIdleConnections() }

// authorize sets the host's credentials on an outgoing request's header.
func (u *Upstream) authorize(h http.Header) error {
	switch {
	case u.token != "":
		h.Set("Authorization", "Bearer "+u.token)
	case u.tokens != nil:
		t, err := u.tokens.get(time.Now())
		if err != nil {
			return fmt.Errorf("context %s: %w", u.context, err)
		}
		h.Set("Authorization", "Bearer "+t)
	case u.username != "" || u.password != "":
		r := http.Request{Header: h}
		r.SetBasicAuth(u.username, u.password)
	}
	return nil
}

// set writes the impersonation headers of id, if it names a user.
func (id impersonation) set(h http.Header) {
	if id.user == "" {
		return
	}
	h.Set("Impersonate-User", id.user)
	if id.uid != "" {
		h.Set("Impersonate-Uid", id.uid)
	}
	for _, g := range id.groups {
		h.Add("Impersonate-Group", g)
	}
	for k, vs := range id.extra {
		for _, v := range vs {
			// client-go escapes the key so that any character survives a header name.
			h.Add("Impersonate-Extra-"+url.PathEscape(k), v)
		}
	}
}

// fileToken is a bearer token read from a file and read again after
// tokenRefresh, so that a rotated token is picked up; if a later read
// fails, the last token read is used.
type fileToken struct {
	path string

	mu     sync.Mutex
	token  string
	readAt time.Time
}

func (f *fileToken) get(now time.Time) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.token != "" && now.Sub(f.readAt) < tokenRefresh {
		return f.token, nil
	}
	data, err := os.ReadFile(f.path)
	token := strings.TrimSpace(string(data))
	if err == nil && token == "" {
		err = errors.New("empty")
	}
	if err != nil {
		if f.token != "" {
			return f.token, nil
		}
		return "", fmt.Errorf("read the token file: %w", err)
	}
	f.token, f.readAt = token, now
	return token, nil
}
