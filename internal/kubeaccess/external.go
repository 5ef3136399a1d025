package kubeaccess

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"sync"

	"github.com/kubestellar/ksplugins/sdk/kubeconfig"
)

// ExternalPrefix starts the context name of every cluster a caller brought:
// "external-" and random hex.
const ExternalPrefix = "external-"

// DefaultMaxExternal is how many clusters callers brought one plugin
// instance keeps at once, when NewExternals is given no bound.
const DefaultMaxExternal = 32

// ErrExternalsClosed is returned by Externals.Add once the instance that
// held them has stopped.
var ErrExternalsClosed = errors.New("the plugin instance has stopped; its external clusters are released")

// Externals are the clusters callers brought to one instance of a plugin
// (sdk.Kubernetes.External), each reachable under a context name of its
// own, served with the plugin's granted rules like the host's contexts. At
// most a bound of them are kept; adding one more releases the one least
// recently used, closing its idle connections. Close releases them all.
type Externals struct {
	opts   Options
	limits ExternalLimits

	mu       sync.Mutex
	closed   bool
	tick     uint64 // bumped on each use, for least-recently-used
	byName   map[string]*external
	byDigest map[[sha256.Size]byte]*external
}

type external struct {
	name    string
	digest  [sha256.Size]byte
	up      *Upstream
	handler http.Handler
	used    uint64
}

// ExternalLimits bound the clusters callers bring to one plugin instance.
type ExternalLimits struct {
	// Max is how many are kept at once; DefaultMaxExternal when < 1.
	Max int
	// Denied returns the networks their API servers may not be in, read
	// at each Add so that a change applies to the next cluster brought. A
	// caller's kubeconfig, or a plugin that makes one up, chooses the
	// address the host dials, so without this a plugin could have the host
	// fetch the discovery paths of services only the host can reach: its
	// own loopback, a cloud's metadata address. Nil denies none.
	Denied func() []netip.Prefix
}

// NewExternals returns an empty set of external clusters for the plugin of
// opts, within limits. opts.Impersonate is ignored: the plugin's identity
// is a user of the host's clusters, not of a caller's.
func NewExternals(opts Options, limits ExternalLimits) *Externals {
	if limits.Max < 1 {
		limits.Max = DefaultMaxExternal
	}
	opts.Impersonate = false
	return &Externals{opts: opts, limits: limits, byName: map[string]*external{}, byDigest: map[[sha256.Size]byte]*external{}}
}

// Add makes the cluster of c, a context of a kubeconfig a caller brought
// (kubeconfig.Parse), reachable and returns its context name. The same
// context added again, while it is kept, gets the same name.
func (e *Externals) Add(c kubeconfig.Context) (string, error) {
	digest, err := digestOf(c)
	if err != nil {
		return "", err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return "", ErrExternalsClosed
	}
	e.tick++
	if x := e.byDigest[digest]; x != nil {
		x.used = e.tick
		return x.name, nil
	}
	name, err := newExternalName()
	if err != nil {
		return "", err
	}
	var denied []netip.Prefix
	if e.limits.Denied != nil {
		denied = e.limits.Denied()
	}
	up, err := NewExternalUpstream(name, c, denied)
	if err != nil {
		return "", err
	}
	if len(e.byName) >= e.limits.Max {
		e.evictLocked()
	}
	x := &external{name: name, digest: digest, up: up, handler: up.Handler(e.opts), used: e.tick}
	e.byName[name], e.byDigest[digest] = x, x
	return name, nil
}

// evictLocked releases the least recently used cluster.
func (e *Externals) evictLocked() {
	var oldest *external
	for _, x := range e.byName {
		if oldest == nil || x.used < oldest.used {
			oldest = x
		}
	}
	if oldest != nil {
		e.releaseLocked(oldest)
	}
}

func (e *Externals) releaseLocked(x *external) {
	delete(e.byName, x.name)
	delete(e.byDigest, x.digest)
	x.up.Close()
}

// Handler serves the cluster named name, looked up at each request, so
// that a transport kept past the cluster's release is refused like a
// context never granted (Refuse) rather than served.
func (e *Externals) Handler(name string) http.Handler {
	refuse := Refuse(name, e.refusalOptions(name))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h := e.lookup(name); h != nil {
			h.ServeHTTP(w, r)
			return
		}
		refuse.ServeHTTP(w, r)
	})
}

// refusalOptions are e's options for refusing name; a name of
// ExternalPrefix's form is reported as external, so that a released
// cluster's name does not become a metric label either.
func (e *Externals) refusalOptions(name string) Options {
	opts := e.opts
	if report := opts.Report; report != nil && strings.HasPrefix(name, ExternalPrefix) {
		opts.Report = func(d Decision) {
			d.External = true
			report(d)
		}
	}
	return opts
}

func (e *Externals) lookup(name string) http.Handler {
	e.mu.Lock()
	defer e.mu.Unlock()
	x := e.byName[name]
	if x == nil {
		return nil
	}
	e.tick++
	x.used = e.tick
	return x.handler
}

// Len is how many clusters e keeps.
func (e *Externals) Len() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.byName)
}

// Close releases every cluster and refuses later ones. Requests under way
// go on.
func (e *Externals) Close() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.closed = true
	for _, x := range e.byName {
		e.releaseLocked(x)
	}
}

// digestOf identifies a context by everything that reaching it uses, so
// that the same cluster and credentials brought twice share one upstream.
func digestOf(c kubeconfig.Context) ([sha256.Size]byte, error) {
	b, err := json.Marshal(c)
	if err != nil {
		return [sha256.Size]byte{}, fmt.Errorf("digest the context: %w", err)
	}
	return sha256.Sum256(b), nil
}

// newExternalName is a context name no plugin can guess or reuse from
// another instance.
func newExternalName() (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("name an external cluster: %w", err)
	}
	return ExternalPrefix + hex.EncodeToString(b[:]), nil
}
